"""The shared Kornia view pipeline: shapes, range, grey images, determinism, per-method defaults."""
import pytest
import torch

from sslpipe.augment import ViewConfig, build_views, rotations, standard_views, view_pair, views_with
from sslpipe.core.schema import build
from sslpipe.core.errors import ConfigError

EVERYTHING = ViewConfig(jitter_p=1.0, grayscale_p=1.0, blur_p=1.0, solarize_p=1.0, affine_p=1.0, degrees=90, translate=0.1)


@pytest.mark.parametrize("channels", [1, 3])
def test_views_keep_shape_and_range_on_grey_and_colour(channels):
    x = torch.rand(8, channels, 16, 16)
    y = build_views(EVERYTHING, channels, 16)(x)  # saturation/hue/grayscale would raise on grey
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= -1e-6 and y.max() <= 1 + 1e-6


def test_grey_pipeline_has_no_colour_only_ops():
    names = [type(m).__name__ for m in build_views(EVERYTHING, 1, 16).children()]
    assert "RandomGrayscale" not in names
    assert "RandomSolarize" in names and "RandomGaussianBlur" in names and "RandomAffine" in names


def test_affine_op_is_off_by_default():
    names = [type(m).__name__ for m in build_views(ViewConfig(), 1, 16).children()]
    assert "RandomAffine" not in names and "RandomResizedCrop" in names


def test_views_are_random_per_image_and_deterministic_for_a_seed():
    x = torch.rand(6, 1, 16, 16)
    aug = build_views(ViewConfig(), 1, 16)
    torch.manual_seed(0)
    a1, a2 = view_pair(aug, x)
    torch.manual_seed(0)
    b1, b2 = view_pair(aug, x)
    assert torch.equal(a1, b1) and torch.equal(a2, b2)
    assert not torch.allclose(a1, a2)  # two different views of each image


def test_identity_config_leaves_images_unchanged():
    x = torch.rand(4, 1, 16, 16)
    ident = ViewConfig(crop_scale=[1.0, 1.0], crop_ratio=[1.0, 1.0], flip_p=0.0, jitter_p=0.0, blur_p=0.0)
    assert torch.allclose(build_views(ident, 1, 16)(x), x, atol=1e-5)


def test_method_view_defaults_survive_a_partial_yaml_section():
    Views = views_with("NarrowViews", crop_scale=[0.6, 1.0], blur_p=0.0)
    cfg = build(Views, {"flip_p": 0.0}, "methods.m.views")
    assert cfg.crop_scale == [0.6, 1.0] and cfg.blur_p == 0.0 and cfg.flip_p == 0.0
    assert isinstance(cfg, ViewConfig)
    with pytest.raises(ConfigError, match="methods.m.views.blur_p"):
        build(Views, {"blur_p": 2.0}, "methods.m.views")
    with pytest.raises(TypeError):
        views_with("Bad", not_a_field=1)


@pytest.mark.parametrize(
    "bad, key",
    [({"crop_scale": [0.5, 0.2]}, "crop_scale"), ({"crop_ratio": [2.0, 1.0]}, "crop_ratio"), ({"blur_kernel": 4}, "blur_kernel")],
)
def test_invalid_view_ranges_name_the_key(bad, key):
    with pytest.raises(ConfigError, match=f"views.{key}"):
        build(ViewConfig, bad, "methods.m.views")


def test_standard_views_and_rotations_still_work():
    x = torch.rand(3, 3, 16, 16)
    assert standard_views(3, 16)(x).shape == x.shape
    views, labels = rotations(x)
    assert views.shape == (12, 3, 16, 16) and labels.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    assert torch.equal(views[3:6], torch.rot90(x, 1, dims=(2, 3)))
