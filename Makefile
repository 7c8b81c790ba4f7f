# sops: `make run` starts the demo, `make test` runs the suite. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON3 ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.sops-installed
VAR     := $(CURDIR)/var
PORT    ?= 8000
HOST    ?= 127.0.0.1

.PHONY: help install run migrate demo test test-pg lint check bench clean sdk-test sdk-operations mutate mutate-report mutate-ci

help:
	@echo "make run      install if needed, migrate, bootstrap the demo, start web + worker + scheduler"
	@echo "make test     run the whole test suite (embedded SQLite, or DATABASE_URL/CELERY_BROKER_URL)"
	@echo "make test-pg  run the suite against the local PostgreSQL and Redis"
	@echo "make lint     ruff"
	@echo "make check    ruff, import contracts (lint-imports), types (mypy): what CI runs before the suites"
	@echo "make bench    run the benchmarks (bench/run_all.py)"
	@echo "make sdk-test the SDK's tests: pip install ./sdk in a fresh virtualenv, against a fresh \`make run\`"
	@echo "make sdk-operations  regenerate sdk/src/sops_sdk/operations.py from the service's OpenAPI document"
	@echo "make mutate MODULE=conditions   mutation testing of one module (names: mutation/targets.toml)"
	@echo "make mutate-report [MODULE=...] the score table and survivors of the last runs"
	@echo "make mutate-ci                  the CI gate: changed lines since main, or a fixed sample"

$(PY):
	$(PYTHON3) -m venv $(VENV)

# Reinstall only when the dependencies change.
$(STAMP): pyproject.toml | $(PY)
	@echo "installing dependencies into $(VENV) ..."
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

# The stamp says what was installed, not that it is still there: a venv that
# lost its packages is repaired instead of failing later with ImportError.
install: $(STAMP)
	@$(PY) -c "import django, celery, gunicorn, sops_api" 2>/dev/null || \
	  { echo "$(VENV) is incomplete; reinstalling"; rm -f $(STAMP); $(MAKE) --no-print-directory $(STAMP); }

migrate: install
	@$(PY) manage.py migrate --noinput -v 0

demo: migrate
	@$(PY) manage.py bootstrap_demo --spec-placeholders

# Web, worker and scheduler share var/ (SQLite + the filesystem broker) unless
# DATABASE_URL / CELERY_BROKER_URL point elsewhere. Metrics of every process
# are summed through PROMETHEUS_MULTIPROC_DIR.
run: export PROMETHEUS_MULTIPROC_DIR ?= $(VAR)/prometheus
run: export SOPS_APP_HOST ?= http://$(HOST):$(PORT)/
run: export PORT := $(PORT)
run: export HOST := $(HOST)
run: demo
	@$(PY) scripts/run_all.py

# Embedded mode: the test database is a SQLite *file* (not :memory:) so the
# Celery worker subprocess of the tests can open it too, and the broker folder
# is the tests' own, away from a `make run` that may be running.
test: install
	@set -o pipefail; \
	if [ -z "$${DATABASE_URL:-}" ]; then \
	  mkdir -p $(VAR)/test; \
	  export SOPS_VAR_DIR=$(VAR)/test TEST_DATABASE_NAME=$(VAR)/test/test-sops.sqlite3; \
	  rm -f $(VAR)/test/test-sops.sqlite3*; rm -rf $(VAR)/test/broker; \
	fi; \
	rc=0; $(PY) -m pytest tests/ $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests; that is a failure"; exit 1; fi; \
	exit $$rc

test-pg: install
	@createdb -h 127.0.0.1 -U postgres sops_dev_test 2>/dev/null || true
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/sops_dev_test} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-redis://127.0.0.1:6379/5} \
	$(MAKE) test

lint: install
	$(VENV)/bin/ruff check .

# Static checks, all of them even when one fails; the target fails if any did.
# A `type: ignore` must say why on its line (mypy already requires the error code).
check: install
	@rc=0; \
	echo "== ruff"; $(VENV)/bin/ruff check . || rc=1; \
	echo "== lint-imports"; $(VENV)/bin/lint-imports --no-cache || rc=1; \
	echo "== mypy"; $(VENV)/bin/mypy || rc=1; \
	echo "== type: ignore reasons"; \
	if grep -rnE 'type: ignore(\[[^]]*\])?[[:space:]]*$$' pipeline_engine sops_api sops_common access_app templates_app tasks_app periodic_app clocked_app --include='*.py'; then \
	  echo "a type: ignore above has no reason comment"; rc=1; fi; \
	exit $$rc

bench: install
	$(PY) bench/run_all.py $(BENCH_ARGS)

# The SDK (sdk/): its own virtualenv (var/sdk-venv) and its own server (var/sdk-live), see sdk/README.md.
sdk-test: install
	$(PY) sdk/scripts/run_live_tests.py $(SDK_TEST_ARGS)

sdk-operations: install
	$(PY) sdk/scripts/generate_operations.py

# Mutation testing (docs/mutation-testing.md). MUTATE_ARGS: e.g. --sample 50, --jobs 1,
# --lines 120-140, --mutant NAME, --include-messages.
mutate: install
	@test -n "$(MODULE)" || { echo "usage: make mutate MODULE=conditions [MUTATE_ARGS=...]"; exit 2; }
	$(PY) -m mutation.run $(MODULE) $(MUTATE_ARGS)

mutate-report:
	@$(PY) -m mutation.report $(MODULE) $(MUTATE_ARGS)

mutate-ci: install
	$(PY) -m mutation.ci $(MUTATE_ARGS)

clean:
	rm -rf var .pytest_cache .hypothesis
