# laserlab — the two commands are `make report` and `make test`; both set up .venv first when needed.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
# The stamp records a finished install; it is older than requirements.txt/pyproject.toml when they change.
STAMP := $(VENV)/.laserlab-installed
PROFILE ?= quick
PYTEST_ARGS ?=
# Widget renderer for offline HTML reports, fetched from npm when npm is available (never committed).
VENDOR := $(VENV)/share/laserlab/vendor
HTML_MANAGER := @jupyter-widgets/html-manager@1.0.15
REQUIREJS := requirejs@2.3.8

.PHONY: setup report test test-fast lab lint clean distclean

setup: $(STAMP) $(VENDOR)/embed-amd.js

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -r requirements.txt -e .
	@touch $@

# Optional: without npm (or offline) reports still work, but widgets render only with internet.
$(VENDOR)/embed-amd.js: | $(STAMP)
	@if command -v npm >/dev/null 2>&1; then \
	  tmp=$$(mktemp -d) && cd $$tmp && \
	  npm pack --silent $(HTML_MANAGER) $(REQUIREJS) >/dev/null 2>&1 && \
	  mkdir -p html-manager requirejs && \
	  tar -xzf jupyter-widgets-html-manager-*.tgz -C html-manager && tar -xzf requirejs-*.tgz -C requirejs && \
	  mkdir -p $(abspath $(VENDOR)) && \
	  cp html-manager/package/dist/embed-amd.js requirejs/package/require.js $(abspath $(VENDOR))/ && \
	  echo "widget renderer for offline reports: $(VENDOR)" || \
	  echo "warning: could not fetch $(HTML_MANAGER) from npm; report widgets will need internet"; \
	  rm -rf $$tmp; \
	else echo "note: npm not found; report widgets will need internet to render (static figures are unaffected)"; fi

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
