"""Each stage reads exactly the params.yaml keys and files it declares (sslpipe/stages/*.py).

Every stage of a small study (the toy source: factors and a renderer; an untrained, a decoder
and a two-view method, and the decoder method again with another seed and overrides of a method
parameter and the backbone; the grammar corpus at its smallest: a word2vec method, a language
model and the fitted gensim baseline; tiny moving-sprites clips: a clip method with a task head, a
clip method with spatial features, and an image method on the clips' frames) runs in-process with a recording config
(``core.schema.record_reads``) and a file-access audit hook; every key it reads must be declared,
the files it read must lie under its declared dependencies (or its own outputs), what it
wrote under its declared outputs, and the package modules whose code it ran under its declared code.  A declared key must be read by some run of the stage: one
declaration serves every run (DVC's ``foreach``), and a text run builds no image backbone.
"""
from __future__ import annotations

import os
import re
import sys
import threading
from pathlib import Path

import pytest
import torch
import yaml

from sslpipe.config import expand_sweeps, from_raw
from sslpipe.core.codeversion import package_root
from sslpipe.core.io import write_json
from sslpipe.core.paths import PARAMS_FILE, RUNS_FILE
from sslpipe.core.schema import record_reads
from sslpipe.stages import STAGES
from sslpipe.stages.base import StageContext

pytestmark = pytest.mark.slow

METHODS = ("random_init", "ae", "simclr")
TEXT_METHODS = ("skipgram", "ngram_lm", "word2vec_gensim")
VIDEO_METHODS = ("arrow_of_time", "cycle_walk", "simclr")
SWEEPS = [{"dataset": "toy", "method": list(METHODS)},
          {"dataset": "toy", "method": "ae", "seeds": [1], "decoder_sigma": 0.2, "backbone": {"width": 4}},
          {"dataset": "grammar", "method": list(TEXT_METHODS)},
          {"dataset": "movingsprites", "method": list(VIDEO_METHODS)}]
STUDY = {"name": "declarations", "seed": 0, "datasets": ["toy", "grammar", "movingsprites"], "sweeps": SWEEPS}
RUNS = expand_sweeps(STUDY)[0]
OVERRIDDEN = "ae-decoder_sigma0p2-width4-s1"
RAW = {
    "study": STUDY,
    "data": {"toy": {}, "grammar": {"vocab_size": 200, "n_train": 400, "n_val": 20, "n_test": 60, "chunk_tokens": 1024},
             "movingsprites": {"n_train": 40, "n_val": 4, "n_test": 12, "resolution": 16, "chunk_size": 8, "frames": 6, "color": True}},
    "backbone": {"width": 8, "code_dim": 4},
    "train": {"batch_size": 32, "step_scale": 0.02, "threads": 1, "log_every": 1},
    "methods": {m: {} for m in METHODS} | {"skipgram": {"epochs": 0.2}, "ngram_lm": {"epochs": 0.2}, "word2vec_gensim": {}}
               | {"arrow_of_time": {"batch_size": 8}, "cycle_walk": {"batch_size": 8}},
    "evaluate": {"embed": {"n_train": 200, "n_test": 80, "train_tokens": 2000, "probe_tokens": 500}, "metrics": {
        "lowshot": {"sizes": [10, 50]}, "dci": {"n_estimators": 5, "max_train": 100}, "modularity": {"max_train": 100},
        "betavae": {"batch_size": 4, "n_train": 10, "n_eval": 6}, "factorvae": {"batch_size": 4, "n_train": 10, "n_eval": 6, "var_samples": 40},
        "interpolation": {"images": 60, "n_pairs": 20}, "propagation": {"clips": 4, "stride": 2}, "video_tasks": {"clips": 8}}},
    "report": {"scatter_points": 50},
}
#: files any stage may touch besides its declared ones: the tracking store and the resume cache
INFRA = ("mlflow.db", "mlruns", "mlartifacts", ".cache")


