# Every set-up step of the project lives here; nothing is installed by hand.
#   make demo   - install everything, then run the main job on embedded defaults
#   make test   - install everything, then run the whole test suite
#   make lint   - ruff + mypy (CI runs it)
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
export UV_PYTHON_DOWNLOADS := never

.PHONY: setup demo test lint bench compile clean mutation
.DEFAULT_GOAL := test

setup: .venv/.synced node_modules/.installed
	@scripts/postgres.sh install || echo "make setup: PostgreSQL could not be installed (needs root: sudo scripts/postgres.sh install); the database tests will fail" >&2

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --quiet --python $(PYTHON)
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	.venv/bin/ledger demo --out demo-out

test: setup
	.venv/bin/python -m pytest

lint: .venv/.synced
	.venv/bin/ruff check .
	.venv/bin/ruff format --check ledger api
	.venv/bin/mypy

bench: setup
	.venv/bin/ledger bench crypto

# Mutation testing (not in CI; ~1 h on 2 cores): mutmut over the modules [tool.mutmut] names in
# pyproject.toml, killed by the tests it names. Equivalent mutants: tests/MUTATION.md.
mutation: setup
	rm -rf mutants && mkdir mutants && ln -s ../node_modules mutants/node_modules
	.venv/bin/mutmut run --max-children 2 || true
	.venv/bin/mutmut results --all true > mutants/results.txt || true
	.venv/bin/python scripts/mutation_report.py

compile: setup
	.venv/bin/python scripts/compile.py

clean:
	rm -rf .venv .tools node_modules .venv-brownie build reports mutants .pytest_cache .mypy_cache .ruff_cache
