# Two commands on a fresh machine: `make demo` and `make test`. uv is bootstrapped with pip
# (its standalone installer is not reachable here) and the environment comes from uv.lock.
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
export UV_COMPILE_BYTECODE := 1
PERSONS ?= 20000
AS_OF ?= 2026-11-20

.PHONY: install demo test lint bench clean

$(UV):
	python3 -m pip install --quiet --user "uv==$(UV_VERSION)"

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen
	@touch $@

install: .venv/.synced

demo: install
	.venv/bin/doudi demo --out var --persons $(PERSONS) --as-of $(AS_OF)

test: install
	.venv/bin/pytest -q

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
