"""Label propagation: a loop reference, the J score, and the stored masks' own features giving J = 1."""
import math

import numpy as np
import pytest
import torch

from sslpipe.core.schema import build
from sslpipe.data.sources import SOURCES
from sslpipe.evaluate.propagation import (PropagationParams, copy_first_masks, masks_clip_j, one_hot_masks, pixel_features, propagate,
                                          propagation_j, region_similarity)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (tests/conftest.py)


@pytest.fixture(scope="module")
def clips():
    cls = SOURCES.get("movingsprites")
    s = cls(build(cls.Params, {"n_val": 16, "max_objects": 3, "resolution": 16}, "data.movingsprites"), 0).split("val")
    return s.images, s.arrays["masks"]


def _loop_propagate(feats, first, p):
    """Frame by frame, location by location: the documented algorithm without vectorisation."""
    t_len, d, h, w = feats.shape
    f = torch.nn.functional.normalize(feats.flatten(2).transpose(1, 2), dim=-1).double().numpy()
    labels = [first.flatten(1).T.double().numpy()]
    for t in range(1, t_len):
        ctx = sorted({0, *range(max(0, t - p.context), t)})
        out = np.zeros((h * w, first.shape[0]))
        for i in range(h * w):
            cand = []
            for c in ctx:
                for j in range(h * w):
                    dist = math.hypot(i // w - j // w, i % w - j % w)
                    if p.radius is None or dist <= p.radius:
                        cand.append((float(f[t, i] @ f[c, j]) - 1.0, c, j))  # -0.5 |fi - fj|^2 of unit vectors
            cand.sort(key=lambda x: -x[0])
            top = cand[: p.topk]
            s = np.array([x[0] for x in top]) / p.temperature
            wgt = np.exp(s - s.max())
            wgt /= wgt.sum()
            for wi, (_, c, j) in zip(wgt, top):
                out[i] += wi * labels[c][j]
        labels.append(out)
    return np.stack(labels).transpose(0, 2, 1).reshape(t_len, -1, h, w)


@pytest.mark.parametrize("radius", [None, 1.5])
def test_propagate_matches_a_loop_reference(radius):
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(4, 3, 5, 5, generator=g)
    first = one_hot_masks(torch.randint(0, 3, (5, 5), generator=g), 3)
    p = PropagationParams(topk=4, temperature=0.3, radius=radius, context=1)
    got = propagate(feats, first, p).double().numpy()
    assert np.allclose(got, _loop_propagate(feats, first, p), atol=1e-5)


def test_region_similarity_known_cases():
    truth = np.zeros((3, 4, 4), int)
    truth[:, :2, :2] = 1
    assert region_similarity(truth, truth) == 1.0
    assert region_similarity(np.zeros_like(truth), truth) == 0.0
    half = truth.copy()
    half[1:, :2, 1] = 0  # frames 1, 2: 2 of 4 pixels
    assert math.isclose(region_similarity(half, truth), 0.5)


def test_the_masks_own_features_propagate_perfectly(clips):
    images, masks = clips
    n_labels = int(masks.max()) + 1
    own = lambda m: lambda frames: one_hot_masks(torch.from_numpy(m), n_labels)  # noqa: E731
    p = PropagationParams(topk=5, temperature=0.01, radius=None, stride=1)
    scores = []
    for x, m in zip(images, masks):
        scores.append(propagation_j(own(m), x[None], m[None], p, n_labels=n_labels))
    assert np.allclose(scores, 1.0)
    assert np.allclose(masks_clip_j(masks, p), scores)  # the j_masks baseline is that propagation
    # the same features limited to a radius smaller than the motion lose objects
    tight = PropagationParams(topk=5, temperature=0.01, radius=0.5, context=0, stride=1)
    assert np.mean([propagation_j(own(m), x[None], m[None], tight, n_labels=n_labels) for x, m in zip(images, masks)]) < 0.9
    assert np.nanmean(masks_clip_j(masks, tight)) < 0.9


def test_the_masks_baseline_at_a_grid_equals_propagating_their_cell_fractions(clips):
    images, masks = clips
    n_labels = int(masks.max()) + 1
    p = PropagationParams(stride=2, radius=4.0)
    cells = lambda m: lambda frames: torch.nn.functional.avg_pool2d(one_hot_masks(torch.from_numpy(m), n_labels), 2)  # noqa: E731
    ref = [propagation_j(cells(m), x[None], m[None], p, normalize=False, n_labels=n_labels) for x, m in zip(images, masks)]
    got = masks_clip_j(masks, p, n_labels)
    assert np.allclose(got, ref) and np.nanmean(got) < 1.0  # the grid costs J even with perfect identity


def test_copy_baseline_is_perfect_only_without_motion(clips):
    _, masks = clips
    still = np.repeat(masks[:, :1], masks.shape[1], 1)
    assert copy_first_masks(still) == 1.0
    assert copy_first_masks(masks) < 0.7


def test_pixel_features_are_the_raw_pixels_of_each_cell():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    f = pixel_features(2)(x)
    assert f.shape == (2, 4, 2, 2) and torch.equal(f[0, :, 0, 0], torch.tensor([0.0, 1.0, 4.0, 5.0]))


def test_propagated_masks_and_their_figure(clips):
    from sslpipe.evaluate.propagation import propagate_masks
    from sslpipe.plots.video import propagation_figure

    images, masks = clips
    p = PropagationParams(stride=2, radius=4.0)
    pred = propagate_masks(pixel_features(2), images[:3], masks[:3], p, normalize=False)
    assert pred.shape == masks[:3].shape and np.array_equal(pred[:, 0], masks[:3, 0])
    assert math.isclose(np.mean([region_similarity(a, b) for a, b in zip(pred, masks[:3])]),
                        propagation_j(pixel_features(2), images[:3], masks[:3], p, normalize=False))
    fig = propagation_figure(images[:2], masks[:2], {"pixels": pred[:2]}, "movingsprites")
    assert len(fig.axes) == 2 * 3 * 8


def test_the_mean_j_comes_with_its_bootstrap_over_clips():
    from sslpipe.evaluate.propagation import mean_with_bootstrap

    const = mean_with_bootstrap("j", np.array([0.5, 0.5, np.nan, 0.5]), 100, 0)  # a clip without objects is left out
    assert const["j"] == 0.5 and const["j/se"] == 0.0
    v = np.random.default_rng(0).uniform(size=400)
    spread = mean_with_bootstrap("j", v, 400, 0)
    assert spread["j"] == pytest.approx(v.mean())
    assert spread["j/se"] == pytest.approx(v.std(ddof=1) / np.sqrt(len(v)), rel=0.15)  # the standard error of a mean
    assert spread["j/ci_low"] < spread["j"] < spread["j/ci_high"]
    assert mean_with_bootstrap("j", v, 0, 0) == {"j": pytest.approx(v.mean())}


def test_methods_with_an_embedding_head_are_also_tracked_with_it(clips):
    """cycle_walk's nodes (its location_map) give propagation/j_embedding; a method without that head has none."""
    from sslpipe.evaluate.propagation import propagation_metrics
    from tests.conftest import tiny_method

    images, masks = clips
    walk = tiny_method("cycle_walk", resolution=16, stride=2)
    assert walk.location_map(torch.rand(3, 1, 16, 16)).shape == (3, walk.params.embed_dim, 8, 8)
    p = PropagationParams(stride=2, clips=4)
    out = propagation_metrics(walk, images[:4], masks[:4], p)
    assert {"propagation/j", "propagation/j_embedding", "propagation/j_pixels", "propagation/j_masks", "propagation/j_copy"} == set(out)
    assert 0.0 <= out["propagation/j_embedding"] <= 1.0
    assert "propagation/j_embedding" not in propagation_metrics(tiny_method("arrow_of_time", resolution=16), images[:4], masks[:4], p)


def test_colorization_tracks_at_its_test_temperature(clips):
    """video_colorization's embedding propagates at its test_temperature (the paper's tracker), the backbone at the metric's."""
    import dataclasses

    from sslpipe.evaluate.propagation import clip_j, embedding_features, propagation_metrics
    from tests.conftest import tiny_method

    images, masks = clips
    colour = np.repeat(images[:3], 3, axis=2)  # grey clips as RGB (the method needs colour)
    m = tiny_method("video_colorization", resolution=16, stride=2, test_temperature=0.02).eval()
    p = PropagationParams(stride=2, temperature=0.5)
    n_labels = int(masks[:3].max()) + 1
    own = np.nanmean(clip_j(embedding_features(m), colour, masks[:3], dataclasses.replace(p, temperature=0.02), n_labels=n_labels))
    assert propagation_metrics(m, colour, masks[:3], p)["propagation/j_embedding"] == pytest.approx(own)
