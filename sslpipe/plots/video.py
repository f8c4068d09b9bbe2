"""Figures of the video evaluation: propagated instance masks next to the stored ones."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def propagation_figure(clips: np.ndarray, masks: np.ndarray, predictions: dict[str, np.ndarray], title: str = "", frames: int | None = None):
    """For each clip: a row of frames, the stored masks, then one row per propagation (e.g. the encoder, raw pixels).

    ``clips`` uint8 [N, T, C, R, R], ``masks`` and each prediction uint8 [N, T, R, R]; frame 0
    of every mask row is the given frame-0 annotation.
    """
    n, t = masks.shape[:2]
    t = min(t, frames or t)
    rows = [("frames", None), ("stored masks", masks)] + list(predictions.items())
    k = int(max(masks.max(), *(p.max() for p in predictions.values()))) if predictions else int(masks.max())
    fig, axes = plt.subplots(n * len(rows), t, figsize=(1.1 * t, 1.1 * n * len(rows)), squeeze=False)
    for i in range(n):
        for r, (name, m) in enumerate(rows):
            for j in range(t):
                ax = axes[i * len(rows) + r, j]
                if m is None:
                    img = clips[i, j]
                    ax.imshow(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0), cmap="gray", vmin=0, vmax=255)
                else:
                    ax.imshow(m[i, j], cmap="tab10", vmin=0, vmax=max(k, 1), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(name if r else f"clip {i}", fontsize=6)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig
