"""Reconstruction methods: masks and corruption as specified, losses on the right pixels, the
adversarial discriminator's own optimizer, split halves, MAE's masked-patch loss; each loss decreases."""
import numpy as np
import pytest
import torch

from sslpipe.augment.grids import patchify
from sslpipe.core.schema import build
from sslpipe.models.backbones import BackboneConfig
from sslpipe.data.sources import SOURCES
from sslpipe.methods.base import METHODS, MethodContext
from sslpipe.methods.reconstruction import pixel_loss

from tests.conftest import assert_decreases

from .test_pretext import make, shapes, train_losses

TINY = BackboneConfig(width=8, depth=2, code_dim=8)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (tests/conftest.py)


def test_pixel_loss_averages_over_the_masked_pixels():
    torch.manual_seed(0)
    logits, target = torch.randn(2, 1, 4, 4), torch.rand(2, 1, 4, 4)
    m = (torch.rand(2, 1, 4, 4) > 0.5).float()
    ref = ((torch.sigmoid(logits) - target) ** 2)[m.bool()].mean()
    assert torch.isclose(pixel_loss(logits, target, "l2", m), ref)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")[m.bool()].mean()
    assert torch.isclose(pixel_loss(logits, target, "bce", m), bce)


# --- inpainting -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["central", "blocks", "region"])
def test_inpainting_hides_the_masked_part(kind):
    m = make("inpainting", mask=kind, fill=0.5)
    x = torch.rand(8, 1, 16, 16)
    torch.manual_seed(0)
    inp, mask = m.masked(x)
    assert mask.flatten(1).mean(1).min() >= 0.25 - 1e-6
    assert torch.equal(inp[mask.bool().expand_as(x)], torch.full((int(mask.sum()),), 0.5))
    assert torch.equal(inp[~mask.bool().expand_as(x)], x[~mask.bool().expand_as(x)])


def test_inpainting_loss_is_on_the_hidden_pixels():
    m = make("inpainting", mask="central", overlap=0).eval()  # batch norm in eval mode: one forward = another
    x = shapes(8)
    loss, logs = m.loss(x)
    inp, mask = m.masked(x)
    with torch.no_grad():
        logits = m.decoder(m.encoder(inp))
    assert torch.isclose(loss, pixel_loss(logits, x, "bce", mask))
    assert not torch.isclose(loss, pixel_loss(logits, x, "bce"))
    assert not m.has_decoder  # trained on the hidden pixels only: the code is not decoded


def test_inpainting_overlap_band_matches_a_loop_reference():
    m = make("inpainting", overlap=2, overlap_weight=10.0)
    hole = torch.zeros(1, 1, 12, 12)
    hole[0, 0, 5:7, 4:8] = 1
    hole[0, 0, 0, 11] = 1
    w = m.loss_weights(hole)[0, 0]
    for r in range(12):
        for c in range(12):
            near = hole[0, 0, max(0, r - 2):r + 3, max(0, c - 2):c + 3].max().item()  # Chebyshev distance <= 2
            expected = 1.0 if hole[0, 0, r, c] else 10.0 * near
            assert w[r, c].item() == expected, (r, c)
    assert torch.equal(make("inpainting", overlap=0).loss_weights(hole), hole)


def test_inpainting_learns():
    assert_decreases(train_losses(make("inpainting"), shapes(32), steps=40), factor=0.7)


def test_adversarial_discriminator_has_its_own_optimizer_and_checkpoint():
    m = make("inpainting", adversarial_weight=0.01)
    disc_ids = {id(p) for p in m.disc.parameters()}
    assert disc_ids and not disc_ids & {id(p) for p in m.optim_parameters()}
    x = shapes(16)
    before = [p.detach().clone() for p in m.disc.parameters()]
    losses = train_losses(m, x, steps=5)
    assert np.isfinite(losses).all()
    assert any(not torch.equal(b, p) for b, p in zip(before, m.disc.parameters()))  # stepped in on_step_end
    state = m.extra_state()
    assert state["disc_optimizer"]["state"]  # Adam moments to checkpoint
    fresh = make("inpainting", adversarial_weight=0.01)
    fresh.load_state_dict(m.state_dict())
    fresh.load_extra_state(state)
    assert fresh.auxiliaries["disc"].optimizer.state_dict()["state"][0]["step"] == 5
    assert "adversarial" in m.loss(x)[1]
    assert make("inpainting").extra_state() == {} and make("inpainting").disc is None


def test_discriminator_is_untouched_by_the_shared_optimizer():
    m = make("inpainting", adversarial_weight=0.5)
    opt = torch.optim.Adam(m.optim_parameters(), lr=1e-2)
    before = [p.detach().clone() for p in m.disc.parameters()]
    loss, _ = m.loss(shapes(8))
    opt.zero_grad()
    loss.backward()
    opt.step()  # no on_step_end: only the shared optimizer ran
    assert all(torch.equal(b, p) for b, p in zip(before, m.disc.parameters()))


# --- denoising autoencoder --------------------------------------------------------------
def test_denoising_corruptions():
    x = torch.ones(4, 3, 32, 32)
    m = make("denoising_ae", channels=3, res=32, noise="masking", noise_level=0.3)
    torch.manual_seed(0)
    y = m.corrupt(x)
    zeroed = (y == 0).all(1)  # masking zeroes whole pixels (all channels)
    assert ((y == 0) | (y == 1)).all() and abs(zeroed.float().mean().item() - 0.3) < 0.02
    m = make("denoising_ae", noise="gaussian", noise_level=0.2)
    d = m.corrupt(torch.zeros(64, 1, 16, 16))
    assert abs(d.std().item() - 0.2) < 0.01 and abs(d.mean().item()) < 0.01


