# sslpipe: `make repro` runs the default study, `make test` the test suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
export PATH := $(BIN):$(PATH)

.PHONY: install repro test test-cluster test-tracking test-ui ui-screenshots tracking-server smoke study ui bench bench-study clean-outputs

install: $(STAMP)

# torch first, from the local CPU wheel: an unpinned torch would pull gigabytes of CUDA packages.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,cluster,ui]'
	rm -f $(VENV)/.installed-*
	touch $@

repro: install
	$(BIN)/sslpipe validate
	$(BIN)/sslpipe init-tracking
	$(BIN)/dvc repro
	@echo
	@echo "Summary: reports/summary.md (table) and reports/summary.json; figures in reports/figures/"
	@echo "Browse every run in MLflow: make ui  (it prints the address of the study's runs table)"

# Two pytest-xdist workers (TEST_WORKERS=0 runs in one process), each taking whole modules.
TEST_WORKERS ?= 2
test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# The smoke study through SLURM: a one-node cluster on this machine (installed with apt-get if
# missing, needs root), every stage an sbatch job, the summary compared with a local run; the
# daemons are stopped afterwards, also on failure.
test-cluster: install
	workflow/cluster/slurm-local.sh run -- $(BIN)/python -m pytest -q -m cluster tests/test_cluster.py

# MLflow tracking server on PostgreSQL (both local, stopped afterwards) and load tests: 16 stage
# processes against the server, 16 Snakemake jobs 4 at a time against the SQLite store.
test-tracking: install
	workflow/cluster/tracking-server.sh run -- $(BIN)/python -m pytest -q -s -m tracking tests/test_tracking_server.py

# Shared tracking server for parallel jobs: export MLFLOW_TRACKING_URI=http://127.0.0.1:5000
tracking-server: install
	workflow/cluster/tracking-server.sh serve

# The MLflow UI over a smoke study's store in headless chromium (Debian's chromium and chromium-driver,
# installed with apt-get if missing, needs root): runs table, comparison view, a report figure;
# screenshots in reports/ui/.
test-ui: install
	command -v chromedriver >/dev/null || { apt-get update -q && apt-get install -y -q chromium chromium-driver; }
	$(BIN)/python -m pytest -q -m ui tests/test_ui.py

# the README's MLflow screenshots from a built study's store (STUDY_DIR: its params.yaml and mlflow.db)
STUDY_DIR ?= .
ui-screenshots: install
	command -v chromedriver >/dev/null || { apt-get update -q && apt-get install -y -q chromium chromium-driver; }
	$(BIN)/python -m tests.ui_screenshots $(STUDY_DIR) docs/img

smoke: install
	$(BIN)/sslpipe smoke

# a ready-made study in its own copy under studies/<name>/: make study STUDY=disentanglement [SIZE=smoke|paper]
study: install
	$(BIN)/sslpipe study $(or $(STUDY),disentanglement) --size $(or $(SIZE),cpu)

bench: install
	$(BIN)/sslpipe bench

# a built study's overheads: a stage's fixed cost, no-op dvc repro and dvc status, the last run's stage times
bench-study: install
	$(BIN)/sslpipe bench --study

ui: install
	$(BIN)/sslpipe init-tracking
	$(BIN)/mlflow ui --backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlflow.db}" --host 127.0.0.1 --port 5000

clean-outputs:
	rm -rf data/shards models logs embeddings metrics plots reports .cache/resume .cache/code
