"""Contrastive and metric-learning methods: build from params, train a little, MoCo's momentum and queue."""
import copy

import numpy as np
import pytest
import torch

from sslpipe.augment import ViewConfig
from sslpipe.core.schema import build
from sslpipe.models.backbones import BackboneConfig
from sslpipe.core.errors import ConfigError
from sslpipe.methods.base import METHODS, MethodContext
from sslpipe.methods.contrastive import FeatureQueue, MoCo

TINY = BackboneConfig(width=8, depth=2, code_dim=8)
NO_AUGMENT = {"crop_scale": [1.0, 1.0], "crop_ratio": [1.0, 1.0], "flip_p": 0.0, "jitter_p": 0.0, "blur_p": 0.0}


def shapes(n: int = 32, res: int = 16, seed: int = 0) -> torch.Tensor:
    """Grey images in [0, 1]: a square, a plus or a diagonal bar of random size at a random place."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 1, res, res), np.float32)
    for i in range(n):
        s = int(rng.integers(3, res // 2))
        r, c = rng.integers(0, res - s, size=2)
        kind = i % 3
        if kind == 0:
            x[i, 0, r:r + s, c:c + s] = 1
        elif kind == 1:
            x[i, 0, r + s // 2, c:c + s] = 1
            x[i, 0, r:r + s, c + s // 2] = 1
        else:
            for k in range(s):
                x[i, 0, r + k, c + k] = 1
    return torch.from_numpy(x)


def make(name: str, backbone: BackboneConfig = TINY, res: int = 16, **params):
    torch.manual_seed(0)
    cls = METHODS.get(name)
    return cls(build(cls.Params, params, f"methods.{name}"), MethodContext(1, res, backbone))


def train_losses(method, x, steps: int = 40, lr: float = 1e-3) -> list[float]:
    """The shared loop's order: loss, backward, step, on_step_end; ``x`` one batch or one per step."""
    torch.manual_seed(1)
    opt = torch.optim.Adam(method.optim_parameters(), lr=lr)
    losses = []
    for step in range(steps):
        loss, logs = method.loss(x[step] if isinstance(x, list) else x)
        assert all(isinstance(v, float) for v in logs.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        method.on_step_end(step)
        losses.append(loss.item())
    return losses


def assert_learns(method, x, steps=None, lr=1e-3):
    steps = steps or (len(x) if isinstance(x, list) else 40)
    losses = train_losses(method, x, steps, lr)
    assert np.isfinite(losses).all()
    first, last = np.mean(losses[2:7]), np.mean(losses[-5:])
    assert last < first, f"loss did not go down: {first:.4f} -> {last:.4f}"


CONTRASTIVE = ["simclr", "contrastive", "triplet", "lifted", "npair", "moco", "moco_v2"]


@pytest.mark.parametrize("name", CONTRASTIVE)
def test_method_builds_from_params_and_encodes_to_code_dim(name):
    m = make(name)
    x = shapes(8)
    loss, logs = m.loss(x)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert m.views(x).shape == (16, 1, 16, 16)  # two views per image (for sslpipe bench)
    m.eval()
    assert m.encode(x).shape == (8, TINY.code_dim)  # the backbone output is the representation
    assert isinstance(m.params.views, ViewConfig)


@pytest.mark.parametrize("name", CONTRASTIVE)
def test_short_run_lowers_the_loss(name):
    params = {"queue_size": 64} if name.startswith("moco") else {}
    assert_learns(make(name, **params), shapes(32))


@pytest.mark.parametrize("name", ["contrastive", "triplet", "lifted"])
def test_memory_bank_is_filled_after_the_step_with_detached_embeddings(name):
    m = make(name, memory_bank=48)
    assert m.bank is not None and m.bank.keys.shape == (48, m.params.proj_dim)
    assert "bank.keys" in m.state_dict()
    before = m.bank.keys.clone()
    x = shapes(8)
    loss, _ = m.loss(x)
    assert torch.equal(m.bank.keys, before)  # not during the loss
    pending = m.bank.pending.clone()
    assert not pending.requires_grad
    loss.backward()
    m.on_step_end(0)
    assert torch.equal(m.bank.keys[:16], pending) and torch.equal(m.bank.keys[16:], before[16:])



@pytest.mark.parametrize("name, params", [("contrastive", {}), ("lifted", {}), ("triplet", {"mining": "all"})])
def test_short_run_with_a_memory_bank_lowers_the_loss(name, params):
    # fresh images every step: a bank of the same images' old embeddings would hold false negatives
    assert_learns(make(name, memory_bank=48, **params), [shapes(32, seed=100 + s) for s in range(40)])


def test_bank_is_off_by_default_and_not_offered_to_npair():
    assert make("triplet").bank is None
    with pytest.raises(ConfigError, match="memory_bank"):
        make("npair", memory_bank=8)


def test_view_section_keeps_method_defaults_when_partly_given():
    v1 = make("moco").params.views
    v2 = make("moco_v2").params.views
    assert v1.blur_p == 0.0 and v2.blur_p > 0  # MoCo v2 adds blur
    assert make("moco_v2", views={"flip_p": 0.0}).params.views.blur_p == v2.blur_p


# --- MoCo ------------------------------------------------------------------------------
def test_feature_queue_is_first_in_first_out_with_wraparound():
    q = FeatureQueue(5, 2)
    a = torch.arange(6.0).view(3, 2)
    b = 10 + torch.arange(8.0).view(4, 2)
    q.push(a)
    assert torch.equal(q.keys[:3], a) and q.ptr.item() == 3
    old = q.keys[3:].clone()
    q.push(b)  # rows 3, 4, then wraps to 0, 1
    assert torch.equal(q.keys[3:], b[:2]) and torch.equal(q.keys[:2], b[2:]) and torch.equal(q.keys[2], a[2])
    assert q.ptr.item() == 2 and not torch.equal(q.keys[3:], old)
    q.push(100 + torch.arange(14.0).view(7, 2))  # more than the queue: only the newest 5 stay
    assert sorted(q.keys[:, 0].tolist()) == [104.0, 106.0, 108.0, 110.0, 112.0]


def test_moco_key_encoder_has_no_gradient_and_moves_exactly_by_the_ema():
    m = make("moco", momentum=0.9, queue_size=64)
    keys = list(m.key_encoder.parameters()) + list(m.key_projector.parameters())
    assert all(not p.requires_grad for p in keys)
    trained = {id(p) for p in m.optim_parameters()}
    assert not any(id(p) in trained for p in keys)
    opt = torch.optim.SGD(m.optim_parameters(), lr=0.1)
    key_before = [p.clone() for p in keys]
    loss, _ = m.loss(shapes(16))
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert all(p.grad is None for p in keys)
    assert all(torch.equal(p, b) for p, b in zip(keys, key_before))  # the optimizer step leaves them
    online = [p.detach().clone() for p in list(m.encoder.parameters()) + list(m.projector.parameters())]
    m.on_step_end(0)
    for p, before, q in zip(keys, key_before, online):
        assert torch.allclose(p, 0.9 * before + 0.1 * q, atol=1e-7)


def test_moco_queue_gets_the_key_encoder_outputs_after_the_step():
    m = make("moco", queue_size=40, shuffle_groups=1, views=NO_AUGMENT)
    x = shapes(16)
    key_net = torch.nn.Sequential(copy.deepcopy(m.key_encoder), copy.deepcopy(m.key_projector))
    with torch.no_grad():
        expected = torch.nn.functional.normalize(key_net(x), dim=1)
    before = m.queue.keys.clone()
    loss, _ = m.loss(x)
    assert torch.equal(m.queue.keys, before)  # the loss uses the queue as it was
    loss.backward()
    m.on_step_end(0)
    assert torch.allclose(m.queue.keys[:16], expected, atol=1e-6)
    assert torch.equal(m.queue.keys[16:], before[16:]) and m.queue.ptr.item() == 16
    for step in range(1, 3):  # FIFO over steps: 16 + 16 + 16 wraps around a queue of 40
        loss, _ = m.loss(x)
        loss.backward()
        m.on_step_end(step)
    assert m.queue.ptr.item() == 48 % 40
    assert not torch.equal(m.queue.keys[:8], expected[:8])  # overwritten by the third batch


def test_moco_queue_is_a_checkpointed_buffer():
    m = make("moco", queue_size=32)
    state = m.state_dict()
    assert "queue.keys" in state and "queue.ptr" in state and state["queue.keys"].shape == (32, m.params.proj_dim)
    m.queue.push(torch.ones(5, m.params.proj_dim))
    fresh = make("moco", queue_size=32)
    fresh.load_state_dict(m.state_dict())
    assert torch.equal(fresh.queue.keys, m.queue.keys) and fresh.queue.ptr.item() == 5


def test_moco_v2_has_an_mlp_head_and_v1_a_linear_one():
    assert isinstance(make("moco").projector, torch.nn.Linear)
    v2 = make("moco_v2").projector
    assert sum(isinstance(l, torch.nn.Linear) for l in v2) == 2
    assert issubclass(METHODS.get("moco_v2"), MoCo)
