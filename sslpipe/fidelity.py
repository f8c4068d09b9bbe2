"""``sslpipe fidelity``: what the study's cheaper evaluation settings cost in accuracy.

Evaluates the study's trained encoders under several named evaluation settings (each an
``evaluate`` block as in params.yaml: embedding sizes and metric settings) and compares every
metric with its value under a reference setting (the papers' settings, or the largest this
machine affords): per metric key the mean absolute difference and the Spearman rank
correlation across encoders, and per metric the CPU seconds it took per encoder.  From those
it names, for each metric whose settings vary, the cheapest setting that keeps every key
within the tolerances (rank correlation >= 0.9, mean absolute difference < 0.03).

The images are the study's own data splits, rendered by the dataset's source with the study's
``data`` parameters (the first ``n_train`` / ``n_test`` of each split, the order in which the
shard stage stores them), so encoders trained on smaller shards are scored on the same images
as the default study's.  Results go to a JSON file after every encoder (a rerun resumes).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from .config import Config
from .core.errors import ConfigError, DataError
from .core.io import read_json, write_json
from .core.schema import build, unrecorded
from .evaluate.config import EvaluateConfig
from .evaluate.uncertainty import is_uncertainty_key

MIN_SPEARMAN, MAX_MAD = 0.9, 0.03
PAIRS = 1000  # test images whose two standard augmentations give the alignment/uniformity pairs (as the evaluate stage)
#: reported keys that are diagnostics rather than scores (not held to the tolerances)
DIAGNOSTICS = ("factorvae/active_dims", "betavae/train", "factorvae/train")


def paper_evaluate() -> dict:
    """The papers' evaluation block: the ``paper`` preset's ``evaluate`` (every metric at its defaults)."""
    from importlib import resources

    import yaml

    block = yaml.safe_load(resources.files("sslpipe.presets_data").joinpath("paper.yaml").read_text())["evaluate"]
    return {k: v for k, v in block.items() if v is not None}


def load_plan(cfg: Config, path: str | Path | None) -> tuple[str, dict[str, EvaluateConfig], dict[str, dict]]:
    """(reference name, settings by name, their raw blocks) from a plan file, or study vs paper.

    A plan file is YAML: ``reference: <name>`` and ``settings: {<name>: <evaluate block> | params}``,
    ``params`` standing for params.yaml's own ``evaluate`` section.  A block is read over the
    code's defaults (the papers' settings), as params.yaml's ``evaluate`` is.
    """
    import yaml

    if path is None:
        plan = {"reference": "paper", "settings": {"study": "params", "paper": paper_evaluate()}}
    else:
        plan = yaml.safe_load(Path(path).read_text()) or {}
    settings = plan.get("settings") or {}
    if plan.get("reference") not in settings or len(settings) < 2:
        raise ConfigError(str(path), "a fidelity plan needs `settings` (two or more) and `reference` naming one of them.",
                          "see sslpipe/fidelity.py's load_plan.")
    raw = {name: (cfg.raw.get("evaluate") or {}) if block == "params" else (block or {}) for name, block in settings.items()}
    with unrecorded():
        built = {name: build(EvaluateConfig, dict(block), f"fidelity.settings.{name}") for name, block in raw.items()}
    return plan["reference"], built, raw


class Encoders:
    """The study's encoders with the images of its data splits (rendered once per dataset)."""

    def __init__(self, cfg: Config, models: Path, device="cpu"):
        import torch

        self.cfg, self.models, self.device = cfg, Path(models), torch.device(device)
        self._data: dict[str, tuple] = {}

    def source(self, dataset: str):
        from .data.sources import SOURCES

        return SOURCES.get(dataset)(self.cfg.data[dataset], self.cfg.study.seed)

    def data(self, dataset: str, n_train: int, n_test: int):
        if dataset not in self._data:
            source = self.source(dataset)
            tr, te = source.split("train"), source.split("test")
            self._data[dataset] = (source, tr.images[:n_train], tr.targets[:n_train], te.images[:n_test], te.targets[:n_test])
        return self._data[dataset]

    def embeddings(self, dataset: str, method, n_train: int, n_test: int):
        """Embeddings of the first ``n_train`` / ``n_test`` split images, with the evaluate stage's augmented pairs."""
        import torch

        from .augment import standard_views
        from .checkpoint import encode_images
        from .core.runtime import seed_everything
        from .data.loader import to_device
        from .evaluate.embeddings import Embeddings

        source, trx, try_, tex, tey = self.data(dataset, n_train, n_test)
        info = source.info()
        seed_everything(self.cfg.study.seed)
        views = standard_views(info.channels, info.resolution).to(self.device)
        with torch.no_grad():
            pair_src = to_device(tex[:PAIRS], self.device)
            z1 = method.encode(views(pair_src)).float().cpu().numpy()
            z2 = method.encode(views(pair_src)).float().cpu().numpy()
        return Embeddings(encode_images(method, trx, self.device), try_.astype(np.int64), encode_images(method, tex, self.device),
                          tey.astype(np.int64), list(info.targets), list(info.factors), list(info.factor_sizes), list(info.ordinal), z1, z2)


