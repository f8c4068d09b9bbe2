"""Study-level tables and figures from the per-run metrics (pure functions of the rows).

A row is one run: ``{key, dataset, method, run, seed, variant, overrides, backbone, family,
metrics, training}``.  Runs of the same (dataset, method, variant) differ only in their seed and
form a group; every metric of a group is summarized over its seeds by its mean, standard
deviation and 95% confidence interval (:func:`sslpipe.stats.describe`), and each group's
headline probe is compared with random_init's seeds (:func:`sslpipe.stats.compare`), because
seeds and hyperparameters move these metrics as much as the method does (Locatello et al. 2019).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .core.paths import overrides_label
from .stats import ALPHA, CANNOT_CLAIM, NO, YES, compare, describe, fdr_adjust

from .evaluate.base import METRICS  # noqa: E402  (importing sslpipe.evaluate registers every metric)

BASELINE = "random_init"
#: the disentanglement scores of Locatello et al. (2019), Fig. 2 and 5
DISENTANGLEMENT = ("betavae", "factorvae", "mig", "dci/disentanglement", "modularity", "sap")
#: a run whose code has fewer active units than this has collapsed (its code ignores the image)
COLLAPSED_BELOW = 0.5


def headline_target(rows: list[dict], dataset: str) -> str | None:
    """The target compared with random_init: ``shape`` where it exists, else the first linear probe target."""
    keys = [k for r in rows if r["dataset"] == dataset for k in r["metrics"] if k.startswith("linear/")]
    if "linear/shape" in keys:
        return "shape"
    return keys[0].split("/", 1)[1] if keys else None


def headline_key(rows: list[dict], dataset: str) -> str | None:
    """The probe compared with random_init: the linear probe of :func:`headline_target` on image and
    video data; on word embeddings (no ``linear/`` keys) their linear probe on part of speech, else
    on their first probed target."""
    t = headline_target(rows, dataset)
    if t is not None:
        return f"linear/{t}"
    keys = sorted({k for r in rows if r["dataset"] == dataset for k in r["metrics"] if k.startswith("probe/") and k.count("/") == 1})
    return "probe/pos" if "probe/pos" in keys else (keys[0] if keys else None)


def _fmt(v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def cell(s: dict | None, se: dict | None = None) -> str:
    """One table cell: mean ± standard deviation over seeds, the 95% CI of the mean below; one seed: the
    value ± its standard error from its evaluation sample (``se``, the ``<key>/se`` summary) where known."""
    if not s or s.get("mean") is None:
        return "–"
    if s.get("sd") is None:
        if se and se.get("mean") is not None and not math.isnan(se["mean"]):
            return f"{_fmt(s['mean'])} ± {se['mean']:.3f}"
        return _fmt(s["mean"])
    lo, hi = s["ci95"]
    return f"{_fmt(s['mean'])} ± {_fmt(s['sd'])}<br><sub>[{_fmt(lo)}, {_fmt(hi)}]</sub>"


def spread(s: dict | None) -> str:
    """Mean ± standard deviation (n seeds), on one line."""
    if not s or s.get("mean") is None:
        return "–"
    return f"{_fmt(s['mean'])} ± {_fmt(s['sd'])} ({s['n']})" if s.get("sd") is not None else f"{_fmt(s['mean'])} (1)"


def label(g: dict) -> str:
    return f"{g['method']} [{g['variant']}]" if g.get("variant") else g["method"]


def arch_label(backbone: dict | None) -> str:
    return f"{backbone['kind']} w{backbone['width']}" if backbone else "–"


def table_metrics() -> list[str]:
    """summary.md's columns: each registered metric's ``columns``, in evaluation order (``{t}`` = headline target)."""
    return [c for m in METRICS.in_order() for c in m.columns]


# --- groups over seeds and their comparison with the baseline -----------------------------
def group_rows(rows: list[dict]) -> list[dict]:
    """The runs of each (dataset, method, variant) across seeds, every metric summarized (mean, sd, 95% CI, values)."""
    by = defaultdict(list)
    for r in rows:
        by[(r["dataset"], r["method"], r.get("variant", ""))].append(r)
    groups = []
    for (ds, m, v), rs in by.items():
        rs = sorted(rs, key=lambda r: r.get("seed", 0))
        keys = list(dict.fromkeys(k for r in rs for k in r["metrics"]))
        metrics = {}
        for k in keys:
            values = [r["metrics"][k] for r in rs if k in r["metrics"]]
            metrics[k] = describe(values) | {"values": values}
        groups.append({"dataset": ds, "method": m, "variant": v, "family": rs[0].get("family", ""),
                       "overrides": rs[0].get("overrides", {}), "backbone": rs[0].get("backbone"),
                       "runs": [r.get("key", f"{ds}-{r.get('run', m)}") for r in rs], "seeds": [r.get("seed", 0) for r in rs],
                       "n": len(rs), "metrics": metrics})
    return groups


def baseline_of(groups: list[dict], g: dict) -> dict | None:
    """random_init's group on ``g``'s dataset, with ``g``'s backbone overrides if the study has it, else the plain one."""
    bases = [b for b in groups if b["method"] == BASELINE and b["dataset"] == g["dataset"]]
    same = [b for b in bases if b["overrides"].get("backbone") == g["overrides"].get("backbone")]
    plain = [b for b in bases if not b["overrides"]]
    return (same or plain or [None])[0]


