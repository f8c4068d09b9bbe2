"""report: gather every encoder's metrics into summary.json / summary.md / metrics.json and study plots."""

# Heavy modules are imported inside run(): the CLI imports every stage's declaration to build its parser.
from __future__ import annotations

from ..core import paths
from ..core.errors import DataError
from ..core.io import atomic_path, read_json, write_json, write_text
from .base import Out, Stage, StageContext


def method_descriptions(rows: list[dict]) -> dict[str, str]:
    """First docstring line of each method in the study (how an untrained encoder was made)."""
    from ..methods.base import METHODS

    return {r["method"]: (METHODS.get(r["method"]).__doc__ or "").strip().splitlines()[0] for r in rows}


def run(ctx: StageContext) -> None:
    import matplotlib.pyplot as plt

    from ..report import label_efficiency_figure, rank_correlation, rank_correlation_figure, summary_markdown, training_notes

    cfg = ctx.cfg
    rows = []
    for r in cfg.runs():
        f = paths.metrics_file(r.dataset, r.method)
        if not f.exists():
            raise DataError(f"missing metrics {f}. Fix: run `dvc repro evaluate@{r.dataset}-{r.method}`.")
        m = read_json(f)
        rows.append({"dataset": r.dataset, "method": r.method, "family": m.get("family", ""), "metrics": m["metrics"], "training": m.get("training")})
    out = paths.REPORTS
    write_json(out / "summary.json", {"rows": rows})
    datasets = dict.fromkeys(r["dataset"] for r in rows)
    write_json(out / "metrics.json", {ds: {r["method"]: r["metrics"] for r in rows if r["dataset"] == ds} for ds in datasets})
    write_text(out / "summary.md", summary_markdown(rows, training_notes(rows, method_descriptions(rows))))
    figures = {}
    for ds in cfg.study.datasets:
        ds_rows = [r for r in rows if r["dataset"] == ds]
        keys, corr = rank_correlation(ds_rows)
        if keys:
            figures[f"rank_correlation_{ds}.png"] = rank_correlation_figure(keys, corr, f"{ds}: Spearman rank correlation of metrics across its {len(ds_rows)} encoders")
            write_json(out / "figures" / f"rank_correlation_{ds}.json", {"metrics": keys, "encoders": [r["method"] for r in ds_rows], "spearman": corr})
        figures[f"label_efficiency_{ds}.png"] = label_efficiency_figure(rows, ds)
    for name, fig in figures.items():
        with atomic_path(out / "figures" / name) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
    for f in sorted(out.iterdir()):
        ctx.run.log_artifact(f, "reports/figures" if f.is_dir() else "reports")
    ctx.run.log_metrics({f"{r['dataset']}/{r['method']}/{k}": v for r in rows for k, v in r["metrics"].items() if k.startswith(("linear/", "mig"))})
    print(f"summary: {out / 'summary.md'} and {out / 'summary.json'}")


STAGE = Stage(
    name="report",
    help="study summary (reports/summary.json, summary.md) and plots",
    over=None,
    params=("study.datasets", "study.runs"),
    deps=("metrics",),
    code=("sslpipe/report.py", "sslpipe/stages/report.py"),
    outs=(
        Out("reports/summary.json"),
        Out("reports/summary.md"),
        Out("reports/figures"),
        Out("reports/metrics.json", kind="metrics", options={"cache": False}),
    ),
    run=run,
)