class FileLog:
    """Paths below the study directory opened for reading or written (audit events 'open', 'os.rename')."""

    def __init__(self):
        self.root: Path | None = None
        self.reads: set[str] = set()
        self.writes: set[str] = set()

    def _rel(self, path) -> str | None:
        if self.root is None or not isinstance(path, (str, bytes, os.PathLike)):
            return None
        p = Path(os.fsdecode(path))
        p = (Path.cwd() / p) if not p.is_absolute() else p
        try:
            rel = str(p.resolve().relative_to(self.root))
        except ValueError:
            return None
        # an atomic output is made as a hidden temporary sibling, ".<name>.<random>.tmp"
        return re.sub(r"(^|/)\.([^/]+)\.[^./]+\.tmp(?=/|$)", r"\1\2", rel)

    def hook(self, event, args):
        if event == "open" and args and args[0] is not None:
            if args[1] is None and _in_rmtree():  # shutil.rmtree opens names relative to a directory's fd, not the cwd
                return
            rel = self._rel(args[0])
            if rel is None:
                return
            mode = args[1] if len(args) > 1 and isinstance(args[1], str) else "r"
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            if any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR):
                self.writes.add(rel)
            else:
                self.reads.add(rel)
        elif event == "os.rename" and len(args) > 1:
            rel = self._rel(args[1])
            if rel is not None:
                self.writes.add(rel)


class CodeLog:
    """The package's source files whose functions ran inside the block (``sys.setprofile``, every thread)."""

    PACKAGE = package_root()

    def __init__(self):
        self.files: set[str] = set()
        self._seen: set[str] = set()

    def _profile(self, frame, event, arg):
        if event == "call":
            f = frame.f_code.co_filename
            if f not in self._seen:
                self._seen.add(f)
                if f.startswith(str(self.PACKAGE)):
                    self.files.add(str(Path(f).relative_to(self.PACKAGE.parent)))

    def __enter__(self):
        threading.setprofile(self._profile)
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(None)
        threading.setprofile(None)


def _in_rmtree() -> bool:
    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_name == "_rmtree_safe_fd":
            return True
        f = f.f_back
    return False


LOG = FileLog()
sys.addaudithook(LOG.hook)  # audit hooks cannot be removed: it only records while LOG.root is set


def _under(path: str, roots) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _covered(read: str, declared) -> bool:
    return any(read == d or read.startswith(d + ".") for d in declared)


STUDY_DIR: dict[str, Path] = {}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    dest = tmp_path_factory.mktemp("declarations").resolve()
    STUDY_DIR["path"] = dest
    mp, threads = pytest.MonkeyPatch(), torch.get_num_threads()
    mp.chdir(dest)
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{dest / 'mlflow.db'}")
    results = {}
    try:
        from sslpipe.tracking import init_store

        init_store(RAW["study"]["name"])
        # what the params stage reads (the others read the validated RAW)
        (dest / "params.yaml").write_text(yaml.safe_dump(RAW, sort_keys=False))
        write_json(dest / RUNS_FILE, {"runs": RUNS})
        jobs = [("code", {}), ("params", {})] + [("shard", {"dataset": d}) for d in STUDY["datasets"]]
        for stage in ("pretrain", "evaluate"):
            jobs += [(stage, {"dataset": r["dataset"], "run": r["name"]}) for r in RUNS.values()]
        jobs.append(("report", {}))
        for name, item in jobs:
            stage = STAGES[name]
            with record_reads() as rec:
                cfg = from_raw(RAW)
                rec.reads.clear()  # validation reads every field; only the stage's own reads count
                LOG.root, LOG.reads, LOG.writes = dest, set(), set()
                code = CodeLog()
                try:
                    with code, StageContext(cfg, stage, **item) as ctx:
                        stage.run(ctx)
                finally:
                    LOG.root = None
            results[(name, tuple(item.values()))] = (stage, ctx.item, set(rec.reads), set(LOG.reads), set(LOG.writes), code.files)
        yield results
    finally:
        torch.set_num_threads(threads)
        mp.undo()


def _unread(stage, item, reads) -> set[str]:
    """The declared keys (in template form, ``methods.{method}``) that a run of the stage did not read."""
    return {t for t, d in zip(stage.params, stage.param_keys(**item)) if not any(_covered(r, [d]) or d.startswith(r + ".") for r in reads)}


def test_every_stage_reads_exactly_the_keys_it_declares(study):
    unused = {}
    for (name, item_key), (stage, item, reads, _, _, _) in study.items():
        declared = stage.param_keys(**item)
        undeclared = sorted(r for r in reads if not _covered(r, declared))
        assert not undeclared, f"{name}{item_key} reads undeclared keys {undeclared}"
        unused[name] = unused.get(name, _unread(stage, item, reads)) & _unread(stage, item, reads)
    assert not any(unused.values()), f"stages declare keys none of their runs reads: {unused}"


def test_a_text_run_leaves_only_the_image_backbone_unread(study):
    for (name, item_key), (stage, item, reads, _, _, _) in study.items():
        if item.get("dataset") == "grammar":
            assert not any(r.startswith("backbone") for r in reads), (name, item_key)
            assert _unread(stage, item, reads) == ({"backbone"} if name == "pretrain" else set()), (name, item_key)


