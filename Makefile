# Unlearning Lens — set-up, demo and tests. Everything runs inside .venv/ in the repo root.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8501
WORKSPACE ?= sample_data/digits
export NUMBA_CACHE_DIR := $(CURDIR)/.numba_cache
export PYTHONHASHSEED := 0

.PHONY: venv demo test lint typecheck pytest bench samples precompute chromium clean

venv: $(STAMP)

# torch==2.13.0 (CPU build on this machine's disk) goes in first, through constraints.txt:
# a bare "torch>=2.2" in a fresh venv would resolve to a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt "torch==2.13.0"
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# Fills the result cache in the foreground (every scenario's models table, default pair and UMAP
# maps), with one progress line and each distinct warning once.
precompute: venv
	$(BIN)/ulens precompute $(WORKSPACE)

# Image export (PNG/SVG/PDF) needs a Chromium for kaleido: installed when missing and permitted
# (root + apt-get), else one line says how; never fails (CSV and the HTML report need none).
chromium: venv
	@scripts/ensure_chromium.sh $(BIN)/python

# The dashboard starts at once; it precomputes the default pair in the background (a task of the
# workspace's worker pool; its progress and events are printed here) and the first page draws
# from the fast part. ULENS_PRECOMPUTE=0 turns the background precompute off.
demo: venv chromium
	$(BIN)/ulens dashboard $(WORKSPACE) --port $(PORT)

lint: venv
	$(BIN)/ruff check analysis dashboard tests bench
	$(BIN)/ruff format --check analysis dashboard tests bench

typecheck: venv
	$(BIN)/mypy analysis dashboard

# pytest's exit code 5 ("no tests collected") is a failure here: the suite is never empty.
pytest: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test: lint typecheck pytest

bench: venv
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/runs.py

samples: venv
	$(BIN)/ulens build-samples $(WORKSPACE)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .numba_cache test-artifacts
