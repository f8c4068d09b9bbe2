"""2-D embedding scatter plots, one panel per target, coloured by its value."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def project_2d(z: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """PCA (fast, the default) or t-SNE (slower, van der Maaten & Hinton 2008) to two dimensions."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    z = StandardScaler().fit_transform(z)
    if z.shape[1] <= 2:
        return np.pad(z, ((0, 0), (0, 2 - z.shape[1])))
    if method == "tsne":
        return TSNE(2, init="pca", random_state=seed, perplexity=min(30, len(z) - 1)).fit_transform(z)
    return PCA(2, random_state=seed).fit_transform(z)


def embedding_scatter(z: np.ndarray, targets: np.ndarray, names: list[str], title: str, projection: str = "pca", seed: int = 0):
    xy = project_2d(z, projection, seed)
    n = len(names)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), squeeze=False)
    for ax, j, name in zip(axes[0], range(n), names):
        ax.scatter(xy[:, 0], xy[:, 1], c=targets[:, j], s=3, cmap="viridis", rasterized=True)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"{title} ({projection.upper()})", fontsize=10)
    fig.tight_layout()
    return fig
