"""The ready-made studies end to end at smoke size, through the stage commands in-process.

Each preset is applied with the smoke size, its grid trimmed so the suite stays fast (two seeds of
random_init and, in the disentanglement study, of beta_vae; fewer grid values; `sslpipe study
<name> --size smoke` runs the whole grid through dvc), then every run is trained, embedded and
evaluated and the report must show the seed spread, the significance column, the collapse check
or the method x architecture table, and the figures.
"""
import shutil
from pathlib import Path

import pytest
import torch
from ruamel.yaml import YAML

from sslpipe.cli import main
from sslpipe.config import load
from sslpipe.presets import apply_preset

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _trim(entry: dict, name: str) -> None:
    # two seeds for the baseline and (disentanglement) beta_vae: a seed spread on both sides of Welch's t
    entry["seeds"] = [0, 1] if entry["method"] == "random_init" or (name, entry["method"]) == ("disentanglement", "beta_vae") else [0]
    for k, v in list(entry.items()):
        if k not in ("dataset", "method", "seeds", "backbone") and isinstance(v, list):
            entry[k] = v[:1]
    if isinstance(entry["method"], list):
        entry["method"] = ["rotation", "relative_patch"]  # an image-level and a tile task
    if "backbone" in entry:
        entry["backbone"]["width"] = entry["backbone"]["width"][:2]


def _study(tmp_path_factory, name: str):
    dest = tmp_path_factory.mktemp(name)
    params = dest / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    apply_preset(name, params)
    apply_preset("smoke", params)
    yaml = YAML()
    data = yaml.load(params.read_text())
    for entry in data["study"]["sweeps"]:
        _trim(entry, name)
    with open(params, "w") as f:
        yaml.dump(data, f)
    mp, threads = pytest.MonkeyPatch(), torch.get_num_threads()
    mp.chdir(dest)
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{dest / 'mlflow.db'}")
    try:
        assert main(["runs", "--write"]) == 0
        cfg = load(params)
        assert main(["init-tracking"]) == 0 and main(["shard", "dsprites"]) == 0
        for r in cfg.runs():
            for stage in ("pretrain", "evaluate"):
                assert main([stage, r.dataset, r.name]) == 0, f"{stage} {r.key}"
        assert main(["report"]) == 0
        return dest, cfg
    finally:
        torch.set_num_threads(threads)
        mp.undo()


@pytest.fixture(scope="module")
def disentanglement(tmp_path_factory):
    return _study(tmp_path_factory, "disentanglement")


@pytest.fixture(scope="module")
def architectures(tmp_path_factory):
    return _study(tmp_path_factory, "architectures")


def _figures(dest: Path) -> set[str]:
    return {p.name for p in (dest / "reports/figures").glob("*.png")}


def test_disentanglement_study_reports_seed_spread_significance_collapse_and_figures(disentanglement):
    dest, cfg = disentanglement
    assert {r.method for r in cfg.runs()} == {"random_init", "beta_vae", "annealed_vae", "factor_vae", "dip_vae", "beta_tcvae"}
    assert {r.variant for r in cfg.runs() if r.method == "dip_vae"} == {"variant_i-lambda_od1", "variant_ii-lambda_od1"}
    md = (dest / "reports/summary.md").read_text()
    assert " ± " in md and "<sub>[" in md  # the seed spread and the 95% interval
    assert "beats random_init?" in md and "Welch t" in md
    assert "## Posterior collapse (active units)" in md and "| dsprites | beta_vae | beta2 | s0: " in md
    assert {"distribution_dsprites.png", "rank_correlation_dsprites.png", "disentanglement_vs_downstream_dsprites.png"} <= _figures(dest)
    assert "(figures/distribution_dsprites.png)" in md and "(figures/disentanglement_vs_downstream_dsprites.png)" in md


def test_architectures_study_reports_the_method_by_architecture_table(architectures):
    dest, cfg = architectures
    md = (dest / "reports/summary.md").read_text()
    assert "## dsprites: method x architecture (linear/shape)" in md
    table = md.split("## dsprites: method x architecture", 1)[1]
    assert "| method | conv w8 | conv w16 | resnet w8 | resnet w16 |" in table
    for m in ("random_init", "rotation", "relative_patch"):
        row = next(line for line in table.splitlines() if line.startswith(f"| {m} |"))
        assert row.count("**") == 2, row  # the best backbone of each method marked
    comparison = md.split("## Against the untrained baseline", 1)[1]
    assert "| dsprites | rotation | kind_resnet-width16 | linear/shape |" in comparison and "Student t (1 seed)" in comparison
    assert {"distribution_dsprites.png", "rank_correlation_dsprites.png"} <= _figures(dest)
