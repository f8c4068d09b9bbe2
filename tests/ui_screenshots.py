"""Screenshots of the MLflow UI over a built study's store, for the README (``make ui-screenshots``).

    python -m tests.ui_screenshots [STUDY_DIR] [OUT_DIR]

STUDY_DIR (default: the repository) holds the study's params.yaml and mlflow.db; the
screenshots go to OUT_DIR (default: docs/img): the runs table of the encoders with the probe,
MIG and a method parameter as columns (``mlflow-runs-table.png``), and the comparison view of
one dataset's generative encoders against random_init's seeds (``mlflow-compare.png``).  The
same browser steps as ``tests/test_ui.py`` (which asserts what they show on a smoke study);
here they are only driven, so any study's store can be pictured.
"""
from __future__ import annotations

import json
import sys
import time
import urllib.parse
from pathlib import Path

from tests.test_ui import CHROMIUM, DRIVER, _add_columns, _button, _table, _wait, chrome, serve

#: the comparison: the generative family on dSprites and the baseline's seeds
COMPARE = ("random_init", "ae", "vae", "beta_vae", "beta_tcvae", "factor_vae", "dip_vae", "annealed_vae")


def _plot_axes(driver, metrics) -> None:
    """Make the parallel-coordinates plot's axes ``metrics`` (the UI preselects parameters, which
    differ per method and say little across methods), coloured by the last one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _wait(driver, lambda: _button(driver, "Clear All"), "the plot's Clear All button").click()
    time.sleep(0.5)
    box = _wait(driver, lambda: driver.find_element(By.XPATH, "//*[normalize-space(text())='Metrics:']/following::input[1]"), "the plot's metric box")
    for metric in metrics:
        box.send_keys(metric)
        time.sleep(0.5)
        box.send_keys(Keys.ENTER)
        time.sleep(0.3)
    box.send_keys(Keys.ESCAPE)
    time.sleep(1.5)


def main(study: Path, out: Path) -> None:
    import mlflow
    from selenium.webdriver.common.by import By

    from sslpipe.config import load
    from sslpipe.tracking import UI_WORKFLOW, ui_address

    if not (CHROMIUM and DRIVER):
        raise SystemExit("chromium and chromedriver are not installed. Fix: apt-get install chromium chromium-driver")
    cfg = load(study / "params.yaml")
    uri = f"sqlite:///{study / 'mlflow.db'}"
    out.mkdir(parents=True, exist_ok=True)
    with serve(uri) as url, chrome() as driver:
        client = mlflow.MlflowClient(uri)
        exp_id = client.get_experiment_by_name(cfg.study.name).experiment_id
        rows = client.search_runs([exp_id], "tags.`sslpipe.role` = 'encoder'", max_results=1000)
        driver.get(ui_address(exp_id, url))
        _wait(driver, lambda: len(_table(driver)) > 5, "the encoders' rows")
        for b in [b for b in driver.find_elements(By.CSS_SELECTOR, "button[aria-label='Close']") if b.is_displayed()]:
            b.click()  # the assistant's side panel
        param = "methods.beta_vae.beta" if any("methods.beta_vae.beta" in r.data.params for r in rows) else "backbone.kind"
        _add_columns(driver, ("linear/shape", "mig", param))
        _wait(driver, lambda: any(r.get("linear/shape") not in (None, "", "-") for r in _table(driver).values()), "metric values")
        time.sleep(1)
        driver.save_screenshot(str(out / "mlflow-runs-table.png"))

        dsprites = [r for r in rows if r.data.tags.get("dataset") == "dsprites"]
        chosen = [r.info.run_id for r in dsprites if r.data.tags.get("method") in COMPARE]
        if not chosen:  # a study without the generative family: its first encoders
            chosen = [r.info.run_id for r in dsprites][:8]
        driver.get(f"{url}/#/compare-runs?runs={urllib.parse.quote(json.dumps(chosen))}"
                   f"&experiments={urllib.parse.quote(json.dumps([exp_id]))}&{UI_WORKFLOW}")
        _wait(driver, lambda: "Parallel Coordinates Plot" in driver.find_element(By.TAG_NAME, "body").text, "the comparison view")
        driver.set_window_size(1600, 1500)
        _wait(driver, lambda: [e for e in driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot svg.main-svg") if e.is_displayed()],
              "the parallel coordinates plot")
        _plot_axes(driver, ("mig", "betavae", "dci/disentanglement", "linear/shape"))
        driver.save_screenshot(str(out / "mlflow-compare.png"))
        print(f"{out / 'mlflow-runs-table.png'}, {out / 'mlflow-compare.png'}: {len(chosen)} encoders compared, store {uri}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(Path(args[0] if args else ".").resolve(), Path(args[1] if len(args) > 1 else "docs/img").resolve())