def comparisons(groups: list[dict]) -> list[dict]:
    """Each group's headline probe accuracy (and MIG where present) against its random_init group's, across seeds.

    Every row also carries ``q``, its Benjamini-Hochberg adjusted p-value over all the rows
    (:func:`sslpipe.stats.fdr_adjust`), and ``beats_baseline_fdr``: above random_init with q < 0.05.
    """
    out = []
    for g in groups:
        base = baseline_of(groups, g) if g["method"] != BASELINE else None
        if base is None:
            continue
        key = headline_key(groups, g["dataset"])
        if key is None or key not in g["metrics"] or key not in base["metrics"]:
            continue
        c = compare(g["metrics"][key]["values"], base["metrics"][key]["values"])
        row = {"dataset": g["dataset"], "method": g["method"], "variant": g["variant"], "label": label(g), "baseline": label(base),
               "metric": key, "stats": g["metrics"][key], "baseline_stats": base["metrics"][key], **c,
               "beats_baseline": c["verdict"] == YES}
        if "mig" in g["metrics"] and "mig" in base["metrics"]:
            row["mig"], row["mig_baseline"] = g["metrics"]["mig"], base["metrics"]["mig"]
        out.append(row)
    for row, q in zip(out, fdr_adjust([r["p"] for r in out])):
        row["q"] = q
        row["beats_baseline_fdr"] = row["beats_baseline"] and q is not None and q < ALPHA
    return out


def collapse(rows: list[dict]) -> list[dict]:
    """Runs whose training reports active units (the VAE family): the count and KL per seed, collapsed or not."""
    out = []
    for r in rows:
        t = r.get("training") or {}
        if "active_units" in t:
            out.append({"key": r.get("key"), "dataset": r["dataset"], "method": r["method"], "variant": r.get("variant", ""),
                        "seed": r.get("seed", 0), "active_units": t["active_units"], "kl": t.get("kl"),
                        "collapsed": t["active_units"] < COLLAPSED_BELOW})
    return out


def architecture_table(groups: list[dict], dataset: str) -> tuple[list[str], dict[str, dict[str, dict]]] | None:
    """Method x backbone of the headline probe (Kolesnikov et al. 2019, Table 1), when the dataset has 2+ backbones."""
    gs = [g for g in groups if g["dataset"] == dataset and g.get("backbone")]
    archs = sorted({arch_label(g["backbone"]) for g in gs}, key=lambda a: (a.split()[0], int(a.split()[1][1:])))
    if len(archs) < 2:
        return None
    key = headline_key(groups, dataset)
    table: dict[str, dict[str, dict]] = defaultdict(dict)
    for g in gs:
        if key in g["metrics"]:
            variant = overrides_label(g["overrides"], exclude=("backbone",))
            table[f"{g['method']} [{variant}]" if variant else g["method"]][arch_label(g["backbone"])] = g["metrics"][key]
    return archs, dict(table)


