"""Decoder figures: one panel per image, for any method with encode/decode, from uint8 or float images."""
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from sslpipe.core.schema import build
from sslpipe.models.backbones import BackboneConfig
from sslpipe.methods.base import METHODS, MethodContext
from sslpipe.plots.decoders import FIGURES, interpolations, latent_traversals, reconstructions

TINY = BackboneConfig(width=8, depth=2, code_dim=3)


def make(name: str, channels: int = 1):
    torch.manual_seed(0)
    cls = METHODS.get(name)
    return cls(build(cls.Params, {}, f"methods.{name}"), MethodContext(channels, 16, TINY))


def uint8_images(n: int = 8, channels: int = 1) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, channels, 16, 16), dtype=np.uint8)


def image_axes(fig: Figure) -> int:
    return sum(1 for ax in fig.axes if ax.images)


def test_traversals_have_one_panel_per_dimension_value_and_image():
    method = make("beta_vae")
    fig = latent_traversals(method, uint8_images(), values=[-2, 0, 2], n_images=2)
    assert isinstance(fig, Figure) and image_axes(fig) == 2 * 3 * 3
    assert image_axes(latent_traversals(method, uint8_images())) == 3 * 7


def test_traversal_centre_column_is_the_reconstruction():
    method = make("beta_vae").eval()
    fig = latent_traversals(method, uint8_images(1), values=[-1, 0, 1])
    x = torch.from_numpy(uint8_images(1)).float() / 255
    with torch.no_grad():
        recon = method.decode(method.encode(x))[0, 0].numpy()
    centre = [ax for ax in fig.axes if ax.images][1].images[0].get_array()
    np.testing.assert_allclose(np.asarray(centre), recon, atol=1e-6)


def test_reconstructions_show_inputs_above_outputs():
    fig = reconstructions(make("ae", channels=3), uint8_images(5, channels=3).astype(np.float32) / 255)
    assert image_axes(fig) == 2 * 5


def test_interpolations_have_endpoints_and_steps_per_pair():
    method = make("pca")
    method.fit(torch.rand(50, 1, 16, 16))
    fig = interpolations(method, uint8_images(7), n_pairs=4, steps=5)
    assert image_axes(fig) == 3 * (5 + 2)  # 7 images make 3 pairs


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figures_registry_is_callable_as_the_evaluate_stage_does(name, tmp_path):
    was_training = True
    method = make("vae").train(was_training)
    fig = FIGURES[name](method, uint8_images(16), device=torch.device("cpu"))
    fig.savefig(tmp_path / f"{name}.png")
    assert (tmp_path / f"{name}.png").stat().st_size > 0
    assert method.training  # the figure functions restore the mode
