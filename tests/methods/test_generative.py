"""Autoencoders and VAEs: the logged KL is the closed form, the decomposition adds up, short runs learn."""
import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from sslpipe.core.schema import build
from sslpipe.models.backbones import BackboneConfig
from sslpipe.methods.base import METHODS, MethodContext
from sslpipe.methods.generative import VAE, BetaVAE, FactorVAE

TINY = BackboneConfig(width=8, depth=2, code_dim=4)
VAES = ["vae", "beta_vae", "annealed_vae", "factor_vae", "beta_tcvae", "dip_vae"]


def blobs(n: int = 32, res: int = 16, seed: int = 0) -> torch.Tensor:
    """Grey squares of random size and position: a few factors for the codes to capture."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 1, res, res), np.float32)
    for i in range(n):
        s = int(rng.integers(3, 7))
        r, c = rng.integers(0, res - s, size=2)
        x[i, 0, r:r + s, c:c + s] = 1
    return torch.from_numpy(x)


SMALL = {"factor_vae": {"disc_hidden": 32, "disc_layers": 2}}  # keeps the tests fast


def make(name: str, **params):
    torch.manual_seed(0)
    params = {**SMALL.get(name, {}), **params}
    cls = METHODS.get(name)
    return cls(build(cls.Params, params, f"methods.{name}"), MethodContext(1, 16, TINY))


def train_losses(method, x, steps=30, lr=2e-3):
    """The shared loop's order: loss, backward, step, on_step_end."""
    torch.manual_seed(1)
    opt = torch.optim.Adam(method.optim_parameters(), lr=lr)
    out = []
    for step in range(steps):
        loss, logs = method.loss(x)
        assert all(isinstance(v, float) for v in logs.values()), logs
        opt.zero_grad()
        loss.backward()
        opt.step()
        method.on_step_end(step)
        out.append(loss.item())
    return out


@pytest.mark.parametrize("name", ["ae"] + VAES)
def test_short_run_lowers_the_loss(name):
    method = make(name)
    losses = train_losses(method, blobs())
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


@pytest.mark.parametrize("name", VAES)
def test_logged_kl_is_the_diagonal_gaussian_closed_form(name):
    method = make(name)
    x = blobs()
    train_losses(method, x, steps=3)  # away from the initial weights
    mu, logvar = method.posterior(x)
    q = Normal(mu, (0.5 * logvar).exp())
    expected = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1).mean()
    _, logs = method.loss(x)
    assert logs["kl"] == pytest.approx(expected.item(), rel=1e-5)
    assert {"recon", "kl", "active_units"} <= set(logs)


def test_beta_tcvae_logs_a_decomposition_that_sums_to_the_kl_estimate():
    _, logs = make("beta_tcvae", dataset_size=500).loss(blobs())
    assert logs["mi"] + logs["tc"] + logs["dim_kl"] == pytest.approx(logs["kl_sample"], abs=1e-3)


def test_vae_is_beta_vae_with_beta_one():
    assert issubclass(VAE, BetaVAE) and make("vae").beta == 1.0
    assert "beta" not in VAE.Params.__dataclass_fields__
    x = blobs()
    torch.manual_seed(3)
    loss_vae, _ = make("vae").loss(x)
    torch.manual_seed(3)
    loss_beta1, _ = make("beta_vae", beta=1.0).loss(x)
    torch.testing.assert_close(loss_vae, loss_beta1)


def test_beta_weights_the_kl():
    x = blobs()
    torch.manual_seed(3)
    loss, logs = make("beta_vae", beta=4.0).loss(x)
    assert loss.item() == pytest.approx(logs["recon"] + 4.0 * logs["kl"], rel=1e-5)


def test_kl_warmup_is_linear_in_the_step_and_checkpointed():
    method = make("beta_vae", kl_warmup=10)
    x = blobs()
    weights = []
    for step in range(12):
        loss, logs = method.loss(x)
        assert loss.item() == pytest.approx(logs["recon"] + logs["kl_weight"] * 4.0 * logs["kl"], rel=1e-5)
        weights.append(logs["kl_weight"])
        method.on_step_end(step)
    assert weights[:3] == pytest.approx([0.0, 0.1, 0.2]) and weights[10:] == [1.0, 1.0]
    restored = make("beta_vae", kl_warmup=10)
    restored.load_state_dict(method.state_dict())
    assert restored.warmup_weight() == 1.0


def test_annealed_capacity_rises_linearly_to_c_max():
    method = make("annealed_vae", c_max=20.0, capacity_steps=40, gamma=5.0)
    x = blobs()
    for step in range(10):
        method.on_step_end(step)
    assert method.capacity() == pytest.approx(5.0)
    torch.manual_seed(0)
    loss, logs = method.loss(x)
    assert logs["capacity"] == pytest.approx(5.0)
    assert loss.item() == pytest.approx(logs["recon"] + 5.0 * abs(logs["kl"] - 5.0), rel=1e-5)
    for step in range(100):
        method.on_step_end(step)
    assert method.capacity() == pytest.approx(20.0)


def test_dip_vae_lambda_d_defaults_per_variant():
    assert make("dip_vae", variant="i", lambda_od=2.0).lambda_d == 20.0
    assert make("dip_vae", variant="ii", lambda_od=2.0).lambda_d == 2.0
    assert make("dip_vae", lambda_d=3.0).lambda_d == 3.0


def test_factor_vae_discriminator_is_stepped_by_the_method_only():
    method: FactorVAE = make("factor_vae")
    disc = {id(p) for p in method.discriminator.parameters()}
    assert disc and not disc & {id(p) for p in method.optim_parameters()}
    before = [p.detach().clone() for p in method.discriminator.parameters()]
    opt = torch.optim.Adam(method.optim_parameters(), lr=1e-3)
    loss, _ = method.loss(blobs())
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert all(torch.equal(a, p) for a, p in zip(before, method.discriminator.parameters()))
    assert all(p.grad is None for p in method.discriminator.parameters())  # the VAE loss does not train D
    method.on_step_end(0)
    assert not all(torch.equal(a, p) for a, p in zip(before, method.discriminator.parameters()))
    _, logs = method.loss(blobs())
    assert {"tc", "disc_loss", "disc_accuracy"} <= set(logs)


def test_factor_vae_discriminator_detects_dependent_latents_and_checkpoints():
    method = make("factor_vae", disc_lr=3e-3)
    torch.manual_seed(0)
    a = torch.randn(256, 1)
    dependent = torch.cat([a, a, -a, a + 0.1 * torch.randn(256, 1)], 1)
    for step in range(100):
        method.train_auxiliary("discriminator", dependent)
        method.on_step_end(step)
    _, logs = method.discriminator_loss(dependent)
    assert logs["disc_accuracy"] > 0.8
    restored = make("factor_vae", disc_lr=3e-3)
    restored.load_state_dict(method.state_dict())
    restored.load_extra_state(method.extra_state())
    assert restored.auxiliaries["discriminator"].optimizer.state_dict()["state"][0]["step"] == 100


@pytest.mark.parametrize("name", ["ae", "beta_vae"])
def test_encode_is_deterministic_and_decode_gives_images(name):
    method = make(name).eval()
    x = blobs(8)
    z = method.encode(x)
    assert z.shape == (8, TINY.code_dim)
    torch.testing.assert_close(z, method.encode(x))
    images = method.decode(z)
    assert images.shape == x.shape and images.min() >= 0 and images.max() <= 1
    assert method.has_decoder
