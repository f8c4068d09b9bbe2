"""The MLflow UI over a smoke study's store, in a real headless browser (``make test-ui``).

Debian's chromium and chromium-driver driven by Selenium (no browser download at run time):
the experiment opens on its runs table, the encoders' rows show metric and parameter columns
side by side, the comparison view joins them, and a figure of the report renders on its
artifact page.  Screenshots go to reports/ui/.
"""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch

from sslpipe.tracking import UI_WORKFLOW, ui_address
from tests.test_mlflow_rows import run_smoke_study

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "reports" / "ui"
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.ui

#: the columns the test adds to the runs table: an evaluation metric, another, a method parameter
COLUMNS = ("linear/shape", "mig", "methods.beta_vae.beta")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(uri: str, cwd=None):
    """`mlflow ui` over the store ``uri`` on a free local port: its address once /health answers
    (stopped afterwards, with its workers)."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1",
                               "--port", str(port), "--workers", "1"], cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, server.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "mlflow ui did not answer /health in 120 s"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its workers, started in their own session
        server.wait(30)


@contextlib.contextmanager
def chrome():
    """Headless Debian Chromium driven by Selenium, 1600 x 900 (quit afterwards)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1600,900"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """A smoke study's store served by `mlflow ui` on a free local port (stopped afterwards)."""
    import mlflow

    if not (CHROMIUM and DRIVER):
        pytest.fail("chromium and chromedriver are not installed. Fix: apt-get install chromium chromium-driver")
    dest = tmp_path_factory.mktemp("ui-study")
    uri = f"sqlite:///{dest / 'mlflow.db'}"
    mp, threads = pytest.MonkeyPatch(), torch.get_num_threads()
    mp.chdir(dest)
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.delenv("DVC_EXP_NAME", raising=False)
    mlflow.set_tracking_uri(uri)
    try:
        cfg = run_smoke_study(dest)
    finally:
        torch.set_num_threads(threads)
    try:
        with serve(uri, dest) as url:
            client = mlflow.MlflowClient(uri)
            yield url, cfg, client, client.get_experiment_by_name(cfg.study.name).experiment_id
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def browser(ui):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chrome() as driver:
        yield driver


