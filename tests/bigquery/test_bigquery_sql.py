"""Every statement dbt writes for the bigquery target is BigQuery SQL, as sqlglot's BigQuery dialect reads it.

The emulator runs DuckDB underneath and accepts some SQL BigQuery would not (and the reverse): a
second reader catches DuckDB-only syntax that slipped into a `bigquery__` macro or a model. On the
emulator, over empty landing tables, the project is built twice (the second run is incremental:
its MERGE statements are what production runs), then `dbt compile` writes every model (incremental
branches, the watermarks read from the tables) and every data test, and `dbt test` runs every unit
test the emulator can run (all but UNIT_TESTS_NOT_ON_THE_EMULATOR, each with its reason). Each file
under the build's own target path (compiled/ and run/) is parsed with
`sqlglot.parse(..., read="bigquery")`; a failure names the file and sqlglot's error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlglot
import yaml
from sqlglot.errors import SqlglotError

from descope_sync.transform import project_dir, run_dbt
from tests.bigquery.helpers import dataset_for
from tests.bigquery.landing import EmulatorLanding
from tests.bigquery.test_dbt_parity import environment

# The unit tests disabled on the emulator (`enabled` false when BIGQUERY_EMULATOR_HOST is set), each
# with the reason; they run on DuckDB (tests/transform builds), and would on BigQuery itself.
UNIT_TESTS_NOT_ON_THE_EMULATOR = {
    "test_stg_descope__users_fractions_and_texts_are_null_times": (
        "the emulator spells the JSON number 1700000000.5 as the text '1700000000.5e0', which BigQuery does not"
    ),
}


def unit_tests() -> set[str]:
    """The names of every unit test the project defines."""
    names = set()
    for path in (project_dir() / "dbt_project").rglob("*.yml"):
        names |= {test["name"] for test in (yaml.safe_load(path.read_text()) or {}).get("unit_tests", [])}
    return names


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A target path of its own: nothing another build left there (a DuckDB build's SQL) is read."""
    return tmp_path_factory.mktemp("bigquery_target")


@pytest.fixture(scope="module")
def compiled(bq_emulator, request, target: Path) -> Iterator[list[Path]]:
    """The SQL files of the runs, the unit tests and the compile, on the bigquery target."""
    datasets = {
        "DESCOPE_RAW_DATASET": dataset_for(request, "_raw"),
        "DESCOPE_STAGING_DATASET": dataset_for(request, "_stg"),
        "DESCOPE_MARTS_DATASET": dataset_for(request, "_marts"),
    }
    EmulatorLanding(bq_emulator.client(), datasets["DESCOPE_RAW_DATASET"])
    with environment({**bq_emulator.env(), **datasets}):
        for command, extra in (("run", []), ("run", []), ("compile", []), ("test", ["--select", "test_type:unit"])):
            outcome = run_dbt(command, target="bigquery", extra_args=["--target-path", str(target), *extra])
            assert outcome.success, (command, outcome.failures)
    # every unit test the emulator can run ran and passed on the bigquery target
    assert outcome.counts["unit_test:pass"] == len(unit_tests() - UNIT_TESTS_NOT_ON_THE_EMULATOR.keys())
    # A unit test's fixtures are compiled to compiled/<its yml>/<the ref's name>.sql, one path shared by every
    # unit test of that yml, written by dbt's threads at once (a file can hold two of them interleaved).
    # What ran is whole in run/<the unit test>.sql, fixtures included: that file is parsed instead.
    models = {p.stem for p in (project_dir() / "dbt_project").rglob("*.sql")}
    fixtures = {p for p in (target / "compiled").rglob("*.sql") if p.parent.name.endswith(".yml") and p.stem in models}
    yield sorted(set((target / "compiled").rglob("*.sql")) - fixtures) + sorted((target / "run").rglob("*.sql"))


def test_every_model_and_data_test_was_compiled(compiled: list[Path]) -> None:
    models = {p.stem for p in (project_dir() / "dbt_project").rglob("*.sql")}
    compiled_models = {p.stem for p in compiled if "/compiled/" in str(p) and ".yml" not in str(p.parent)}
    assert models <= compiled_models, sorted(models - compiled_models)
    singular = {p.stem for p in (project_dir() / "tests" / "dbt").glob("*.sql")}
    assert singular <= compiled_models, sorted(singular - compiled_models)
    generic = [p for p in compiled if "/compiled/" in str(p) and p.parent.name.endswith(".yml")]
    assert len(generic) >= 40, f"only {len(generic)} generic data tests compiled"
    unit = {p.stem for p in compiled if "/run/" in str(p) and p.stem in unit_tests()}
    assert unit == unit_tests() - UNIT_TESTS_NOT_ON_THE_EMULATOR.keys()
    merges = [p for p in compiled if "/run/" in str(p) and "merge into" in p.read_text().lower()]
    assert merges, "the second run ran no MERGE: it was not incremental"


def test_the_sql_dbt_writes_for_bigquery_parses_as_bigquery(compiled: list[Path], target: Path) -> None:
    failures = []
    for path in compiled:
        try:
            sqlglot.parse(path.read_text(), read="bigquery")
        except SqlglotError as exc:
            failures.append(f"{path.relative_to(target)}: {str(exc).splitlines()[0]}")
    assert not failures, f"{len(failures)} of {len(compiled)} files are not BigQuery SQL:\n" + "\n".join(failures)


def test_the_unit_tests_left_off_the_emulator_are_the_disabled_ones() -> None:
    disabled = set()
    for path in (project_dir() / "dbt_project").rglob("*.yml"):
        for test in (yaml.safe_load(path.read_text()) or {}).get("unit_tests", []):
            if "BIGQUERY_EMULATOR_HOST" in str(test.get("config", {}).get("enabled", "")):
                disabled.add(test["name"])
    assert disabled == UNIT_TESTS_NOT_ON_THE_EMULATOR.keys()
