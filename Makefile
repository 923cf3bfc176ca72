# TicketToken Analytics. `make help` lists the targets; `make run` and `make test` are all a newcomer needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
UV := $(PYTHON) -m uv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: uv
uv: ## Install uv itself when missing
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv

.PHONY: install
install: uv ## Install the locked dependencies into .venv
	$(UV) sync --locked

.PHONY: services
services: ## Install what the tests start or drive themselves (redis-server; socket.io-client and @clickhouse/client from npm)
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq redis-server >/dev/null; }
	@redis-server --version
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm >/dev/null; }
	npm ci --prefix tests/e2e/node --no-audit --no-fund --silent

.PHONY: run
run: install ## Install everything and serve the API on :3009 (embedded warehouse as needed; demo data when empty, live traffic)
	$(UV) run --locked tickettoken serve --demo

.PHONY: lint
lint: install ## ruff: lint and format check
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .

.PHONY: types
types: install ## mypy, strict
	$(UV) run --locked mypy

.PHONY: pytest
pytest: install services ## The test suite only
	$(UV) run --locked pytest

.PHONY: test
test: install services lint types pytest ## Install everything, then lint, type-check and run the whole suite

.PHONY: bench
bench: install services ## Benchmarks (bench/): each prints its figure beside a ceiling from the same run
	$(UV) run --locked python -m bench.warehouse
	$(UV) run --locked python -m bench.ingest
	$(UV) run --locked python -m bench.demo
	$(UV) run --locked python -m bench.realtime

.PHONY: dbt
dbt: install ## dbt build: the models and their tests, on the warehouse TICKETTOKEN_* names (start the service first)
	$(UV) run --locked dbt build --project-dir dbt_project --profiles-dir dbt_project

.PHONY: format
format: install ## Reformat and apply safe lint fixes
	$(UV) run --locked ruff format .
	$(UV) run --locked ruff check --fix .

.PHONY: hooks
hooks: install ## Install the git pre-commit hooks
	$(UV) run --locked pre-commit install

.PHONY: clean
clean: ## Remove caches (keeps ./data)
	rm -rf .mypy_cache .ruff_cache .pytest_cache dbt_project/target dbt_project/logs