def _truncate(emb, n_train: int, n_test: int):
    return dataclasses.replace(emb, train_z=emb.train_z[:n_train], train_targets=emb.train_targets[:n_train],
                               test_z=emb.test_z[:n_test], test_targets=emb.test_targets[:n_test])


def evaluate_run(enc: Encoders, dataset: str, run_name: str, settings: dict[str, EvaluateConfig], metrics: list[str] | None,
                 seed: int, n_jobs: int) -> dict:
    """Every setting's metric values for one encoder, and each metric's CPU seconds."""
    from . import evaluate  # noqa: F401  (registers every metric)
    from .checkpoint import encode_images, load_method
    from .evaluate.base import METRICS, EvalContext
    from .evaluate.suite import focus_target

    method = load_method(enc.models / dataset / run_name / "model.pt", enc.device)
    n_train = max(s.embed.n_train for s in settings.values())
    n_test = max(s.embed.n_test for s in settings.values())
    full = enc.embeddings(dataset, method, n_train, n_test)
    source = enc.data(dataset, n_train, n_test)[0]
    sampler = source if source.has_renderer and full.factor_names else None

    def encode(images):
        return encode_images(method, images, enc.device)

    out = {"values": {}, "seconds": {}, "wall": {}, "encoded": {}}
    for name, ev in settings.items():
        emb = _truncate(full, ev.embed.n_train, ev.embed.n_test)
        ctx = EvalContext(emb, seed, focus_target(emb, ev), n_jobs=n_jobs, sampler=sampler, encode=encode if sampler else None,
                          device=enc.device, n_boot=ev.bootstrap)
        values, seconds, wall = {}, {}, {}
        for m in METRICS.in_order():
            if (metrics and m.name not in metrics) or m.name == "interpolation" or not m.applies(ctx):
                continue
            t0, w0 = time.process_time(), time.perf_counter()
            values |= m(ctx, ev.metrics.get(m.name))
            seconds[m.name], wall[m.name] = time.process_time() - t0, time.perf_counter() - w0
        out["values"][name], out["seconds"][name], out["wall"][name] = values, seconds, wall
        out["encoded"][name] = ctx._codes.encoded if ctx._codes is not None else 0  # distinct combinations rendered and encoded
        print(f"  {dataset}/{run_name} [{name}]: {sum(seconds.values()):.1f} CPU s", flush=True)
    return out


def run(cfg: Config, models: str | Path = "models", plan: str | Path | None = None, out: str | Path = "reports/fidelity.json",
        runs: list[str] | None = None, metrics: list[str] | None = None, threads: int = 1) -> dict:
    """Evaluate the study's encoders under each setting of the plan; results in ``out`` (resumed if present).

    ``threads``: torch, BLAS and DCI threads (default 1, so that each metric's CPU seconds are
    its own work, not the spinning of oversubscribed thread pools on a shared machine).
    """
    from .core.runtime import seed_everything

    seed_everything(cfg.study.seed, threads)
    reference, settings, raw = load_plan(cfg, plan)
    from .data.sources import SOURCES

    # the settings compared are the image metrics' (text datasets have their own evaluation)
    chosen = [r for r in cfg.runs() if SOURCES.get(r.dataset).modality == "image" and (not runs or r.key in runs or r.dataset in runs)]
    if not chosen:
        raise ConfigError("--runs", f"{runs} matches no run of the study on an image dataset.", "name runs by their key (`sslpipe runs`: <dataset>-<run>) or a dataset.")
    missing = [r.key for r in chosen if not (Path(models) / r.dataset / r.name / "model.pt").exists()]
    if missing:
        raise DataError(f"no trained model for {', '.join(missing)} under {models}. Fix: run their pretrain stages or pass --models DIR.")
    path = Path(out)
    result = read_json(path) if path.exists() else {}
    if result.get("settings") != raw or result.get("reference") != reference:
        result = {"reference": reference, "settings": raw, "runs": {}}
    enc = Encoders(cfg, models)
    for r in chosen:
        if r.key in result["runs"]:
            continue
        result["runs"][r.key] = {"dataset": r.dataset, "method": r.method, "run": r.name, "seed": r.seed} | evaluate_run(
            enc, r.dataset, r.name, settings, metrics, r.seed, threads)
        write_json(path, result)
    return result


