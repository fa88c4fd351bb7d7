# The two commands a newcomer needs: `make demo` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LINT_DB := $(CURDIR)/target/lint.duckdb
# dbt's profile is ./profiles.yml (targets from env vars), where dbt looks first.
export DBT_PROFILES_DIR := $(CURDIR)

# The BigQuery emulator (PyPI bqemulator, DuckDB underneath) lives in its own virtualenv: it pins a
# DuckDB of its own, and imports the DuckDB extensions it needs under its own HOME (it cannot download).
BQ_VENV ?= .venv-bqemu
BQ_HOME := $(CURDIR)/$(BQ_VENV)/home
export BQEMULATOR_BIN := $(CURDIR)/$(BQ_VENV)/bin/bqemulator
export BQEMULATOR_HOME := $(BQ_HOME)

.PHONY: install install-demo browser demo test lint ruff sqlfluff pytest dbt-check bench mutation clean

# Two installs: the demo's (the runtime and dbt-duckdb: what a first `make demo` waits for) and the full
# one `make test` needs (dbt-bigquery, the Google clients, the dev tools, the BigQuery emulator and the
# browser the HTML report's test opens).
install: $(VENV)/.installed $(BQ_VENV)/.installed browser

install-demo: $(VENV)/.installed-demo

# The HTML report's test opens it in Debian's Chromium through Selenium (tests/e2e/browser.py):
# installed from the Debian packages when missing (CI runs as root on a fresh machine); no tool
# ever downloads a browser.
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || \
		(apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver)

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dbt,dbt-bigquery,dev,bigquery]"
	@touch $@ $(VENV)/.installed-demo

# Satisfied by the full install too (its recipe touches this marker).
$(VENV)/.installed-demo: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -e ".[dbt]"
	@touch $@

$(BQ_VENV)/.installed:
	@test -x $(BQ_VENV)/bin/python || $(PYTHON) -m venv $(BQ_VENV)
	$(BQ_VENV)/bin/python -m pip install --quiet bqemulator==1.4.0 duckdb==1.5.5 duckdb-extensions==1.5.5 \
		duckdb-extension-spatial==1.5.5 duckdb-extension-avro==1.5.5 numpy
	@mkdir -p $(BQ_HOME)
	HOME=$(BQ_HOME) $(BQ_VENV)/bin/python -c "import duckdb_extensions as e; e.import_extension('spatial'); e.import_extension('avro')"
	@touch $@

demo: install-demo
	$(BIN)/descope-sync demo

test: install lint pytest dbt-check

lint: ruff sqlfluff

ruff: install
	$(BIN)/ruff check extract simulator tests bench scripts
	$(BIN)/ruff format --check extract simulator tests bench scripts

sqlfluff: install
	@mkdir -p target
	DUCKDB_PATH=$(LINT_DB) $(BIN)/sqlfluff lint dbt_project macros tests/dbt

# pytest exits 5 when it collects nothing: make treats that, like any failure, as a failed test run.
# Two workers (the machine has two cores), a test file per worker at a time (module fixtures stay
# in one process); each worker keeps dbt's artifacts apart (tests/conftest.py). Files are handed out in
# collection order, the slowest first (tests/conftest.py's SLOWEST_FILES; --no-loadscope-reorder keeps
# xdist from ordering them by their number of tests). The 15 slowest tests are listed at the end: the
# suite's time is watched (bench/RESULTS.md, "Test suite time").
pytest: install
	$(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15

# The whole job as a user runs it, twice (simulator -> extract -> full dbt build; then creations,
# modifications, deletions of every kind and late logins -> extract -> incremental dbt build), and
# the marts compared with the simulator's truth.
dbt-check: install
	@mkdir -p target
	$(BIN)/python scripts/dbt_check.py --duckdb-path target/check.duckdb --users 300

bench: install
	$(BIN)/python bench/bench_extract.py
	$(BIN)/python bench/bench_geo.py

# Mutation testing, not part of `make test` (hours on two cores): mutmut over the streams, the landing
# writers and the Descope client, three mutants a core (MUTATION_CHILDREN=N), then the score and every mutant not killed
# (scripts/mutation.py; [tool.mutmut] in pyproject.toml). From scratch each time; MUTATION_RESUME=1
# keeps the verdicts of an interrupted run, and with MUTANTS="name-or-pattern ..." retests those;
# MUTATION_RESUME=1 MUTATION_SAMPLE=N tests N random unchecked mutants (and any MUTANTS), from which the
# score estimates the rest. The last score, and a reason for each survivor: docs/mutation.md.
mutation: install
	$(BIN)/python scripts/mutation.py $(if $(MUTATION_RESUME),--resume) $(if $(MUTATION_SAMPLE),--sample $(MUTATION_SAMPLE)) $(if $(MUTATION_CHILDREN),--max-children $(MUTATION_CHILDREN)) $(MUTANTS)

clean:
	rm -rf target logs .pytest_cache .ruff_cache descope_report.html $(BQ_VENV)  # never a warehouse: it may hold data Descope no longer has
