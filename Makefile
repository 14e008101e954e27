# laserlab — the two commands are `make report` and `make test`; both set up .venv first when needed.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
# The stamp records a finished install; it is older than requirements.txt/pyproject.toml when they change.
STAMP := $(VENV)/.laserlab-installed
PROFILE ?= quick
PYTEST_ARGS ?=

.PHONY: setup report test test-fast lab lint clean distclean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -r requirements.txt -e .
	@touch $@

report: setup
	$(PY) -m laserlab report --profile $(PROFILE)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lab: setup
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

lint: setup
	$(VENV)/bin/ruff check lib tests notebooks
	$(VENV)/bin/ruff format --check lib tests

clean:
	rm -rf reports .pytest_cache .ruff_cache lightning_logs
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
