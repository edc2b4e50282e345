# Blue Gateway — `make run` tries it locally, `make test` runs everything CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench bench-quick install clean node-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml tests/example_plugin/pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e tests/example_plugin
	touch $(STAMP)

install: $(STAMP)

# Local try-out on the embedded default (SQLite + in-memory broker). Private targets are allowed here so
# you can deliver to a receiver on your own machine; production runs `blue-gateway serve` without it.
run: $(STAMP)
	BLUE_GATEWAY_ALLOW_PRIVATE_TARGETS=$${BLUE_GATEWAY_ALLOW_PRIVATE_TARGETS:-true} $(BIN)/blue-gateway serve

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The Zapier app's packages, exactly as locked, when Node is here (its test skips without it, fails in CI).
node-deps:
	@if command -v npm >/dev/null 2>&1; then \
		cd integrations/zapier && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; }; \
	fi

test: lint typecheck node-deps
	$(BIN)/python -m pytest

# Every scenario in one run (~5 min): a table of targets, and bench/results.json. ARGS=--quick for a smoke run.
bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
