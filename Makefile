# Two commands on a fresh machine: `make demo` and `make test`. uv is bootstrapped with pip
# (its standalone installer is not reachable here) and the environment comes from uv.lock.
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
export UV_COMPILE_BYTECODE := 1
PERSONS ?= 20000
AS_OF ?= 2026-11-20
PORT ?= 8000

.PHONY: install demo test test-fast test-property lint bench clean serve system-deps airflow

$(UV):
	@echo "installing uv $(UV_VERSION) with pip (once per machine)"
	python3 -m pip install --user --progress-bar on "uv==$(UV_VERSION)"

# uv lists every package it installs; compiling their bytecode (faster starts afterwards) takes a minute or two
.venv/.synced: $(UV) pyproject.toml uv.lock
	@echo "installing the environment from uv.lock into .venv (then compiling bytecode: a minute or two)"
	$(UV) sync --frozen
	@touch $@

install: .venv/.synced

demo: install
	.venv/bin/doudi demo --out var --persons $(PERSONS) --as-of $(AS_OF)

# Tests in tiers (tests/conftest.py): `make test` runs every test on every core (pytest-xdist, a module's
# tests on one worker, the long groups first), the property test with one example; `make test-fast` the
# unit tier only (the inner loop); `make test-property` the property tests with all their examples.
# one worker more than cores: while one waits on Airflow, PostgreSQL or Chromium the others compute
# (2 cores: 10:42 with 2 workers, 9:49 with 3, the same 1,446 tests)
JOBS ?= $(shell echo $$(( $$(nproc) + 1 )))
PYTEST := .venv/bin/pytest -q -p no:cacheprovider
XDIST := -n $(JOBS) --dist loadfile --no-loadscope-reorder

# var/test-results.xml: every test's seconds (and the 25 slowest on the terminal)
test: install
	$(PYTEST) $(XDIST) --durations=25 --junitxml=var/test-results.xml

test-fast: install
	$(PYTEST) $(XDIST) -m unit

test-property: install
	DOUDI_PROPERTY=full $(PYTEST) -m property

# Debian packages for the casework and report tests (Chromium for browser tests and the report PDF, CJK fonts,
# PostgreSQL, poppler-utils: pdftoppm turns report PDFs into pages); needs root or sudo.
system-deps:
	@missing=""; for p in chromium fonts-noto-cjk postgresql-15 poppler-utils; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

# the caseworkers' web application on the demo's store (after `make demo`); `make serve PORT=8001` for another port
serve: install
	DOUDI_CASEWORK_DB=sqlite:///$(CURDIR)/var/casework.sqlite3 .venv/bin/doudi serve --port $(PORT)

# a local Airflow (standalone, SQLite, LocalExecutor) with the nightly DAG and two generated counties
airflow: install
	.venv/bin/python -m pipelines.orchestration.airflow_local --home var/airflow --port 8080

lint: install
	.venv/bin/ruff check .

bench: install
	$(UV) sync --frozen --group bench
	.venv/bin/python bench/night.py
	.venv/bin/python bench/linkage.py --febrl
	.venv/bin/python bench/linkage.py --persons 200000
	$(UV) sync --frozen  # back to the project's own environment

clean:
	rm -rf var .pytest_cache
