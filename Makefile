# rcbot developer commands. `make demo` and `make test` set up everything they need.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# Python 3.12 from pyenv when present (.python-version pins it), else python3.12 on PATH.
PYTHON ?= $(shell (command -v pyenv >/dev/null && pyenv which python3.12 2>/dev/null) || command -v python3.12 || echo python3.12)
STAMP := $(VENV)/.installed
# Playwright (a dev dependency) drives Debian's /usr/bin/chromium; it never downloads a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

PLAYGROUND := tests/teams_playground
PLAYGROUND_STAMP := $(PLAYGROUND)/node_modules/.installed

.PHONY: venv playground demo test test-sqlite lint typecheck bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# Microsoft's Teams tools for the tests, pinned in tests/teams_playground/package-lock.json:
# the Agents Playground and the Adaptive Cards parser. Without npm the tests that need them
# are skipped locally (CI installs Node and fails instead).
playground: $(PLAYGROUND_STAMP)

$(PLAYGROUND_STAMP): $(PLAYGROUND)/package.json $(PLAYGROUND)/package-lock.json
	@if command -v npm >/dev/null; then \
		cd $(PLAYGROUND) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error && touch node_modules/.installed; \
	else \
		echo "npm is not installed: the Teams Playground tests will be skipped"; \
	fi

demo: venv
	$(BIN)/rcbot demo

test: venv playground
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

# Only the SQLite half, for a machine without PostgreSQL.
test-sqlite: venv playground
	RCBOT_TEST_DATABASES=sqlite $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check bot surveys analytics tests benchmarks
	$(BIN)/ruff format --check bot surveys analytics tests benchmarks
	$(BIN)/mypy

bench: venv
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info $(PLAYGROUND)/node_modules artifacts
