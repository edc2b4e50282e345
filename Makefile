# Blue Gateway — `make run` tries it locally, `make test` runs everything CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# `make run` needs the gateway and its runtime dependencies only; the test toolchain (pytest, ruff,
# mypy, schemathesis...) and the example plugins tests load are added by `make test` / `make install`.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
# setuptools prints an information-only notice ("Editable installation") for every editable install it
# serves through an import hook, which it needs because blue_gateway_templates lives in templates/.
# The notice warns about folders shadowing the package; none does here, so it is filtered by its text.
PIP_INSTALL := PYTHONWARNINGS="ignore:Editable installation:UserWarning" $(BIN)/python -m pip install --quiet
# Node packages in the tree (each folder with a package-lock.json) install with `npm ci` for the tests.
NODE_LOCKS := $(shell find . -name package-lock.json -not -path '*/node_modules/*' -not -path './$(VENV)/*')
NODE_STAMPS := $(NODE_LOCKS:package-lock.json=node_modules/.installed)

.PHONY: run test lint typecheck unit bench bench-quick install install-run clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): $(BIN)/python pyproject.toml
	$(PIP_INSTALL) -e .
	touch $@

$(DEV_STAMP): $(BIN)/python pyproject.toml tests/example_plugin/pyproject.toml
	$(PIP_INSTALL) -e '.[dev]' -e tests/example_plugin
	touch $@ $(RUN_STAMP)

%/node_modules/.installed: %/package-lock.json %/package.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $* && npm ci --no-audit --no-fund && touch node_modules/.installed; \
	else echo "npm not found: the tests that need $* skip (and fail when CI=true)"; fi

install-run: $(RUN_STAMP)

install: $(DEV_STAMP)

# Local try-out on the embedded default (SQLite + in-memory broker). Private targets are allowed here so
# you can deliver to a receiver on your own machine; production runs `blue-gateway serve` without it.
run: $(RUN_STAMP)
	BLUE_GATEWAY_ALLOW_PRIVATE_TARGETS=$${BLUE_GATEWAY_ALLOW_PRIVATE_TARGETS:-true} $(BIN)/blue-gateway serve

lint: $(DEV_STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

# Everything, markers included: `integration` (real PostgreSQL/Redis/RabbitMQ/NATS) and `slow`.
test: lint typecheck $(NODE_STAMPS)
	$(BIN)/python -m pytest

# The quick loop while editing: no real services, no long end-to-end runs.
unit: $(DEV_STAMP)
	$(BIN)/python -m pytest -m "not integration and not slow"

# Every scenario in one run (~5 min): a table of targets, and bench/results.json. ARGS=--quick for a smoke run.
bench: $(RUN_STAMP)
	$(BIN)/python -m bench $(ARGS)

bench-quick: $(RUN_STAMP)
	$(BIN)/python -m bench --quick $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
