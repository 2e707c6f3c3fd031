# Quick start: `make run` (IdP + demo portal with demo data) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test lint typecheck unit system-deps node-deps bench soak clean docs docs-reference docs-screenshots

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.base | system-deps
	$(PIP) install -q -e '.[test]'
	touch $@

system-deps:
	@scripts/system-deps.sh

node-deps: tests/e2e/node_modules/.installed

tests/e2e/node_modules/.installed: tests/e2e/package.json tests/e2e/package-lock.json
	npm ci --prefix tests/e2e --no-audit --no-fund --silent
	touch $@

## Start the IdP (http://localhost:8000) and the demo portal (http://localhost:8001) on SQLite + in-process store.
run: $(VENV)/.base
	$(PY) -m idp demo run

lint: $(VENV)/.test
	$(VENV)/bin/ruff check idp tests bench alembic

typecheck: $(VENV)/.test
	$(VENV)/bin/mypy

## Lint, type-check and run every test (unit, integration on PostgreSQL + Redis, e2e browser / PC/SC / nginx).
test: $(VENV)/.test node-deps lint typecheck
	$(VENV)/bin/pytest -q

unit: $(VENV)/.test
	$(VENV)/bin/pytest -q tests/unit

bench: $(VENV)/.test
	$(PY) bench/run.py

## Build the documentation site into site/ with --strict (a broken link, an unlisted page or a stale generated page
## fails). `make test` builds it too (tests/unit/test_docs.py).
docs: $(VENV)/.test
	$(PY) scripts/docs_reference.py --check
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

## Regenerate the reference pages (configuration, admin API) from the code.
docs-reference: $(VENV)/.test
	$(PY) scripts/docs_reference.py

## Retake the screenshots in docs/img/ (Chromium, through the real pages).
docs-screenshots: $(VENV)/.test node-deps
	MANDAT_DOCS_SCREENSHOTS=docs/img $(VENV)/bin/pytest -q tests/e2e/test_docs_screenshots.py

## Soak the production topology (nginx + 2 processes + PostgreSQL + Redis) for 5 minutes; see bench/soak/run.py.
soak: $(VENV)/.test
	$(PY) -m bench.soak.run --minutes 5 --rate 30

clean:
	rm -rf $(VENV) var tests/e2e/node_modules site