def test_denoising_decodes_its_code_and_learns():
    m = make("denoising_ae")
    assert m.has_decoder
    x = shapes(32)
    assert_decreases(train_losses(m, x, steps=40), factor=0.7)
    m.eval()
    with torch.no_grad():
        out = m.decode(m.encode(x))
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1


# --- split brain ------------------------------------------------------------------------
def test_split_brain_halves_see_complementary_channels():
    cls = METHODS.get("split_brain")
    assert cls.needs_color and cls.incompatible(SOURCES.get("toy"), SOURCES.get("toy").Params())
    torch.manual_seed(0)
    m = cls(build(cls.Params, {}, "m"), MethodContext(3, 16, BackboneConfig(width=8, depth=2, code_dim=9))).eval()
    x = shapes(6, channels=3)
    z = m.encode(x)
    assert z.shape == (6, 9)  # 4 + 5: the halves add up to code_dim
    # same lightness, other colours: the L half is unchanged, the ab half moves
    from kornia.color import lab_to_rgb, rgb_to_lab

    lab = rgb_to_lab(x)
    lab2 = torch.cat([lab[:, :1], -lab[:, 1:]], 1)
    z2 = m.encode(lab_to_rgb(lab2).clamp(0, 1))
    assert torch.allclose(z[:, :4], z2[:, :4], atol=1e-3)
    assert not torch.allclose(z[:, 4:], z2[:, 4:], atol=1e-3)
    assert not m.has_decoder


@pytest.mark.parametrize("loss", ["classification", "regression"])
def test_split_brain_learns(loss):
    m = make("split_brain", channels=3, loss=loss)
    assert_decreases(train_losses(m, shapes(16, channels=3), steps=40), factor=0.8)


# --- MAE --------------------------------------------------------------------------------
def test_mae_loss_is_on_masked_patches_only():
    m = make("mae", res=16, mask_ratio=0.75, norm_pix_loss=False)
    x = shapes(4)
    enc = m.encoder
    torch.manual_seed(0)
    loss, logs = m.loss(x)
    # the same masking, recomputed by hand
    from sslpipe.augment.masks import random_token_mask

    torch.manual_seed(0)
    keep, restore, mask = random_token_mask(4, 64, 0.75)
    assert mask.sum() == 4 * 48
    tokens = enc.embed(x)
    visible = tokens.gather(1, keep[..., None].expand(-1, -1, tokens.shape[-1]))
    pred = m.decoder(enc.encode_tokens(visible), restore)
    err = ((pred - patchify(x, enc.patch_size)) ** 2).mean(-1)
    masked_mse = err[mask.bool()].mean()
    assert np.isclose(logs["masked_mse"], masked_mse.item(), atol=1e-6)
    pooled = enc.encode_tokens(visible).mean(1)
    projection = torch.nn.functional.mse_loss(m.unproject(enc.head(pooled)), pooled)
    assert torch.isclose(loss, masked_mse + projection, atol=1e-6)


def test_mae_projection_term_does_not_train_the_encoder():
    m = make("mae", res=16)
    x = shapes(4)
    weights = [m.encoder.patch_embed.weight, m.encoder.blocks[0].linear1.weight]
    torch.manual_seed(0)
    total, _ = m.loss(x)
    with_projection = torch.autograd.grad(total, weights + [m.encoder.head.weight])
    m.unproject.weight.data.zero_()
    m.unproject.bias.data.zero_()
    m.encoder.head.weight.data.zero_()  # projection term now constant in the encoder weights
    torch.manual_seed(0)
    masked_only, _ = m.loss(x)
    without = torch.autograd.grad(masked_only, weights)
    for a, b in zip(with_projection, without):
        assert torch.allclose(a, b, atol=1e-7)
    assert with_projection[2].abs().max() > 0  # ... it trains only the projection to the code


def test_mae_uses_the_vit_and_encodes_the_whole_image():
    from sslpipe.models.vit import TinyViT

    m = make("mae", res=16).eval()  # backbone.kind is conv: MAE still uses the ViT
    assert isinstance(m.encoder, TinyViT) and not m.has_decoder
    x = shapes(4)
    with torch.no_grad():
        assert torch.allclose(m.encode(x), m.encoder.pool(m.encoder.encode_tokens(m.encoder.embed(x))), atol=1e-6)
        assert m.encode(x).shape == (4, 8)


@pytest.mark.parametrize("norm_pix", [True, False])
def test_mae_learns(norm_pix):
    m = make("mae", res=16, norm_pix_loss=norm_pix)
    assert_decreases(train_losses(m, shapes(16), steps=40), factor=0.8)


def test_reconstruction_methods_are_registered_with_defaults():
    for name in ("inpainting", "denoising_ae", "split_brain", "mae"):
        cls = METHODS.get(name)
        p = build(cls.Params, {}, f"methods.{name}")
        assert cls.family == "reconstruction" and p.steps > 0
        ch = 3 if cls.needs_color else 1
        assert isinstance(make(name, channels=ch).views(shapes(4, channels=ch)), torch.Tensor)  # what `sslpipe bench` times


def test_runs_are_deterministic():
    for name, ch in (("inpainting", 1), ("mae", 1), ("split_brain", 3)):
        a = train_losses(make(name, channels=ch), shapes(8, channels=ch), steps=3)
        b = train_losses(make(name, channels=ch), shapes(8, channels=ch), steps=3)
        assert np.array_equal(a, b)
