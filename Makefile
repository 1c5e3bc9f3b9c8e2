# Two commands matter: `make demo` and `make test`. Everything else is a building block.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install browser up demo test chaos faults bench lint audit format asyncapi screenshot clean

$(STAMP): pyproject.toml
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# Debian's chromium, which the dashboard's browser test drives through Playwright (whose own
# browser download needs a host we do not reach). Installed once; root or sudo needed then.
CHROMIUM ?= chromium
browser:
	@command -v $(CHROMIUM) >/dev/null || { \
		SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# make up REPLICAS=2: each service as two processes behind a balancer on its usual port.
REPLICAS ?= 1
up: install
	$(PY) -m shared.devstack up --replicas $(REPLICAS)

demo: install
	$(VENV)/bin/campaignctl demo

test: install browser
	$(PY) -m pytest

# The chaos test at full size: 200 payments and 100 refunds through two SIGKILLs (make test
# runs it small).
chaos: install
	CHAOS_PAYMENTS=200 CHAOS_REFUNDS=100 $(PY) -m pytest tests/chaos -v

# The fault suite at full size: 1,000 payments with refunds and a live campaign through each
# fault in turn, one table row per fault (make test runs it small). FAULTS_ARGS adds options,
# e.g. FAULTS_ARGS="--payments 200 --fault poison".
faults: install
	$(PY) -m tests.faults $(FAULTS_ARGS)

bench: install
	$(PY) -m tests.benchmarks

# The installed packages against PyPI's vulnerability records (this project itself is skipped:
# it is not on PyPI). Fails on any known vulnerability; where PyPI cannot be reached it lists
# each package it could not audit rather than passing silently.
audit: install
	$(VENV)/bin/pip-audit --skip-editable --progress-spinner off --desc on

lint: install
	$(VENV)/bin/ruff check services shared tests
	$(VENV)/bin/ruff format --check services shared tests
	$(VENV)/bin/mypy services shared

format: install
	$(VENV)/bin/ruff check --fix services shared tests
	$(VENV)/bin/ruff format services shared tests

# docs/images/dashboard.png: the campaign page of a campaign with payments and optimiser
# cycles (verdicts, weights, allocation, bids), as the browser test builds it.
screenshot: install browser
	DASHBOARD_SCREENSHOT=docs/images/dashboard.png $(PY) -m pytest tests/browser -q

asyncapi: install
	$(PY) -m shared.asyncapi docs/asyncapi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
