"""A stage starts by importing only what it uses: loading the study's configuration (every
registry complete, params.yaml validated) pulls in neither scikit-learn, SciPy, MLflow,
matplotlib nor Kornia; those load where metrics run, runs are tracked, figures are drawn
and views are made.  Checked in a fresh interpreter, since this process has them loaded."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

HEAVY = ("sklearn", "scipy", "mlflow", "matplotlib", "kornia", "pandas", "joblib", "gensim")


def loaded_after(code: str) -> dict:
    """The heavy packages in sys.modules after running ``code`` in a fresh interpreter, and what it printed."""
    probe = code + f"\nimport json, sys\nprint(json.dumps({{'loaded': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_loading_the_study_imports_no_heavy_library():
    got = loaded_after("from sslpipe.config import load\ncfg = load('params.yaml')\nassert cfg.runs()")
    assert got["loaded"] == []


def test_metric_registry_is_complete_without_its_libraries():
    got = loaded_after(
        "from sslpipe import evaluate\nfrom sslpipe.evaluate.base import METRICS\n"
        "names = METRICS.names()\nassert {'linear', 'dci', 'mig', 'sap', 'kmeans', 'betavae', 'factorvae', 'lowshot'} <= set(names), names"
    )
    assert got["loaded"] == []


def test_the_cli_parser_and_stage_declarations_import_no_heavy_library():
    got = loaded_after("from sslpipe.cli import build_parser\nbuild_parser()\nfrom sslpipe.stages import STAGES\nassert STAGES")
    assert got["loaded"] == []


def test_the_probe_sees_a_heavy_import():
    assert loaded_after("import sslpipe.evaluate.probes as p\nimport numpy as np\n"
                        "p.knn_probe(np.eye(4), [0, 1, 0, 1], np.eye(4), [0, 1, 0, 1], k=1)")["loaded"][:1] == ["sklearn"]