def _wait(driver, find, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = find()
        except Exception:  # noqa: BLE001 - the page is still rendering (stale or missing elements)
            found = None
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; page text: {driver.find_element('tag name', 'body').text[:1500]!r}")


def _button(driver, text: str):
    from selenium.webdriver.common.by import By

    return next((b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == text and b.is_displayed()), None)


def _add_columns(driver, keys) -> None:
    """Tick columns in the runs table's column selector, as a user does."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _wait(driver, lambda: _button(driver, "Columns"), "the Columns button").click()
    search = _wait(driver, lambda: driver.find_element(By.CSS_SELECTOR, "input[placeholder='Search columns']"), "the column search")
    for key in keys:
        search.send_keys(Keys.CONTROL, "a", Keys.BACKSPACE)
        search.send_keys(key)

        def node():
            for n in driver.find_elements(By.CSS_SELECTOR, "[data-testid='column-selector-tree'] [class*='tree-treenode']"):
                if n.text.strip() == key:
                    return n
            return None

        _wait(driver, node, f"column {key} in the column selector").find_element(By.CSS_SELECTOR, "[class*='tree-checkbox']").click()
    search.send_keys(Keys.ESCAPE)


def _table(driver) -> dict[str, dict[str, str]]:
    """Run name -> {column header: cell text} of the runs table's rendered rows (AG Grid: pinned and centre parts)."""
    from selenium.webdriver.common.by import By

    headers = {}
    for h in driver.find_elements(By.CSS_SELECTOR, ".ag-header-cell[col-id]"):
        if h.text.strip():
            headers[h.get_attribute("col-id")] = h.text.strip()
    rows: dict[str, dict[str, str]] = {}
    for r in driver.find_elements(By.CSS_SELECTOR, ".ag-row[row-index]"):
        cells = {headers.get(c.get_attribute("col-id"), c.get_attribute("col-id")): c.text.strip()
                 for c in r.find_elements(By.CSS_SELECTOR, ".ag-cell[col-id]")}
        rows.setdefault(r.get_attribute("row-index"), {}).update(cells)
    return {cells.get("Run Name", "").split("\n")[-1]: cells for cells in rows.values()}


def test_the_runs_table_shows_one_row_per_encoder_with_metrics_and_params(ui, browser):
    from selenium.webdriver.common.by import By

    url, cfg, client, exp_id = ui
    browser.get(ui_address(exp_id, url))  # the address `make ui` prints: the experiment itself, opening on its runs table
    names = {f"dsprites/{r.name}" for r in cfg.runs()}
    _wait(browser, lambda: names <= set(_table(browser)), "the encoders' rows")
    assert "Traces 0" not in browser.find_element(By.TAG_NAME, "body").text  # not the GenAI overview
    close = [b for b in browser.find_elements(By.CSS_SELECTOR, "button[aria-label='Close']") if b.is_displayed()]
    for b in close:  # the assistant's side panel takes a third of the width
        b.click()
    _add_columns(browser, COLUMNS)
    table = _wait(browser, lambda: (t := _table(browser)) and all(t.get(n, {}).get("linear/shape") not in (None, "", "-") for n in names) and t,
                  "metric values in the encoders' rows")
    browser.save_screenshot(str(SHOTS / "runs-table.png"))
    top = set(table)
    assert top == names | {"report/-/-", "shard/dsprites/-"}, top  # stage runs are nested, not rows
    for name in names:
        row = table[name]
        run = client.search_runs([exp_id], f"attributes.run_name = '{name}'")[0]
        assert float(row["linear/shape"]) == pytest.approx(run.data.metrics["linear/shape"], rel=1e-6), row
        assert float(row["mig"]) == pytest.approx(run.data.metrics["mig"], rel=1e-6), row
        assert "dsprites (" in row["Dataset"], row
        assert row["Models"] not in ("", "-"), row
    assert table["dsprites/beta_vae"]["methods.beta_vae.beta"] == client.search_runs(
        [exp_id], "attributes.run_name = 'dsprites/beta_vae'")[0].data.params["methods.beta_vae.beta"]


def test_the_comparison_view_joins_params_and_metrics(ui, browser):
    import json
    import urllib.parse

    from selenium.webdriver.common.by import By

    url, cfg, client, exp_id = ui
    rows = client.search_runs([exp_id], "tags.`sslpipe.role` = 'encoder'")
    ids = json.dumps([r.info.run_id for r in rows])
    browser.get(f"{url}/#/compare-runs?runs={urllib.parse.quote(ids)}&experiments={urllib.parse.quote(json.dumps([exp_id]))}&{UI_WORKFLOW}")
    # the metrics table renders its first rows only (alphabetical: alignment, betavae, ...)
    keys = ("methods.beta_vae.beta", "backbone.width", "alignment", "betavae", "Parallel Coordinates Plot")
    text = _wait(browser, lambda: (t := browser.find_element(By.TAG_NAME, "body").text) and all(k in t for k in keys) and t,
                 "the comparison of the encoders' parameters and metrics")
    assert all(r.info.run_name in text for r in rows)
    metrics = text[text.index("Metrics\nShow diff only"):text.index("Artifacts")]
    assert "alignment" in metrics and "betavae" in metrics
    browser.set_window_size(1600, 1500)
    _wait(browser, lambda: [e for e in browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot svg.main-svg") if e.is_displayed()],
          "the parallel coordinates plot")
    time.sleep(1)  # its lines are drawn after the frame
    browser.save_screenshot(str(SHOTS / "compare.png"))
    browser.set_window_size(1600, 900)


def test_a_report_figure_renders_on_its_artifact_page(ui, browser):
    from selenium.webdriver.common.by import By

    url, cfg, client, exp_id = ui
    (report,) = client.search_runs([exp_id], "tags.stage = 'report'")
    figure = next(f.path for f in client.list_artifacts(report.info.run_id, "reports/figures") if f.path.endswith(".png"))
    browser.get(f"{url}/#/experiments/{exp_id}/runs/{report.info.run_id}/artifacts/{figure}?{UI_WORKFLOW}")

    def image():
        for img in browser.find_elements(By.TAG_NAME, "img"):
            src = img.get_attribute("src") or ""
            # the artifact view fetches the file and shows it from a blob: address (older UIs: get-artifact)
            if (src.startswith("blob:") or "get-artifact" in src) and browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img):
                return img
        return None

    img = _wait(browser, image, f"the figure {figure} on its artifact page")
    assert figure in browser.find_element(By.TAG_NAME, "body").text  # the selected file's path heads the preview
    assert browser.execute_script("return arguments[0].naturalWidth", img) > 100
    browser.save_screenshot(str(SHOTS / "report-figure.png"))
