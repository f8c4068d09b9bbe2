"""Study figures read at a glance: metric distributions over seeds and hyperparameters, rank
correlations between metrics, label efficiency (Locatello et al. 2019, Fig. 1-3 and 5).

Pure functions of plain data (lists of values, matrices); each returns a ``matplotlib.figure.Figure``
outside pyplot's state (a study's report holds a few per dataset at once; save with ``fig.savefig``).
"""
from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.figure import Figure


def distribution_figure(panels: dict[str, dict[str, list[float]]], title: str):
    """One panel per metric: for each method, every run's value (seeds x hyperparameters).

    A violin where a method has at least 3 runs, and the runs themselves as jittered points
    (the form of Locatello et al. 2019, Fig. 1 and 3). ``panels``: metric -> method -> values.
    """
    keys = list(panels)
    cols = min(3, max(1, len(keys)))
    rows = max(1, -(-len(keys) // cols))
    methods = list(dict.fromkeys(m for k in keys for m in panels[k]))
    width = max(3.2, 0.32 * len(methods) + 1.5)
    fig = Figure(figsize=(width * cols, 2.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    rng = np.random.default_rng(0)  # jitter only
    for ax, key in zip(axes.flat, keys):
        pos = {m: i for i, m in enumerate(methods)}
        data = [(pos[m], np.asarray(v, float)) for m, v in panels[key].items() if len(v)]
        violins = [(p, v) for p, v in data if len(v) >= 3 and np.ptp(v) > 0]
        if violins:
            parts = ax.violinplot([v for _, v in violins], positions=[p for p, _ in violins], widths=0.8, showextrema=False)
            for body in parts["bodies"]:
                body.set_alpha(0.35)
        for p, v in data:
            ax.scatter(p + rng.uniform(-0.12, 0.12, len(v)), v, s=7, color="k", alpha=0.7, linewidths=0)
        ax.set_xticks(range(len(methods)), methods, rotation=90, fontsize=6)
        ax.tick_params(axis="y", labelsize=6)
        ax.set_title(key, fontsize=8)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def correlation_figure(rows: list[str], cols: list[str], corr: np.ndarray, title: str):
    """A Spearman rank-correlation matrix (square for metric x metric, or rectangular), values written in."""
    corr = np.asarray(corr, float)
    fig = Figure(figsize=(0.34 * len(cols) + 3, 0.34 * len(rows) + 2.5))
    ax = fig.subplots()
    im = ax.imshow(corr, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=6)
    ax.set_yticks(range(len(rows)), rows, fontsize=6)
    if len(rows) * len(cols) <= 150:
        for i in range(len(rows)):
            for j in range(len(cols)):
                if np.isfinite(corr[i, j]):
                    ax.text(j, i, f"{corr[i, j]:.2f}", ha="center", va="center", fontsize=5)
    ax.set_title("\n".join(textwrap.wrap(title, max(30, int(8 * fig.get_figwidth())))), fontsize=8)
    fig.colorbar(im, ax=ax, shrink=0.7)
    fig.tight_layout()
    return fig


def label_efficiency_figure(curves: dict[str, list[tuple[int, float]]], target: str, title: str):
    """Probe accuracy against the number of labels, one line per method (the mean over its seeds)."""
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    for label, pts in curves.items():
        if pts:
            ax.plot(*zip(*sorted(pts)), marker="o", ms=3, lw=1, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("labelled samples")
    ax.set_ylabel(f"accuracy ({target})")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=5, ncol=2)
    fig.tight_layout()
    return fig
