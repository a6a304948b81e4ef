# facet-cds: two commands matter — `make run` and `make test`. See README.md.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock

.PHONY: run test lint bench install system-deps lock clean

# Installs from the lock file: the versions CI tested. It is a constraints file, so a dependency added to
# pyproject.toml since the last `make lock` still installs (unpinned until the next `make lock`).
$(STAMP): pyproject.toml $(LOCK)
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Debian: apt-get install python3.11 python3.11-venv)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests need: headless Chromium (browser test), PostgreSQL (a throwaway cluster the
# tests start themselves) and prometheus, which ships promtool (checks deploy/prometheus/alerts.yml).
# Skipped when already present.
system-deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	missing=; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	[ -z "$$missing" ] || { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; }

## make run: a real FHIR server with the demo patients + the CDS service (CDS_AUTH=off), on loopback
run: install
	$(PY) -m cds_service demo

## make test: installs everything the tests need and runs every test
test: install system-deps lint
	$(PY) -m pytest -q

## make lint: ruff, mypy (cds_service/) and the import-layer contracts (pyproject.toml configures all three)
lint: install
	$(PY) -m ruff check cds_service tests bench fhir_fixtures
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

## make lock: re-pin every dependency of pyproject.toml (main + dev) into requirements.lock. pip resolves them
## from scratch, as for a fresh venv (--ignore-installed), without installing anything (--dry-run).
lock:
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --dry-run --ignore-installed --report $(VENV)/lock-report.json '.[dev]'
	$(PY) deploy/lockfile.py $(VENV)/lock-report.json $(LOCK)

## make bench: benchmarks, the load run and the drills (wrk, a throwaway PostgreSQL; not in CI)
bench: install system-deps
	@command -v wrk >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis var
