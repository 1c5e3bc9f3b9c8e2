# Two commands matter: `make demo` and `make test`. Everything else is a building block.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install up demo test chaos bench lint format asyncapi clean

$(STAMP): pyproject.toml
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

up: install
	$(PY) -m shared.devstack up

demo: install
	$(VENV)/bin/campaignctl demo

test: install
	$(PY) -m pytest

# The chaos test at full size: 200 payments and 100 refunds through two SIGKILLs (make test
# runs it small).
chaos: install
	CHAOS_PAYMENTS=200 CHAOS_REFUNDS=100 $(PY) -m pytest tests/chaos -v

bench: install
	$(PY) -m tests.benchmarks

lint: install
	$(VENV)/bin/ruff check services shared tests
	$(VENV)/bin/ruff format --check services shared tests
	$(VENV)/bin/mypy services shared

format: install
	$(VENV)/bin/ruff check --fix services shared tests
	$(VENV)/bin/ruff format services shared tests

asyncapi: install
	$(PY) -m shared.asyncapi docs/asyncapi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
