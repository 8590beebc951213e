# nbrec — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
CONSTRAINTS := requirements/constraints.txt
STAMP := $(VENV)/.installed
NBREC_DATA_DIR ?= var/data
export NBREC_DATA_DIR

.DEFAULT_GOAL := help
.PHONY: help install demo test test-all test-install lint format docs docs-serve notebooks leaderboard clean observe report publish serve schedule bi bench-serving bench-load bench-scale

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install nbrec with the pinned dependency set

demo: install ## data, notebooks and leaderboard; then train, gate, publish and serve on :3000 (PORT=)
	$(BIN)/nbrec demo
	$(BIN)/nbrec train --dataset synthetic --notebooks ""
	$(BIN)/nbrec models list
	$(BIN)/nbrec serve --port $${PORT:-3000}

test: install ## run the test suite (everything but tests marked slow)
	$(BIN)/pytest

test-all: install ## run every test, slow ones included, fuzzers with 5x more cases
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-nightly} $(BIN)/pytest -m ""

test-install: install ## a plain `pip install .` trains and serves from an empty directory (slow)
	$(BIN)/pytest -m "" tests/test_install.py

lint: install docs ## ruff check, format check (code and notebooks), the layer contracts (import-linter) and the docs build
	$(BIN)/ruff check src tests notebooks flows bentos benchmarks
	$(BIN)/ruff format --check src tests notebooks flows bentos benchmarks
	$(BIN)/lint-imports --no-cache

format: install ## ruff format and fix in place
	$(BIN)/ruff check --fix src tests notebooks flows bentos benchmarks
	$(BIN)/ruff format src tests notebooks flows bentos benchmarks

docs: install ## build the docs site with mkdocs --strict into var/site (a broken link fails)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs-serve: install ## the docs site, live, on http://127.0.0.1:8000
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

notebooks: install ## execute every notebook with papermill into var/notebooks (HTML too)
	$(BIN)/nbrec notebooks run

leaderboard: install ## leaderboard on the default data set (DATASET=, MODELS=)
	$(BIN)/nbrec leaderboard --dataset $${DATASET:-synthetic} --models $${MODELS:-all}

publish: install ## fit a model and publish it to the feature store, live (DATASET=, MODEL=)
	$(BIN)/nbrec publish --dataset $${DATASET:-synthetic} --model $${MODEL:-item_knn}

serve: install ## the BentoML recommendation service on localhost:3000 (PORT=; publish first)
	$(BIN)/nbrec serve --port $${PORT:-3000}

schedule: install ## daily retraining, hourly monitoring and report on Prefect schedules, until Ctrl-C
	$(PY) flows/serve.py

bench-serving: install ## load-test bare Starlette, bare BentoML and nbrec (SQLite, Redis) with wrk
	$(PY) benchmarks/serving/bench_serving.py

bench-load: install ## the service at 80% of its peak for 60 s: errors, p99, memory (benchmarks/load)
	$(PY) benchmarks/load/run_load.py

bench-scale: install ## nbrec train --model auto end to end at the small and medium sizes, as a user runs it (benchmarks/scale)
	$(PY) benchmarks/scale/bench_scale.py --size small
	$(PY) benchmarks/scale/bench_scale.py --size medium --record

observe: install ## Prometheus + Alertmanager scraping the service on localhost:3000 (SERVICE=host:port)
	PY=$(PY) deploy/observe.sh

bi: install ## Apache Superset with the product dashboard on :8088 (own venv in var/bi; NBREC_BI_PORT=)
	$(BIN)/nbrec bi

report: install ## rebuild the product performance dashboard from the RR logs (var/reports/)
	$(PY) flows/report.py --once

clean: ## remove runtime state under var/ (keeps .venv)
	rm -rf var/
