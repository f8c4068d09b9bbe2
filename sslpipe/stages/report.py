"""report: every run's metrics -> aggregates over seeds, significance against random_init, tables and figures
(reports/summary.json, summary.md, metrics.json, figures/)."""

# Heavy modules are imported inside run(): the CLI imports every stage's declaration to build its parser.
from __future__ import annotations

from ..core import paths
from ..core.errors import DataError
from ..core.io import atomic_path, read_json, write_json, write_text
from .base import Out, Stage, StageContext


#: the metrics logged to the report's MLflow run, per group (images: probes and MIG; text: analogies, similarity, probes, perplexity)
HEADLINE = ("linear/", "mig", "analogy/add", "similarity/spearman", "probe/pos", "token_probe/pos", "perplexity")


def method_descriptions(rows: list[dict]) -> dict[str, str]:
    """First docstring line of each method in the study (how an untrained encoder was made)."""
    from ..methods.base import METHODS

    return {r["method"]: (METHODS.get(r["method"]).__doc__ or "").strip().splitlines()[0] for r in rows}


def run(ctx: StageContext) -> None:
    import dataclasses

    from ..report import collapse, comparisons, group_rows, study_figures, summary_markdown, training_notes

    cfg = ctx.cfg
    rows = []
    for r in cfg.runs():
        f = paths.metrics_file(r.dataset, r.name)
        if not f.exists():
            raise DataError(f"missing metrics {f}. Fix: run `dvc repro evaluate@{r.key}`.")
        m = read_json(f)
        rows.append({"key": r.key, "dataset": r.dataset, "method": r.method, "run": r.name, "seed": r.seed, "variant": r.variant,
                     "overrides": r.overrides, "backbone": dataclasses.asdict(cfg.backbone_for(r)), "family": m.get("family", ""),
                     "metrics": m["metrics"], "training": m.get("training")})
    out = paths.REPORTS
    groups = group_rows(rows)
    write_json(out / "summary.json", {"rows": rows, "groups": groups, "comparisons": comparisons(groups), "collapse": collapse(rows)})
    datasets = dict.fromkeys(r["dataset"] for r in rows)
    write_json(out / "metrics.json", {ds: {r["run"]: r["metrics"] for r in rows if r["dataset"] == ds} for ds in datasets})
    figures, data = study_figures(rows, list(cfg.study.datasets))
    notes = training_notes(rows, method_descriptions(rows))
    write_text(out / "summary.md", summary_markdown(rows, notes, {name: caption for name, (caption, _) in figures.items()}))
    for name, value in data.items():
        write_json(out / "figures" / name, value)
    for name, (_, fig) in figures.items():
        with atomic_path(out / "figures" / name) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    for f in sorted(out.iterdir()):
        ctx.run.log_artifact(f, "reports/figures" if f.is_dir() else "reports")
    ctx.run.log_metrics({f"{g['dataset']}/{g['method']}{'-' + g['variant'] if g['variant'] else ''}/{k}": s["mean"]
                         for g in groups for k, s in g["metrics"].items() if k.startswith(HEADLINE) and s["mean"] is not None})
    print(f"summary: {out / 'summary.md'} and {out / 'summary.json'}")


STAGE = Stage(
    name="report",
    help="study summary (reports/summary.json, summary.md) and plots",
    over=None,
    params=("runs", "study.datasets", "backbone"),
    deps=("metrics",),
    code=("sslpipe/report.py", "sslpipe/stats.py", "sslpipe/evaluate/uncertainty.py", "sslpipe/plots/study.py", "sslpipe/stages/report.py"),
    outs=(
        Out("reports/summary.json"),
        Out("reports/summary.md"),
        Out("reports/figures"),
        Out("reports/metrics.json", kind="metrics", options={"cache": False}),
    ),
    run=run,
)