# --- the table ------------------------------------------------------------------------------
def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def compare(result: dict) -> dict[str, dict[str, dict]]:
    """Per setting, per metric key: reference and setting means, MAD, Spearman, encoders, median se."""
    ref = result["reference"]
    runs = list(result["runs"].values())
    out: dict[str, dict[str, dict]] = {}
    for name in result["settings"]:
        if name == ref:
            continue
        rows = {}
        keys = sorted({k for r in runs for k in r["values"][name] if not is_uncertainty_key(k) and k in r["values"][ref]})
        for k in keys:
            pairs = [(r["values"][name][k], r["values"][ref][k], r["values"][name].get(f"{k}/se", np.nan), r["values"][ref].get(f"{k}/se", np.nan))
                     for r in runs if k in r["values"][name] and k in r["values"][ref]]
            a, b, sa, sb = (np.array(x, dtype=float) for x in zip(*pairs))
            rows[k] = {"value": float(a.mean()), "reference": float(b.mean()), "mad": float(np.abs(a - b).mean()),
                       "spearman": _spearman(a, b), "encoders": len(a), "se": float(np.nanmedian(sa)) if np.isfinite(sa).any() else None,
                       "reference_se": float(np.nanmedian(sb)) if np.isfinite(sb).any() else None}
        out[name] = rows
    return out


def metric_of(key: str) -> str:
    """The registered metric that reports ``key``."""
    head = key.split("/")[0]
    alias = {"efficiency": "lowshot", "alignment": "geometry", "uniformity": "geometry", "sap_continuous": "sap",
             "explicitness": "modularity", "interp": "interpolation"}
    return alias.get(head, head)


def passes(row: dict) -> bool:
    """Within the tolerances: MAD < 0.03 and Spearman >= 0.9 (undefined when a setting gives every encoder one value)."""
    return row["mad"] < MAX_MAD and (row["spearman"] >= MIN_SPEARMAN or not np.isfinite(row["spearman"]))


def seconds(result: dict, setting: str) -> dict[str, float]:
    """Mean CPU seconds per encoder of each metric under ``setting``."""
    per: dict[str, list[float]] = {}
    for r in result["runs"].values():
        for m, s in r["seconds"][setting].items():
            per.setdefault(m, []).append(s)
    return {m: float(np.mean(v)) for m, v in per.items()}


def choose(result: dict) -> dict[str, dict]:
    """For each metric: the settings (other than the reference) whose every key passes, and the cheapest of them."""
    cmp = compare(result)
    out = {}
    for name, rows in cmp.items():
        secs = seconds(result, name)
        by_metric: dict[str, list[str]] = {}
        for k in rows:
            by_metric.setdefault(metric_of(k), []).append(k)
        for m, keys in by_metric.items():
            scored = [k for k in keys if k not in DIAGNOSTICS]
            ok = all(passes(rows[k]) for k in scored)
            worst = min(scored, key=lambda k: (passes(rows[k]), rows[k]["spearman"] if np.isfinite(rows[k]["spearman"]) else 1.0)) if scored else None
            out.setdefault(m, {})[name] = {"passes": ok, "seconds": secs.get(m, 0.0), "worst": worst}
    return {m: {"settings": s, "cheapest": min((n for n in s if s[n]["passes"]), key=lambda n: s[n]["seconds"], default=None)}
            for m, s in out.items()}


def markdown(result: dict, settings: list[str] | None = None) -> str:
    """The fidelity table: per setting and metric key, mean values, MAD, Spearman, and per-metric CPU seconds."""
    ref = result["reference"]
    cmp = compare(result)
    ref_secs = seconds(result, ref)
    lines = []
    for name in settings or cmp:
        rows, secs = cmp[name], seconds(result, name)
        n = max((r["encoders"] for r in rows.values()), default=0)
        lines += [f"**{name}** against **{ref}** ({n} encoders; values are means over encoders, "
                  "± the median standard error of one encoder's value):", "",
                  f"| metric key | {name} | {ref} | mean abs. difference | Spearman | CPU s per encoder ({name} / {ref}) |",
                  "|---|---|---|---|---|---|"]
        for k, r in rows.items():
            m = metric_of(k)
            fmt = lambda v, se: f"{v:.3f}" + (f" ± {se:.3f}" if se is not None else "")  # noqa: E731
            rho = "–" if not np.isfinite(r["spearman"]) else f"{r['spearman']:.2f}"
            flag = "" if k in DIAGNOSTICS or passes(r) else " **x**"
            lines.append(f"| `{k}` | {fmt(r['value'], r['se'])} | {fmt(r['reference'], r['reference_se'])} | {r['mad']:.3f}{flag} | {rho} "
                         f"| {secs.get(m, 0):.1f} / {ref_secs.get(m, 0):.1f} |")
        lines.append("")
    return "\n".join(lines)


