# The two commands a newcomer needs: `make demo` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LINT_DB := $(CURDIR)/target/lint.duckdb
export DBT_PROFILES_DIR := $(CURDIR)/.dbt

.PHONY: install demo test lint ruff sqlfluff pytest dbt-check bench clean

install: $(VENV)/.installed .dbt/profiles.yml

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dbt,dev,bigquery]"
	@touch $@

.dbt/profiles.yml: profiles.example.yml
	@mkdir -p .dbt
	cp profiles.example.yml $@

demo: install
	$(BIN)/descope-sync demo

test: install lint pytest dbt-check

lint: ruff sqlfluff

ruff: install
	$(BIN)/ruff check extract tests bench
	$(BIN)/ruff format --check extract tests bench

sqlfluff: install
	@mkdir -p target
	DUCKDB_PATH=$(LINT_DB) $(BIN)/sqlfluff lint dbt_project macros tests/dbt

# pytest exits 5 when it collects nothing: make treats that, like any failure, as a failed test run.
pytest: install
	$(BIN)/pytest -q

# The whole job as a user runs it (simulator -> extract -> dbt build with every test) into a scratch file.
dbt-check: install
	@mkdir -p target
	$(BIN)/descope-sync demo --users 300 --duckdb-path target/check.duckdb

bench: install
	$(BIN)/python bench/bench_extract.py
	$(BIN)/python bench/bench_geo.py

clean:
	rm -rf target logs .pytest_cache .ruff_cache warehouse.duckdb
