# TicketAI: two commands for a fresh machine.
#   make demo   everything embedded (SQLite + filesystem broker under var/), served on 127.0.0.1:$(PORT)
#   make test   lint (ruff, import contracts, mypy) and the whole pytest suite against real
#               PostgreSQL and Redis, with a coverage report (what CI runs)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Tests run against real servers; override either on the command line or in the environment.
TEST_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/ticketai)
TEST_REDIS_URL ?= $(or $(REDIS_URL),redis://127.0.0.1:6379/0)
PYTEST_ARGS ?=
# pytest-xdist workers; each needs its own Redis database after TEST_REDIS_URL's (16 in all).
TEST_WORKERS ?= 2
BENCH_ARGS ?=

# Stamps newer than the requirements files make a second run a no-op instead of a pip resolve.
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: help demo test test-fast lint format bench clean chromium

help:
	@echo "make demo    run TicketAI with demo data on http://127.0.0.1:$(PORT)/ (Ctrl-C stops it)"
	@echo "make test    lint and run the test suite (needs PostgreSQL and Redis; see .ci/run)"
	@echo "make test-fast   ruff, import contracts and the tests without a browser or the slow marker (under 2 min)"
	@echo "make lint | format | bench | clean"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(RUNTIME_STAMP) $@

demo: $(RUNTIME_STAMP)
	VENV=$(VENV) PORT=$(PORT) scripts/demo.sh

# Browser tests drive Debian's Chromium; `playwright install` downloads a browser and fails offline.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "Installing Debian chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

# Every test, with a coverage report in the terminal (no threshold: it informs, it does not gate).
# Two parts: the suite on $(TEST_WORKERS) pytest-xdist workers (each on its own test database and
# Redis database, tests/settings.py), then alone the tests marked serial (they restart the shared
# PostgreSQL); the second adds its coverage to the first's and prints the report.
test: lint chromium
	DATABASE_URL="$(TEST_DATABASE_URL)" REDIS_URL="$(TEST_REDIS_URL)" $(BIN)/pytest -n $(TEST_WORKERS) \
		-m "not serial" --cov --cov-report= $(PYTEST_ARGS)
	status=0; DATABASE_URL="$(TEST_DATABASE_URL)" REDIS_URL="$(TEST_REDIS_URL)" $(BIN)/pytest \
		-m serial --cov --cov-append --cov-report=term:skip-covered $(PYTEST_ARGS) || status=$$?; \
	[ $$status = 0 ] || [ $$status = 5 ]  # 5: PYTEST_ARGS chose no serial test

# The inner loop: ruff and the import contracts (mypy is left to `make lint` and `make test`), then
# the tests without a browser or anything marked slow (workers, servers, real training runs).
test-fast: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	DATABASE_URL="$(TEST_DATABASE_URL)" REDIS_URL="$(TEST_REDIS_URL)" $(BIN)/pytest -n $(TEST_WORKERS) \
		-m "not browser and not slow" --reuse-db -q $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy --strict edge_agent
	$(BIN)/mypy ml/core ml/serving

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Every benchmarks/*.py script (not _private helpers), against the test servers; each prints its figures.
bench: $(DEV_STAMP)
	@found=0; for script in benchmarks/*.py; do \
		case "$$(basename $$script)" in _*) continue;; esac; \
		found=1; echo "== $$script"; \
		DATABASE_URL="$(TEST_DATABASE_URL)" REDIS_URL="$(TEST_REDIS_URL)" \
			$(BIN)/python -m benchmarks.$$(basename $$script .py) $(BENCH_ARGS); \
	done; [ $$found = 1 ] || echo "no benchmarks yet under benchmarks/"

clean:
	rm -rf staticfiles .pytest_cache .ruff_cache .import_linter_cache .mypy_cache .coverage test-artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
	@echo "Kept var/ (demo database, models) and $(VENV); remove them by hand for a fresh start."
