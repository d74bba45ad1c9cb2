# Every target bootstraps .venv itself, so a fresh clone needs nothing but python3.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install run test lint dev bench generate clean worker

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: deploy/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp deploy/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

run: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(PY) -m pipeline run --raw raw --out outputs

# Two pytest-xdist workers (the CI machine has 2 cores); --dist loadfile runs each test module on one
# worker, so a module-scoped fixture (a complete run, the Postgres/Redis cluster, the webserver) is built
# once. Not loadgroup: with pytest 9 its xdist_group marks are ignored (xdist 3.8 renames item._nodeid,
# which pytest 9 no longer reads), and every grouped fixture was built on both workers.
TEST_WORKERS ?= 2
test: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=25

# ruff (lint, then formatting) and mypy, all configured in pyproject.toml.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

dev: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# A Celery worker of the distributed setup (deploy/README.md "With Celery"): PYTHON names the venv
# so worker.sh can put its bin on PATH (dagster-celery starts `celery` by name).
worker: $(STAMP)
	PYTHON=$(CURDIR)/$(PY) deploy/celery/worker.sh $(or $(NAME),dagster) $(or $(CONCURRENCY),1)

bench: $(STAMP)
	$(PY) benchmarks/run.py

generate: $(STAMP)
	$(PY) -m pipeline generate --subjects 154 --seed 20160901 --out raw

clean:
	rm -rf outputs/sdtm outputs/adam outputs/analysis outputs/queries outputs/manifest.json

# Optional CDISC CORE conformance check: .core-venv (Python 3.12, cdisc-rules-engine 0.17.1) + .core-cache.
.PHONY: core
core:
	tools/core/setup.sh $(CORE_CACHE_TARBALL)
