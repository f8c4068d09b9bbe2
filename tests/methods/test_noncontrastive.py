"""BYOL, SimSiam, Barlow Twins, VICReg: build, encode, learn; BYOL's target moves only by the EMA."""
import pytest
import torch

from tests.methods.test_contrastive import TINY, assert_learns, make, shapes

NON_CONTRASTIVE = ["byol", "simsiam", "barlow_twins", "vicreg"]


@pytest.mark.parametrize("name", NON_CONTRASTIVE)
def test_method_builds_and_encodes_to_code_dim(name):
    m = make(name)
    x = shapes(8)
    loss, logs = m.loss(x)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert all(isinstance(v, float) for v in logs.values())
    assert m.views(x).shape == (16, 1, 16, 16)  # two views per image (for sslpipe bench)
    m.eval()
    assert m.encode(x).shape == (8, TINY.code_dim)


@pytest.mark.parametrize("name", NON_CONTRASTIVE)
def test_short_run_lowers_the_loss(name):
    assert_learns(make(name), shapes(32))


def test_byol_target_has_no_gradient_and_moves_exactly_by_the_ema():
    m = make("byol", momentum=0.8)
    target = list(m.target_encoder.parameters()) + list(m.target_projector.parameters())
    assert all(not p.requires_grad for p in target)
    assert not {id(p) for p in target} & {id(p) for p in m.optim_parameters()}
    before = [p.clone() for p in target]
    opt = torch.optim.SGD(m.optim_parameters(), lr=0.1)
    loss, _ = m.loss(shapes(16))
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert all(p.grad is None for p in target) and all(torch.equal(p, b) for p, b in zip(target, before))
    online = [p.detach().clone() for p in list(m.encoder.parameters()) + list(m.projector.parameters())]
    m.on_step_end(0)
    for p, b, o in zip(target, before, online):
        assert torch.allclose(p, 0.8 * b + 0.2 * o, atol=1e-7)


def test_simsiam_gradient_flows_only_through_the_predictor_branch():
    m = make("simsiam")
    x = shapes(16)
    z = m.embed(m.augment(torch.cat([x, x])))
    z.retain_grad()
    p = m.predictor(z)
    z1, z2 = z.chunk(2)
    p1, p2 = p.chunk(2)
    from sslpipe.losses import negative_cosine

    loss = (negative_cosine(p1, z2) + negative_cosine(p2, z1)) / 2
    loss.backward()
    # z gets gradient only via the predictor: zeroing the predictor's weights cuts it
    assert z.grad is not None and z.grad.abs().sum() > 0
    m.zero_grad()
    with torch.no_grad():
        for mod in m.predictor:
            if isinstance(mod, torch.nn.Linear):
                mod.weight.zero_()
    z = m.embed(m.augment(torch.cat([x, x])))
    z.retain_grad()
    p1, p2 = m.predictor(z).chunk(2)
    z1, z2 = z.chunk(2)
    ((negative_cosine(p1, z2) + negative_cosine(p2, z1)) / 2).backward()
    assert z.grad.abs().sum() == 0


def test_vicreg_logs_its_three_terms():
    _, logs = make("vicreg").loss(shapes(16))
    assert set(logs) == {"invariance", "variance", "covariance"}
