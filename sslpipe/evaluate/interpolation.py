r"""Do decoded linear interpolations stay on the data manifold? ("the latent space is convex")

For a model with a decoder, encode pairs of held-out images, decode the midpoint of their
codes and ask how far it lies from the nearest real image, relative to how far real images
lie from each other.  Distances are Euclidean on pixels in [0, 1].  The images are split in
two: a ``reference`` set (the first half by default) that stands for the manifold, and the
pairs, drawn from the rest, so no midpoint is compared with its own endpoints.

Returned keys (medians over images):

- ``interp/real_nn``: distance from each reference image to its nearest other reference image.
- ``interp/midpoint_nn``: distance from each decoded midpoint to its nearest reference image.
- ``interp/recon_nn``: the same for reconstructions decode(encode(x)) of the endpoints.
- ``interp/pixel_nn``: the same for pixel-space midpoints (x_a + x_b) / 2 (no model).
- ``interp/manifold_ratio`` = midpoint_nn / real_nn: about 1 when midpoints look like real
  images; the larger, the further off the manifold.
- ``interp/recon_ratio`` = midpoint_nn / recon_nn: about 1 when midpoints are no worse than
  the decoder's own reconstructions (separates interpolation from decoder blur).
- ``interp/pixel_ratio`` = pixel_nn / real_nn: the ratio of straight pixel blending (a ghosted
  double image), the reference a useful latent space should beat.

Each comes with ``/se`` and a 95% percentile interval from a bootstrap over the reference
images and, independently, the pairs (the nearest-neighbour distances kept).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.schema import check, positive
from ..plots.decoders import as_float_images, evaluating
from .base import EvalContext, metric
from .uncertainty import rng_for, summarize


def nearest_distances(queries: np.ndarray, reference: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    """Euclidean distance from each flattened query to its nearest reference row.

    ``exclude_self``: the queries are the reference; skip each point's zero distance to itself.
    """
    from sklearn.neighbors import NearestNeighbors

    queries = queries.reshape(len(queries), -1)
    nn = NearestNeighbors(n_neighbors=2 if exclude_self else 1).fit(reference.reshape(len(reference), -1))
    dist, _ = nn.kneighbors(queries)
    return dist[:, -1]


def _ratios(real: np.ndarray, mid: np.ndarray, rec: np.ndarray, pix: np.ndarray) -> dict[str, np.ndarray]:
    """The keys of this module from nearest distances, medians over the last axis."""
    real, mid, rec, pix = (np.median(d, axis=-1) for d in (real, mid, rec, pix))
    eps = 1e-12
    return {
        "interp/real_nn": real,
        "interp/midpoint_nn": mid,
        "interp/recon_nn": rec,
        "interp/pixel_nn": pix,
        "interp/manifold_ratio": mid / np.maximum(real, eps),
        "interp/recon_ratio": mid / np.maximum(rec, eps),
        "interp/pixel_ratio": pix / np.maximum(real, eps),
    }


def manifold_ratios(midpoints: np.ndarray, reconstructions: np.ndarray, pixel_midpoints: np.ndarray, reference: np.ndarray,
                    n_boot: int = 0, seed: int = 0) -> dict[str, float]:
    """The metrics of this module from arrays of images in [0, 1] (see the module docstring)."""
    real = nearest_distances(reference, reference, exclude_self=True)
    pairs = np.stack([nearest_distances(x, reference) for x in (midpoints, reconstructions, pixel_midpoints)])
    values = {k: float(v) for k, v in _ratios(real, *pairs).items()}
    if not n_boot:
        return values
    rng = rng_for(seed, "interpolation")
    ri = rng.integers(0, len(real), (n_boot, len(real)))
    pi = rng.integers(0, pairs.shape[1], (n_boot, pairs.shape[1]))
    reps = _ratios(real[ri], *pairs[:, pi])
    return {k: v for key in values for k, v in summarize(key, values[key], reps[key]).items()}


def interpolation_metrics(method, images, *, n_pairs: int = 500, n_reference: int | None = None, seed: int = 0,
                          batch_size: int = 512, device=None, n_boot: int = 0) -> dict[str, float]:
    """Decode midpoints between encoded image pairs and measure their distance to real images.

    ``method`` needs ``encode`` and ``decode``; ``images`` are held-out images (uint8 or float in
    [0, 1], [N, C, R, R]); the first ``n_reference`` (default N // 2) form the reference set and
    ``n_pairs`` random pairs of distinct images are drawn from the rest with ``seed``.
    """
    import torch

    n = len(images)
    n_reference = n // 2 if n_reference is None else n_reference
    if n_reference < 2 or n - n_reference < 2:
        raise ValueError(f"need at least 2 reference and 2 pair images, got {n} images and n_reference={n_reference}")
    x = as_float_images(images).numpy()
    reference, pool = x[:n_reference], x[n_reference:]
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(pool), n_pairs)
    b = (a + rng.integers(1, len(pool), n_pairs)) % len(pool)  # b != a
    device = device or next(iter(method.state_dict().values()), torch.empty(0)).device

    def run(fn, inputs: np.ndarray) -> np.ndarray:
        return np.concatenate([fn(torch.from_numpy(inputs[i:i + batch_size]).to(device)).float().cpu().numpy()
                               for i in range(0, len(inputs), batch_size)])

    with evaluating(method):
        za, zb = run(method.encode, pool[a]), run(method.encode, pool[b])
        midpoints = run(method.decode, 0.5 * (za + zb))
        recon = run(method.decode, za)
    return manifold_ratios(midpoints, recon, 0.5 * (pool[a] + pool[b]), reference, n_boot=n_boot, seed=seed)


@dataclass
class InterpolationParams:
    images: int = check(1000, positive, help="held-out test images read (half reference, half pair endpoints).")
    n_pairs: int = check(300, positive, help="image pairs whose decoded midpoints are measured.")


@metric("interpolation", Params=InterpolationParams, keys="interp/* (see above)", paper="the convexity check of a latent space",
        applies=lambda ctx: ctx.method is not None and ctx.method.has_decoder, columns=("interp/manifold_ratio",))
def interpolation(ctx: EvalContext, p: InterpolationParams) -> dict[str, float]:
    """Decoded midpoints of encoded test pairs against real images (models with a decoder)."""
    from ..data.loader import load_split

    images, _ = load_split(ctx.shard_dir, ctx.manifest, "test", limit=p.images)
    return interpolation_metrics(ctx.method, images, n_pairs=p.n_pairs, seed=ctx.seed, device=ctx.device, n_boot=ctx.n_boot)
