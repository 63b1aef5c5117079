# The two commands of the contract: `make up` runs Dojo on the embedded default,
# `make test` runs the whole test suite. Both create .venv on first use.
PYTHON ?= python3
# two pytest-xdist workers: the system tests on one, the CPU-only rest on the other
# (tests/conftest.py); PYTEST_WORKERS=0 runs everything in this process
PYTEST_WORKERS ?= 2
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test lint install clean-venv config-table

up: $(STAMP)
	$(BIN)/dojo up $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

install: $(STAMP)

# docs/configuration.md: the table of DOJO_* variables, regenerated from Settings (a test checks it)
config-table: $(STAMP)
	$(BIN)/python -m dojo.config_table

# torch goes first and alone: pinned to the CPU build on disk, so that nothing
# later resolves a CUDA build of several gigabytes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