# --- claims: statements the study checks ---------------------------------------------------
@dataclass(frozen=True)
class Claim:
    """``method``'s ``key`` against ``reference``'s (another method, or ``reference_key`` of the
    same method), higher is better unless ``lower``, within ``tolerance`` counting as holding;
    checked on every dataset whose groups (the methods' own settings, mean over seeds) have the keys."""

    method: str
    key: str
    reference: str
    reference_key: str = ""
    tolerance: float = 0.0
    lower: bool = False
    note: str = ""

    def describe(self) -> str:
        ref = f"{self.reference}'s" if self.reference != self.method else "its"
        than = "below" if self.lower else "above"
        slack = f" or within {self.tolerance:g} of it" if self.tolerance else ""
        note = f" ({self.note})" if self.note else ""
        return f"{self.method}'s {self.key} {than} {ref} {self.reference_key or self.key}{slack}{note}"

    def holds(self, value: float, reference: float) -> bool:
        return value < reference + self.tolerance if self.lower else value > reference - self.tolerance


#: The language claims of the study (word2vec: Mikolov et al. 2013; the neural LM: Bengio et al.
#: 2003; masked LM: Devlin et al. 2019), checked on each text dataset that has their keys.
CLAIMS = (
    *(Claim(m, k, BASELINE) for m in ("skipgram", "cbow") for k in ("analogy/add", "similarity/spearman", "probe/pos")),
    Claim("skipgram", "analogy/add", "word2vec_gensim", tolerance=0.03),
    Claim("skipgram", "similarity/spearman", "word2vec_gensim", tolerance=0.03),
    Claim("masked_lm", "token_probe/pos", BASELINE),
    Claim("ngram_lm", "perplexity", "ngram_lm", reference_key="perplexity/unigram", lower=True, note="the add-one unigram model on the same test tokens"),
    # video: the trackers (Vondrick et al. 2018; Jabri et al. 2020) against raw-pixel label propagation on
    # the same clips and against random_init, with the backbone's features and with their own embedding head
    *(Claim(m, k, m, reference_key="propagation/j_pixels", note="raw-pixel propagation on the same clips")
      for m in ("video_colorization", "cycle_walk") for k in ("propagation/j", "propagation/j_embedding")),
    *(Claim(m, "propagation/j", BASELINE) for m in ("video_colorization", "cycle_walk")),
)


def check_claims(groups: list[dict], claims=CLAIMS) -> list[dict]:
    """Each claim on each dataset whose groups have its keys: the two means over seeds and whether it holds."""
    by = {(g["dataset"], g["method"]): g for g in groups if not g.get("variant")}
    out = []
    for ds in dict.fromkeys(g["dataset"] for g in groups):
        for c in claims:
            mine, ref = by.get((ds, c.method)), by.get((ds, c.reference))
            a = (mine or {}).get("metrics", {}).get(c.key, {}).get("mean")
            b = (ref or {}).get("metrics", {}).get(c.reference_key or c.key, {}).get("mean")
            if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
                continue
            out.append({"dataset": ds, "claim": c.describe(), "value": a, "reference": b, "seeds": (mine["n"], ref["n"]), "holds": c.holds(a, b)})
    return out


