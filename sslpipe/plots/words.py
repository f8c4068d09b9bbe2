"""The 2-D map of word vectors coloured by semantic category (uncategorised words grey), the frequent ones labelled."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def word_map(xy: np.ndarray, words: list[str], labels: np.ndarray, label_names: list[str], title: str, annotate: int = 25):
    """Scatter of ``xy`` [N, 2] (from ``evaluate.words.embedding_map``) of ``words`` in frequency order; the first ``annotate`` named."""
    labels = np.asarray(labels)
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    other = labels < 0
    ax.scatter(xy[other, 0], xy[other, 1], s=4, c="0.8", label="other", rasterized=True)
    cmap = plt.get_cmap("tab20")
    for k in np.unique(labels[~other]):
        sel = labels == k
        ax.scatter(xy[sel, 0], xy[sel, 1], s=7, color=cmap(int(k) % 20), label=label_names[int(k)], rasterized=True)
    for i in range(min(annotate, len(words))):
        ax.annotate(words[i], xy[i], fontsize=6, alpha=0.8)
    ax.set_xticks([]), ax.set_yticks([])
    ax.legend(fontsize=6, markerscale=2, loc="best", ncol=2)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