def test_every_stage_reads_only_declared_files_and_writes_only_its_outputs(study):
    for (name, item_key), (stage, item, _, reads, writes, _) in study.items():
        deps, outs = stage.dep_paths(**item), stage.out_paths(**item)
        if name == "params":  # the files DVC knows as its parameters
            deps += [PARAMS_FILE, RUNS_FILE]
        stray_reads = sorted(r for r in reads if not _under(r, deps + outs + list(INFRA)))
        stray_writes = sorted(w for w in writes if not _under(w, outs + list(INFRA)))
        assert not stray_reads, f"{name}{item_key} reads undeclared files {stray_reads}"
        assert not stray_writes, f"{name}{item_key} writes outside its outputs {stray_writes}"
        assert any(_under(w, outs) for w in writes), f"{name}{item_key} wrote none of its outputs"
        for d in deps:  # every declared data dependency is actually read
            assert any(_under(r, [d]) for r in reads), f"{name}{item_key} declares {d} but never reads it"


def test_the_study_holds_a_run_with_a_seed_and_overrides():
    assert set(RUNS) == ({"toy-random_init", "toy-ae", "toy-simclr", f"toy-{OVERRIDDEN}"} | {f"grammar-{m}" for m in TEXT_METHODS}
                         | {f"movingsprites-{m}" for m in VIDEO_METHODS})
    assert RUNS[f"toy-{OVERRIDDEN}"]["overrides"] == {"decoder_sigma": 0.2, "backbone": {"width": 4}}


def test_a_run_trains_with_its_seed_and_overrides(study):
    """The run's overrides reach the trained model (method parameter, backbone) and its seed the runtime."""
    from sslpipe.checkpoint import load_method

    _, item, reads, _, _, _ = study[("pretrain", ("toy", OVERRIDDEN))]
    assert item == {"dataset": "toy", "run": OVERRIDDEN, "method": "ae", "key": f"toy-{OVERRIDDEN}"}
    assert {f"runs.toy-{OVERRIDDEN}.overrides", f"runs.toy-{OVERRIDDEN}.seed"} <= reads
    plain, over = (load_method(STUDY_DIR["path"] / "models/toy" / name / "model.pt") for name in ("ae", OVERRIDDEN))
    assert (plain.ctx.backbone.width, plain.params.decoder_sigma, plain.ctx.seed) == (8, 0.1, 0)
    assert (over.ctx.backbone.width, over.params.decoder_sigma, over.ctx.seed) == (4, 0.2, 1)


#: Code every stage runs and none declares: the stage runner, config, tracking and the core layer
#: (they compute no result; a change to them reruns nothing).
RUNNER = ("sslpipe/core", "sslpipe/config.py", "sslpipe/tracking.py", "sslpipe/stages/base.py")


def test_every_stage_declares_the_code_it_runs(study):
    """A module whose functions ran inside a stage is among its declared code, so DVC reruns the
    stage when it changes (the model file alone would not: an edited ``encode`` leaves the weights
    as they were).  Functions run at import time only (registries) are not seen here."""
    for (name, item_key), (stage, item, *_, files) in study.items():
        undeclared = sorted(f for f in files if not _under(f, list(stage.code) + list(RUNNER)))
        assert not undeclared, f"{name}{item_key} runs code it does not declare: {undeclared}"


def test_every_run_runs_only_the_code_its_fingerprints_cover(study):
    """The fingerprints a run's stage depends on (its stage's and its method's, stages/code.py) cover
    every module it ran, so an edit of another method's module can leave it alone."""
    from sslpipe.core import paths
    from sslpipe.stages.code import code_sets, fingerprints_of

    sets = code_sets(STAGES.values())
    root = package_root().parent
    method_runs = 0
    for (name, item_key), (stage, item, *_, files) in study.items():
        if name == "code":
            continue
        covered = {str(f.relative_to(root)) for dep in fingerprints_of(stage, item.get("method", "")) for f in sets[Path(dep)]}
        outside = sorted(f for f in files if f not in covered and not _under(f, list(RUNNER)))
        assert not outside, f"{name}{item_key} runs code outside its fingerprints: {outside}"
        method_runs += paths.method_fingerprint(item.get("method", "")).as_posix() in fingerprints_of(stage, item.get("method", ""))
    assert method_runs == 2 * len(RUNS)  # pretrain and evaluate of every run depend on their method's
    # the study's fingerprints are what the code stage wrote
    for path, files in sets.items():
        assert (STUDY_DIR["path"] / path).read_text().count("\n") == len(files) + 2, path