def _claims_section(claims: list[dict]) -> list[str]:
    if not claims:
        return []
    lines = ["## Claims", "", "The study's claims about its methods, on the means over seeds of each method's own settings.", "",
             "| dataset | claim | value | reference | seeds | holds? |", "|---|---|---|---|---|---|"]
    for c in claims:
        lines.append(f"| {c['dataset']} | {c['claim']} | {_fmt(c['value'])} | {_fmt(c['reference'])} | {c['seeds'][0]}, {c['seeds'][1]} | "
                     f"{'yes' if c['holds'] else '**no**'} |")
    failed = [c for c in claims if not c["holds"]]
    lines += ["", f"{len(claims) - len(failed)} of {len(claims)} claims hold"
              + (": not " + "; ".join(f"{c['dataset']}: {c['claim']}" for c in failed) + "." if failed else "."), ""]
    return lines


# --- summary.md ---------------------------------------------------------------------------
def _verdict(c: dict) -> str:
    v = c["verdict"]
    return {YES: "**yes**", NO: "**no** (below)"}.get(v, v + (" (1 seed each)" if v == CANNOT_CLAIM else ""))


def summary_markdown(rows: list[dict], notes: dict[str, str] | None = None, figures: dict[str, str] | None = None) -> str:
    """The study's summary: per-dataset tables over seeds, the comparison with random_init, collapse check,
    method x architecture, and the figures (``figures``: file name under figures/ -> caption)."""
    groups = group_rows(rows)
    seeds_per = sorted({g["n"] for g in groups})
    lines = ["# Study summary", "",
             f"{len(rows)} runs in {len(groups)} groups (dataset, method, variant); seeds per group: {', '.join(map(str, seeds_per))}. "
             "A cell is the mean ± standard deviation over the group's seeds with the 95% confidence interval of the "
             "mean below it (t distribution); a group with one seed shows its value alone. Per-run values: summary.json.", ""]
    by_ds = defaultdict(list)
    for g in groups:
        by_ds[g["dataset"]].append(g)
    for ds, gs in by_ds.items():
        t = headline_target(groups, ds)
        cols = list(dict.fromkeys(c.format(t=t) for c in table_metrics()))
        cols = [c for c in cols if any(c in g["metrics"] for g in gs)]
        lines += [f"## {ds}", "", "| method | variant | family | seeds | " + " | ".join(cols) + " |", "|---|---|---|---|" + "---|" * len(cols)]
        for g in sorted(gs, key=lambda g: (g["method"] != BASELINE, g.get("family", ""), g["method"], g["variant"])):
            seeds = ", ".join(map(str, g["seeds"]))
            lines.append(f"| {g['method']} | {g['variant'] or '–'} | {g.get('family', '')} | {seeds} | " + " | ".join(cell(g["metrics"].get(c), g["metrics"].get(f"{c}/se")) for c in cols) + " |")
        lines.append("")
    lines += _comparison_section(comparisons(groups), notes or {}, groups)
    lines += _collapse_section(collapse(rows))
    lines += _claims_section(check_claims(groups))
    for ds in by_ds:
        arch = architecture_table(groups, ds)
        if arch:
            lines += _architecture_section(ds, headline_key(groups, ds), *arch)
    if figures:
        lines += ["## Figures", ""]
        for name, caption in figures.items():
            lines += [f"**{caption}**", "", f"![{caption}](figures/{name})", ""]
    return "\n".join(lines)


