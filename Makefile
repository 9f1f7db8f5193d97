# rcbot developer commands. `make demo` and `make test` set up everything they need.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# Python 3.12 from pyenv when present (.python-version pins it), else python3.12 on PATH.
PYTHON ?= $(shell (command -v pyenv >/dev/null && pyenv which python3.12 2>/dev/null) || command -v python3.12 || echo python3.12)
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-sqlite lint typecheck bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: venv
	$(BIN)/rcbot demo

test: venv
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

# Only the SQLite half, for a machine without PostgreSQL.
test-sqlite: venv
	RCBOT_TEST_DATABASES=sqlite $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check bot surveys analytics tests
	$(BIN)/ruff format --check bot surveys analytics tests
	$(BIN)/mypy

bench: venv
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