def merged(result: dict, chosen: dict[str, str]) -> dict[str, dict]:
    """Per run, the values under a setting assembled metric by metric (``chosen``: metric -> setting)."""
    out = {}
    for key, r in result["runs"].items():
        vals = {}
        for setting in dict.fromkeys(chosen.values()):
            vals |= {k: v for k, v in r["values"].get(setting, {}).items() if chosen.get(metric_of(k)) == setting}
        out[key] = vals
    return out


def setting_values(result: dict, setting: str) -> dict[str, dict]:
    """Per run key, its values under ``setting`` (``ConfigError`` naming the settings if absent)."""
    if setting not in result["settings"]:
        raise ConfigError("--changes", f"the fidelity results have no setting {setting!r}.", f"name two of {', '.join(result['settings'])}.")
    return {key: r["values"][setting] for key, r in result["runs"].items() if setting in r["values"]}


def metrics_dir_values(path: str | Path) -> dict[str, dict]:
    """Per run key, the metrics of a study's ``metrics/<dataset>/<run>.json`` files under ``path``."""
    out = {}
    for f in sorted(Path(path).glob("*/*.json")):
        m = read_json(f)
        out[m.get("key") or f"{f.parent.name}-{f.stem}"] = m["metrics"]
    if not out:
        raise DataError(f"{path} holds no metrics/<dataset>/<run>.json files. Fix: name a study's metrics directory (or a copy of it).")
    return out


def changes(result: dict | None, old: str, new: str) -> str:
    """Metric values under ``old`` next to ``new``, per encoder, and how the rankings moved.

    ``old``/``new``: settings of a fidelity ``result``, or directories holding a study's
    ``metrics/`` (e.g. a copy taken before changing ``evaluate`` in params.yaml, and the new one).
    """
    def values(which: str) -> dict[str, dict]:
        return metrics_dir_values(which) if Path(which).is_dir() else setting_values(result or {"settings": {}, "runs": {}}, which)

    a, b = values(old), values(new)
    keys = sorted({k for run in a if run in b for k in a[run] if k in b[run] and not is_uncertainty_key(k) and k not in DIAGNOSTICS})
    return changes_markdown(a, b, keys)


def changes_markdown(old: dict[str, dict], new: dict[str, dict], keys: list[str]) -> str:
    """Old and new values of each run for ``keys`` (the report's columns), and how the rankings moved.

    ``old``/``new``: run (``<dataset>-<method>``) -> {key: value}.  For each dataset and key:
    the Spearman correlation of the two rankings of its runs and how many changed position.
    """
    runs = [r for r in old if r in new]
    lines = ["| run | " + " | ".join(f"`{k}` old → new" for k in keys) + " |", "|---|" + "---|" * len(keys)]
    for r in runs:
        cells = []
        for k in keys:
            o, n = old[r].get(k), new[r].get(k)
            cells.append("–" if o is None or n is None else f"{o:.3f} → {n:.3f}")
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    lines += ["", "| dataset | key | runs | Spearman old vs new | runs whose rank changed | mean abs. change |", "|---|---|---|---|---|---|"]
    for ds in dict.fromkeys(r.split("-", 1)[0] for r in runs):
        for k in keys:
            both = [(old[r][k], new[r][k]) for r in runs if r.split("-", 1)[0] == ds and k in old[r] and k in new[r]]
            if len(both) < 3:
                continue
            a, b = (np.array(x, float) for x in zip(*both))
            rank_a, rank_b = a.argsort(kind="stable").argsort(), b.argsort(kind="stable").argsort()
            rho = _spearman(a, b)
            lines.append(f"| {ds} | `{k}` | {len(a)} | {'–' if not np.isfinite(rho) else f'{rho:.2f}'} | {int((rank_a != rank_b).sum())} "
                         f"| {np.abs(a - b).mean():.3f} |")
    return "\n".join(lines)