def _comparison_section(comps: list[dict], notes: dict[str, str], groups: list[dict]) -> list[str]:
    if not comps:
        return []
    lines = ["## Against the untrained baseline (random_init)", "",
             "Headline probe of each group against random_init's seeds (same backbone where the study has it). "
             "Difference of the means with its 95% confidence interval; two-sided t-test at 0.05: Welch's t with 2+ seeds on "
             "both sides; with one seed on one side, the other side's seed variance stands for both (Student t, 1 seed). "
             "**yes**: significantly above; **no**: significantly below; not significant; cannot claim: one seed on both sides "
             "(no spread to judge by). The verdict is each row's own test; q is its p adjusted for the number of rows "
             "(Benjamini-Hochberg): the rows with q < 0.05 keep the expected share of false claims among them at 5%.", "",
             "| dataset | method | variant | probe | mean ± sd (seeds) | random_init | difference [95% CI] | test | p | q (BH) | beats random_init? | MIG | random_init MIG |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in comps:
        diff = "–" if c["diff"] is None else (f"{c['diff']:+.3f}" + (f" [{c['diff_ci95'][0]:+.3f}, {c['diff_ci95'][1]:+.3f}]" if c["diff_ci95"] else ""))
        p, q = (("–" if v is None else (f"{v:.2g}" if v >= 1e-4 else "<1e-4")) for v in (c["p"], c.get("q")))
        lines.append(f"| {c['dataset']} | {c['method']} | {c['variant'] or '–'} | {c['metric']} | {spread(c['stats'])} | {spread(c['baseline_stats'])} | "
                     f"{diff} | {c['test'] or '–'} | {p} | {q} | {_verdict(c)} | {spread(c.get('mig'))} | {spread(c.get('mig_baseline'))} |")
    lines.append("")
    winners = [c for c in comps if c["verdict"] == YES]
    others = [c for c in comps if c["verdict"] != YES]
    if winners:
        lines += ["Significantly above random_init: " + ", ".join(f"{c['dataset']}/{c['label']}" for c in winners) + ".", ""]
        held = [c for c in winners if c.get("beats_baseline_fdr")]
        lines += [f"Of these, {len(held)} of {len(winners)} hold with the false discovery rate over the table's {len(comps)} tests "
                  "held at 5% (q < 0.05)" + (": " + ", ".join(f"{c['dataset']}/{c['label']}" for c in held) if 0 < len(held) < len(winners) else "")
                  + ".", ""]
    if others:
        lines += ["Not shown to beat random_init (not significant, below it, or one seed on both sides), with what was tried:", ""]
        by_group = {(g["dataset"], g["method"], g["variant"]): g for g in groups}
        for c in others:
            g = by_group[(c["dataset"], c["method"], c["variant"])]
            note = next((notes[f"{c['dataset']}/{run.split('-', 1)[1]}"] for run in g["runs"] if f"{c['dataset']}/{run.split('-', 1)[1]}" in notes),
                        notes.get(c["method"], ""))
            seeds = f"seed{'s' if len(g['seeds']) > 1 else ''} {', '.join(map(str, g['seeds']))}"
            lines.append(f"- {c['dataset']}/{c['label']} ({c['verdict']}; {seeds}): {note}".rstrip(": "))
    else:
        lines.append("Every trained method beats random_init significantly on its headline probe.")
    lines.append("")
    return lines


def _collapse_section(coll: list[dict]) -> list[str]:
    if not coll:
        return []
    by = defaultdict(list)
    for c in coll:
        by[(c["dataset"], c["method"], c["variant"])].append(c)
    lines = ["## Posterior collapse (active units)", "",
             "Active units of each VAE run at the end of training (code dimensions whose posterior mean varies across "
             "images, variance > 0.01; Burda et al. 2016) and its KL in nats; 0 active units is a collapsed posterior, "
             "a code that ignores the image.", "",
             "| dataset | method | variant | active units per seed | KL per seed |", "|---|---|---|---|---|"]
    for (ds, m, v), cs in by.items():
        cs = sorted(cs, key=lambda c: c["seed"])
        au = ", ".join(f"s{c['seed']}: {c['active_units']:.1f}" + (" **collapsed**" if c["collapsed"] else "") for c in cs)
        kl = ", ".join(f"{c['kl']:.3g}" if c["kl"] is not None else "–" for c in cs)
        lines.append(f"| {ds} | {m} | {v or '–'} | {au} | {kl} |")
    collapsed = [c for c in coll if c["collapsed"]]
    lines += ["", ("Collapsed runs: " + ", ".join(c["key"] or f"{c['dataset']}/{c['method']}" for c in collapsed) + ".") if collapsed
              else "No run collapsed: every VAE run has active units in every seed.", ""]
    return lines


def _architecture_section(ds: str, key: str, archs: list[str], table: dict[str, dict[str, dict]]) -> list[str]:
    lines = [f"## {ds}: method x architecture ({key})", "",
             "Mean ± sd over seeds of the headline probe for each backbone (kind and width; the form of Kolesnikov et al. "
             "2019, Table 1); the best backbone of each method in bold.", "",
             "| method | " + " | ".join(archs) + " |", "|---|" + "---|" * len(archs)]
    for m in sorted(table, key=lambda m: (m != BASELINE, m)):
        best = max(table[m], key=lambda a: table[m][a]["mean"])
        cells = [("**" + spread(table[m][a]) + "**" if a == best else spread(table[m][a])) if a in table[m] else "–" for a in archs]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def training_notes(rows: list[dict], descriptions: dict[str, str] | None = None) -> dict[str, str]:
    """What was tried for each run (keyed ``<dataset>/<run>``): steps and the loss it reached, or how it was fitted.

    ``descriptions`` (method -> one line) explains encoders without a training curve, such as
    the classical baselines fitted in closed form on pixels.
    """
    notes = {}
    for r in rows:
        run = r.get("run", r["method"])
        t, key, m = r.get("training"), f"{r['dataset']}/{run}", r["method"]
        over = overrides_label(r.get("overrides") or {})
        params = f"methods.{m} in params.yaml" + (f" with {over}" if over else "")
        if t:
            notes[key] = (
                f"trained {t['steps']} steps, training loss {t['first_loss']:.4g} -> {t['last_loss']:.4g} "
                f"(curve: logs/{r['dataset']}/{run}/train.csv; parameters: {params}).")
        elif m != BASELINE:
            what = (descriptions or {}).get(m, "").rstrip(".")
            notes[key] = (f"no gradient training{': ' + what if what else ''}; fitted on the training shards "
                          f"with {params}.")
    return notes


# --- figures ------------------------------------------------------------------------------
def metric_matrix(rows: list[dict], min_coverage: float = 1.0, keys: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """Runs x metrics matrix over the metrics present (and finite) in every row (uncertainty keys left out)."""
    from .evaluate.uncertainty import is_uncertainty_key

    keys = sorted({k for r in rows for k in r["metrics"] if not is_uncertainty_key(k)}) if keys is None else keys
    keys = [k for k in keys if sum(k in r["metrics"] and np.isfinite(r["metrics"][k]) for r in rows) >= min_coverage * len(rows)]
    m = np.array([[r["metrics"][k] for k in keys] for r in rows], dtype=float).reshape(len(rows), len(keys))
    return keys, m


def rank_correlation(rows: list[dict]) -> tuple[list[str], np.ndarray]:
    """Spearman rank correlation between metrics across every run (Locatello et al. 2019, Fig. 2)."""
    import pandas as pd

    keys, m = metric_matrix(rows)
    if len(rows) < 3 or not keys:
        return keys, np.zeros((len(keys), len(keys)))
    df = pd.DataFrame(m, columns=keys)
    df = df.loc[:, df.std() > 0]
    return list(df.columns), df.corr(method="spearman").to_numpy()


def downstream_keys(rows: list[dict], target: str | None) -> list[str]:
    """Downstream accuracy and label efficiency of the headline target: linear, MLP, low-shot probes and efficiency."""
    keys = sorted({k for r in rows for k in r["metrics"]})
    return [k for k in keys if k.endswith(f"/{target}") and k.split("/")[0] in ("linear", "mlp", "lowshot", "efficiency")]


def cross_correlation(rows: list[dict], row_keys: list[str], col_keys: list[str]) -> tuple[list[str], list[str], np.ndarray]:
    """Spearman correlation of each of ``row_keys`` with each of ``col_keys`` across every run (Locatello et al. 2019, Fig. 5)."""
    from scipy.stats import spearmanr

    rk, rm = metric_matrix(rows, keys=row_keys)
    ck, cm = metric_matrix(rows, keys=col_keys)
    keep_r = [i for i in range(len(rk)) if np.ptp(rm[:, i]) > 0]
    keep_c = [j for j in range(len(ck)) if np.ptp(cm[:, j]) > 0]
    rk, ck = [rk[i] for i in keep_r], [ck[j] for j in keep_c]
    corr = np.full((len(rk), len(ck)), np.nan)
    if len(rows) >= 3:
        for a, i in enumerate(keep_r):
            for b, j in enumerate(keep_c):
                corr[a, b] = spearmanr(rm[:, i], cm[:, j]).statistic
    return rk, ck, corr


def study_figures(rows: list[dict], datasets: list[str]) -> tuple[dict[str, tuple[str, object]], dict[str, dict]]:
    """Every figure of the study: ``{file name: (caption, figure)}`` and the data of the correlation matrices.

    Per dataset: the distribution of every summary.md metric over seeds and hyperparameters per
    method (violins), the Spearman matrix between all metrics across every run, the one between
    the disentanglement scores and downstream accuracy / efficiency, and label efficiency.
    """
    from .plots.study import correlation_figure, distribution_figure, label_efficiency_figure

    figures: dict[str, tuple[str, object]] = {}
    data: dict[str, dict] = {}
    groups = group_rows(rows)
    for ds in datasets:
        ds_rows = [r for r in rows if r["dataset"] == ds]
        if not ds_rows:
            continue
        t = headline_target(rows, ds)
        cols = [c for c in dict.fromkeys(c.format(t=t) for c in table_metrics()) if any(c in r["metrics"] for r in ds_rows)]
        panels = {c: {} for c in cols}
        for r in sorted(ds_rows, key=lambda r: (r["method"] != BASELINE, r.get("family", ""), r["method"])):
            for c in cols:
                if c in r["metrics"] and np.isfinite(r["metrics"][c]):
                    panels[c].setdefault(r["method"], []).append(r["metrics"][c])
        caption = f"{ds}: every metric over seeds and hyperparameters, per method ({len(ds_rows)} runs)"
        figures[f"distribution_{ds}.png"] = (caption, distribution_figure(panels, caption))
        keys, corr = rank_correlation(ds_rows)
        if len(keys) > 1:
            caption = f"{ds}: Spearman rank correlation between metrics across its {len(ds_rows)} runs"
            figures[f"rank_correlation_{ds}.png"] = (caption, correlation_figure(keys, keys, corr, caption))
            data[f"rank_correlation_{ds}.json"] = {"metrics": keys, "runs": [r.get("key", r["method"]) for r in ds_rows], "spearman": np.asarray(corr).tolist()}
        dis = [k for k in DISENTANGLEMENT if any(k in r["metrics"] for r in ds_rows)]
        rk, ck, cc = cross_correlation(ds_rows, dis, downstream_keys(ds_rows, t))
        if rk and ck and len(ds_rows) >= 3:
            caption = f"{ds}: Spearman rank correlation of disentanglement scores with downstream accuracy and efficiency ({len(ds_rows)} runs)"
            figures[f"disentanglement_vs_downstream_{ds}.png"] = (caption, correlation_figure(rk, ck, cc, caption))
            data[f"disentanglement_vs_downstream_{ds}.json"] = {"rows": rk, "columns": ck, "spearman": np.where(np.isfinite(cc), cc, None).tolist()}
        curves = {}
        for g in groups:
            if g["dataset"] == ds:
                pts = [(int(k.split("@")[1].split("/")[0]), s["mean"]) for k, s in g["metrics"].items()
                       if k.startswith("lowshot/lr@") and k.endswith(f"/{t}") and s["mean"] is not None]
                if pts:
                    curves[label(g)] = pts
        if curves:  # the low-shot probes of images (text datasets have none)
            caption = f"{ds}: label efficiency (mean over seeds)"
            figures[f"label_efficiency_{ds}.png"] = (caption, label_efficiency_figure(curves, t, caption))
    return figures, data
