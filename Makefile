# Workroom: `make run` serves the dashboard with a seeded Control Room emulator; `make test` runs every check.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
# Test processes (pytest-xdist): the tests mostly wait on HTTP, workers and browsers, so 3 of
# them halve a run even on 2 cores (README, "Set-up"); TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= 3
PYTEST := $(VENV)/bin/pytest --durations=15
# $(1): test paths, $(2): environment. Tests marked serial measure time or throughput that the
# other processes' tests would distort, so they run after the others, in one process (exit 5:
# none under $(1)).
define run_tests
	$(2) $(PYTEST) -n $(TEST_WORKERS) -m "not serial" $(1)
	$(2) $(PYTEST) -p no:xdist -m serial $(1) || test $$? -eq 5
endef
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test lint typecheck test-sqlite test-postgres services venv emulator bench bench-full clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

services:
	@scripts/ensure-services.sh

run: venv
	@WORKROOM_NEED_POSTGRES=0 WORKROOM_BROWSER_TESTS=0 scripts/ensure-services.sh
	@scripts/run.sh

emulator: venv
	$(PY) -m robocorp_api.emulator --host 127.0.0.1 --port 8765 --seed demo

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	WORKROOM_DEV=1 $(VENV)/bin/mypy robocorp_api dashboard workroom_cli tests benchmarks

test-sqlite: venv services
	$(call run_tests,tests)

test-postgres: venv services
	$(call run_tests,tests/dashboard,DATABASE_URL=$(PG_URL))

test: venv services lint typecheck test-sqlite test-postgres

bench: venv services
	$(PY) benchmarks/run_all.py

bench-full: venv services
	$(PY) benchmarks/run_all.py --full

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
