"""What a decoder has learnt, as image grids: latent traversals, reconstructions, interpolations.

Each function takes a method with a decoder (``method.encode``/``method.decode``) and a few
images (uint8 in [0, 255] or float in [0, 1], [N, C, R, R], numpy or torch) and returns a
``matplotlib.figure.Figure`` (no pyplot state, no display: save it with ``fig.savefig``).
``FIGURES`` maps a file stem to each function, called as ``fn(method, images, device=...)``.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

TRAVERSAL_VALUES = tuple(np.linspace(-2.0, 2.0, 7))


def as_float_images(images, device: torch.device | str | None = None) -> torch.Tensor:
    """uint8 [0, 255] or float [0, 1] images (numpy or torch) -> float tensor in [0, 1] on ``device``."""
    t = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    t = t.float().div(255.0) if t.dtype == torch.uint8 else t.float()
    return t.to(device) if device is not None else t


def _device(method) -> torch.device:
    tensor = next(iter(method.state_dict().values()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


@contextmanager
def evaluating(method):
    """Eval mode (batch-norm running statistics) and no gradients, restoring the mode after."""
    was_training = method.training
    method.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        method.train(was_training)


def _show(ax, image: np.ndarray) -> None:
    """One [C, R, R] image in [0, 1] on an axis without ticks (grey for one channel)."""
    if image.shape[0] == 1:
        ax.imshow(image[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(np.clip(image.transpose(1, 2, 0), 0, 1), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def image_grid(grid: np.ndarray, row_labels=None, col_labels=None, title: str = "") -> Figure:
    """A Figure of a [rows, cols, C, R, R] image array, one axis (panel) per image."""
    from matplotlib.figure import Figure

    rows, cols = grid.shape[:2]
    fig = Figure(figsize=(0.9 * cols + 0.6, 0.9 * rows + 0.5))
    axes = fig.subplots(rows, cols, squeeze=False)
    for i in range(rows):
        for j in range(cols):
            _show(axes[i, j], grid[i, j])
        if row_labels is not None:
            axes[i, 0].set_ylabel(row_labels[i], fontsize=7, rotation=0, ha="right", va="center")
    if col_labels is not None:
        for j in range(cols):
            axes[0, j].set_title(col_labels[j], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(wspace=0.05, hspace=0.05, left=0.1, right=0.98, bottom=0.02, top=0.88 if title else 0.95)
    return fig


def latent_traversals(method, images, *, values=TRAVERSAL_VALUES, n_images: int = 1, device=None) -> Figure:
    """Each code dimension swept through ``values`` (offsets -2..2) around an image's code, decoded.

    Higgins et al. (2017), Fig. 1: one row per code dimension (per image), one column per
    value; the other dimensions stay at the image's code.  For a disentangled code each row
    changes one factor of the image.  Panels: n_images * D * len(values).
    """
    device = device or _device(method)
    x = as_float_images(images[:n_images], device)
    values = torch.tensor(np.asarray(values, dtype=np.float32), device=device)
    with evaluating(method):
        codes = method.encode(x)  # [n, D]
        n, d = codes.shape
        swept = codes[:, None, None, :].repeat(1, d, len(values), 1)  # [n, D, V, D]
        eye = torch.eye(d, device=device)[None, :, None, :]
        swept = swept + eye * values[None, None, :, None]
        decoded = method.decode(swept.reshape(-1, d)).float().cpu().numpy()
    grid = decoded.reshape(n * d, len(values), *decoded.shape[1:])
    rows = [f"z{j}" if n == 1 else f"x{i} z{j}" for i in range(n) for j in range(d)]
    cols = [f"{v:+.1f}" for v in values.tolist()]
    return image_grid(grid, rows, cols, f"{method.name}: latent traversals")


def reconstructions(method, images, *, n_images: int = 8, device=None) -> Figure:
    """Inputs (top row) above their reconstructions decode(encode(x)) (bottom row): 2 * n panels."""
    device = device or _device(method)
    x = as_float_images(images[:n_images], device)
    with evaluating(method):
        recon = method.decode(method.encode(x)).float().cpu().numpy()
    grid = np.stack([x.cpu().numpy(), recon])
    return image_grid(grid, ["input", "decoded"], None, f"{method.name}: reconstructions")


def interpolations(method, images, *, n_pairs: int = 4, steps: int = 8, device=None) -> Figure:
    """Decoded linear interpolations between the codes of image pairs (images 2i and 2i+1).

    One row per pair: the first input, decode((1-t) z_a + t z_b) for ``steps`` values of t
    in [0, 1], the second input.  Panels: n_pairs * (steps + 2).
    """
    device = device or _device(method)
    n_pairs = min(n_pairs, len(images) // 2)
    x = as_float_images(images[:2 * n_pairs], device)
    a, b = x[0::2], x[1::2]
    t = torch.linspace(0, 1, steps, device=device)[None, :, None]
    with evaluating(method):
        za, zb = method.encode(a)[:, None, :], method.encode(b)[:, None, :]
        path = ((1 - t) * za + t * zb).reshape(n_pairs * steps, -1)
        decoded = method.decode(path).float().cpu().numpy().reshape(n_pairs, steps, *x.shape[1:])
    grid = np.concatenate([a.cpu().numpy()[:, None], decoded, b.cpu().numpy()[:, None]], axis=1)
    cols = ["a"] + [f"t={v:.2f}" for v in t.flatten().tolist()] + ["b"]
    return image_grid(grid, None, cols, f"{method.name}: interpolations")


#: file stem -> figure function, for the evaluate stage (``fn(method, images, device=...)``)
FIGURES = {
    "traversals": latent_traversals,
    "reconstructions": reconstructions,
    "interpolations": interpolations,
}
