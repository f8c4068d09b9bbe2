"""Study-level tables and plots from the per-encoder metrics files (pure functions of the rows)."""
from __future__ import annotations

import math
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .evaluate.base import METRICS  # noqa: E402  (importing sslpipe.evaluate registers every metric)

BASELINE = "random_init"


def headline_target(rows: list[dict], dataset: str) -> str | None:
    """The target compared with random_init: ``shape`` where it exists, else the first linear probe target."""
    keys = [k for r in rows if r["dataset"] == dataset for k in r["metrics"] if k.startswith("linear/")]
    if "linear/shape" in keys:
        return "shape"
    return keys[0].split("/", 1)[1] if keys else None


def comparisons(rows: list[dict]) -> list[dict]:
    """Each trained encoder's headline probe accuracy (and MIG where present) against random_init's."""
    out = []
    base = {r["dataset"]: r["metrics"] for r in rows if r["method"] == BASELINE}
    for r in rows:
        if r["method"] == BASELINE or r["dataset"] not in base:
            continue
        t = headline_target(rows, r["dataset"])
        key = f"linear/{t}"
        if key not in r["metrics"] or key not in base[r["dataset"]]:
            continue
        row = {"dataset": r["dataset"], "method": r["method"], "metric": key, "value": r["metrics"][key], "baseline": base[r["dataset"]][key]}
        row["beats_baseline"] = row["value"] > row["baseline"]
        if "mig" in r["metrics"] and "mig" in base[r["dataset"]]:
            row["mig"], row["mig_baseline"] = r["metrics"]["mig"], base[r["dataset"]]["mig"]
        out.append(row)
    return out


def _fmt(v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def _cell(metrics: dict, key: str) -> str:
    """``value ± se`` where the metrics hold ``<key>/se`` (its uncertainty), else the value."""
    se = metrics.get(f"{key}/se")
    if key not in metrics or se is None or math.isnan(se):
        return _fmt(metrics.get(key))
    return f"{_fmt(metrics[key])} ± {se:.3f}"


def table_metrics() -> list[str]:
    """summary.md's columns: each registered metric's ``columns``, in evaluation order (``{t}`` = headline target)."""
    return [c for m in METRICS.in_order() for c in m.columns]


def summary_markdown(rows: list[dict], notes: dict[str, str] | None = None) -> str:
    lines = ["# Study summary", ""]
    by_ds = defaultdict(list)
    for r in rows:
        by_ds[r["dataset"]].append(r)
    for ds, rs in by_ds.items():
        t = headline_target(rows, ds)
        cols = [c.format(t=t) for c in table_metrics()]
        cols = [c for c in cols if any(c in r["metrics"] for r in rs)]
        lines += [f"## {ds}", "", "| method | family | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
        for r in sorted(rs, key=lambda r: (r["method"] != BASELINE, r.get("family", ""), r["method"])):
            lines.append(f"| {r['method']} | {r.get('family', '')} | " + " | ".join(_cell(r["metrics"], c) for c in cols) + " |")
        lines.append("")
    comps = comparisons(rows)
    if comps:
        lines += ["## Against the untrained baseline (random_init)", "",
                  "| dataset | method | probe | accuracy | random_init | beats it? | MIG | random_init MIG |",
                  "|---|---|---|---|---|---|---|---|"]
        for c in comps:
            verdict = "yes" if c["beats_baseline"] else "**no**"
            lines.append(f"| {c['dataset']} | {c['method']} | {c['metric']} | {_fmt(c['value'])} | {_fmt(c['baseline'])} | {verdict} | {_fmt(c.get('mig'))} | {_fmt(c.get('mig_baseline'))} |")
        losers = [c for c in comps if not c["beats_baseline"]]
        lines.append("")
        if losers:
            lines.append("Methods that do not beat random_init at the default size: " + ", ".join(f"{c['dataset']}/{c['method']}" for c in losers) + ".")
            for c in losers:
                note = (notes or {}).get(f"{c['dataset']}/{c['method']}") or (notes or {}).get(c["method"])
                if note:
                    lines.append(f"- {c['dataset']}/{c['method']}: {note}")
        else:
            lines.append("Every trained method beats random_init on its headline probe.")
        lines.append("")
    return "\n".join(lines)


def training_notes(rows: list[dict], descriptions: dict[str, str] | None = None) -> dict[str, str]:
    """What was tried for each encoder: steps and the loss it reached, or how it was fitted.

    ``descriptions`` (method -> one line) explains encoders without a training curve, such as
    the classical baselines fitted in closed form on pixels.
    """
    notes = {}
    for r in rows:
        t, key, m = r.get("training"), f"{r['dataset']}/{r['method']}", r["method"]
        if t:
            notes[key] = (
                f"trained {t['steps']} steps, training loss {t['first_loss']:.4g} -> {t['last_loss']:.4g} "
                f"(curve: logs/{r['dataset']}/{m}/train.csv; parameters: methods.{m} in params.yaml).")
        elif m != BASELINE:
            what = (descriptions or {}).get(m, "").rstrip(".")
            notes[key] = (f"no gradient training{': ' + what if what else ''}; fitted on the training shards "
                          f"with methods.{m} in params.yaml.")
    return notes


def metric_matrix(rows: list[dict], min_coverage: float = 1.0) -> tuple[list[str], np.ndarray]:
    """Encoders x metrics matrix over the metrics present in every row (NaN-free; uncertainty keys left out)."""
    from .evaluate.uncertainty import is_uncertainty_key

    keys = sorted({k for r in rows for k in r["metrics"] if not is_uncertainty_key(k)})
    keys = [k for k in keys if sum(k in r["metrics"] and np.isfinite(r["metrics"][k]) for r in rows) >= min_coverage * len(rows)]
    m = np.array([[r["metrics"][k] for k in keys] for r in rows], dtype=float)
    return keys, m


def rank_correlation(rows: list[dict]) -> tuple[list[str], np.ndarray]:
    """Spearman rank correlation between metrics across encoders (Locatello et al. 2019, Fig. 2)."""
    import pandas as pd

    keys, m = metric_matrix(rows)
    if len(rows) < 3 or not keys:
        return keys, np.zeros((len(keys), len(keys)))
    df = pd.DataFrame(m, columns=keys)
    df = df.loc[:, df.std() > 0]
    return list(df.columns), df.corr(method="spearman").to_numpy()


def rank_correlation_figure(keys: list[str], corr: np.ndarray, title: str):
    n = len(keys)
    fig, ax = plt.subplots(figsize=(0.32 * n + 3, 0.32 * n + 2.5))
    im = ax.imshow(corr, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(n), keys, rotation=90, fontsize=6)
    ax.set_yticks(range(n), keys, fontsize=6)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.7)
    fig.tight_layout()
    return fig


def label_efficiency_figure(rows: list[dict], dataset: str):
    """Probe accuracy against the number of labels (``lowshot/lr@N/<target>``), one line per method."""
    t = headline_target(rows, dataset)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for r in rows:
        if r["dataset"] != dataset:
            continue
        pts = sorted((int(k.split("@")[1].split("/")[0]), v) for k, v in r["metrics"].items() if k.startswith("lowshot/lr@") and k.endswith(f"/{t}"))
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=3, lw=1, label=r["method"])
    ax.set_xscale("log")
    ax.set_xlabel("labelled samples")
    ax.set_ylabel(f"accuracy ({t})")
    ax.set_title(f"{dataset}: label efficiency", fontsize=9)
    ax.legend(fontsize=5, ncol=2)
    fig.tight_layout()
    return fig
