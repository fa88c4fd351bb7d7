"""The same dbt project on BigQuery (the emulator) and on DuckDB gives the same marts.

One simulated Descope project is extracted twice, the way the extractor would: a first run with a
users full sweep, then an incremental run half an hour later (modified and new users, new logins,
a late-indexed one, a single and a bulk deletion, new addresses, a newer geolocation of a few).
The same landing rows go into a DuckDB file (through the DuckDB landing writer) and an emulator
dataset (tests/bigquery/landing.py); `dbt build` runs on both after each extraction, and `users`,
`users_clean` and `user_logins` must hold the same rows and values once types are normalised
(timestamps to naive UTC, JSON to parsed values, floats rounded). A failure names the mart, the
column that differs, on how many rows, and the first key where it does.

The same BigQuery builds (their own target path) then run every unit test the emulator can run, and
every file they wrote is parsed with `sqlglot.parse(..., read="bigquery")`: the emulator runs DuckDB
underneath and accepts some SQL BigQuery would not, so a second reader catches DuckDB-only syntax
that slipped into a `bigquery__` macro or a model. The grammar check shares these builds rather than
building the project on the emulator again (each build takes the emulator a minute on a busy machine).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
import yaml
from sqlglot.errors import SqlglotError

from descope_sync.config import load_warehouse_settings
from descope_sync.html_report import build_sections, duckdb_query, open_query, render
from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.transform import DbtOutcome, project_dir, run_dbt
from tests.bigquery.landing import EmulatorLanding
from tests.bigquery.marts import (
    ACTIVITY_MARTS,
    BUILD_STAMP_COLUMNS,
    MARTS,
    NOW_DEPENDENT_COLUMNS,
    differences,
    normalise,
)
from tests.bigquery.parity_extraction import Batch, Changes, Extractor, change_world, make_world

# Datasets of this module on the shared emulator (the defaults are left to other tests).
DATASETS = {
    "DESCOPE_RAW_DATASET": "parity_raw",
    "DESCOPE_STAGING_DATASET": "parity_staging",
    "DESCOPE_MARTS_DATASET": "parity_marts",
}
USERS_OVERLAP = timedelta(minutes=10)
REPORT_TIME = datetime(2024, 1, 1, 12, 0)  # the reports' "generated at"
AUDIT_OVERLAP = timedelta(minutes=5)
# The unit tests disabled on the emulator (`enabled` false when BIGQUERY_EMULATOR_HOST is set), each
# with the reason; they run on DuckDB (tests/transform builds), and would on BigQuery itself.
UNIT_TESTS_NOT_ON_THE_EMULATOR = {
    "test_stg_descope__users_fractions_and_texts_are_null_times": (
        "the emulator spells the JSON number 1700000000.5 as the text '1700000000.5e0', which BigQuery does not"
    ),
}


# ---------------------------------------------------------------------------------- warehouses
def land_duckdb(path: Path, batch: Batch) -> None:
    with DuckDBLandingWriter(path) as writer:
        writer.ensure_tables()
        for table, rows in batch.items():
            if rows:
                writer.append(table, rows)


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Engine:
    name: str
    build: Callable[[Sequence[str]], DbtOutcome]
    read: Callable[[str], list[dict[str, Any]]]


def duckdb_engine(path: Path) -> Engine:
    def build(extra_args: Sequence[str]) -> DbtOutcome:
        return run_dbt("build", target="local", duckdb_path=path, extra_args=extra_args)

    def read(mart: str) -> list[dict[str, Any]]:
        con = duckdb.connect(str(path))
        try:
            cursor = con.execute(f"select * from descope_data_v2.{mart}")
            names = [d[0] for d in cursor.description]
            json_columns = {d[0] for d in cursor.description if str(d[1]).upper() == "JSON"}
            return [
                {
                    name: json.loads(v) if name in json_columns and v is not None else v
                    for name, v in zip(names, row, strict=True)
                }
                for row in cursor.fetchall()
            ]
        finally:
            con.close()

    return Engine("duckdb", build, read)


def bigquery_engine(emulator: Any, target: Path) -> Engine:
    """dbt on the emulator, writing to `target` (a target path of its own: only these builds' SQL is there)."""
    client = emulator.client()
    env = {**emulator.env(), **DATASETS}

    def build(extra_args: Sequence[str]) -> DbtOutcome:
        with environment(env):
            return run_dbt("build", target="bigquery", extra_args=["--target-path", str(target), *extra_args])

    def read(mart: str) -> list[dict[str, Any]]:
        rows = client.query(f"select * from `{emulator.project}.{DATASETS['DESCOPE_MARTS_DATASET']}.{mart}`").result()
        return [dict(row.items()) for row in rows]

    return Engine("bigquery", build, read)


# ---------------------------------------------------------------------------------- comparison
def assert_same_marts(snapshots: dict[str, dict[str, list[dict]]], stage: str, ignore: Sequence[str] = ()) -> None:
    problems = []
    for mart, key in (MARTS | ACTIVITY_MARTS).items():
        expected, actual = snapshots["duckdb"][mart], snapshots["bigquery"][mart]
        assert expected, f"{stage}: duckdb {mart} is empty: the comparison would prove nothing"
        problems += differences(mart, key, expected, actual, ignore)
    listed = "\n".join(problems)
    assert not problems, f"after the {stage} build the marts differ between duckdb and bigquery:\n{listed}"


# ---------------------------------------------------------------------------------- the builds
@dataclass
class Parity:
    changes: Changes | None = None
    outcomes: dict[str, dict[str, DbtOutcome]] = field(default_factory=dict)  # stage -> engine -> outcome
    snapshots: dict[str, dict[str, dict[str, list[dict]]]] = field(default_factory=dict)  # stage -> engine -> mart
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)  # stage -> engine -> build wall time
    dates: dict[str, tuple[date, date]] = field(default_factory=dict)  # stage -> UTC dates around the builds
    # incremental model -> (its compiled select, the statements it ran) of the incremental BigQuery build
    bigquery_sql: dict[str, tuple[str, str]] = field(default_factory=dict)
    reports: dict[str, str] = field(default_factory=dict)  # engine -> the HTML report of its final marts
    bigquery_target: Path = Path()  # the BigQuery builds' target path
    unit_tests: DbtOutcome | None = None  # `dbt test --select test_type:unit` on the emulator, after the builds


@pytest.fixture(scope="module")
def parity(bq_emulator, tmp_path_factory) -> Parity:
    """Both extractions landed in both warehouses, each followed by `dbt build` on both engines."""
    world, clock = make_world()
    extractor = Extractor(world, clock)
    duckdb_path = tmp_path_factory.mktemp("parity") / "warehouse.duckdb"
    parity = Parity(bigquery_target=tmp_path_factory.mktemp("bigquery_target"))
    engines = [duckdb_engine(duckdb_path), bigquery_engine(bq_emulator, parity.bigquery_target)]
    bq_landing = EmulatorLanding(bq_emulator.client(), DATASETS["DESCOPE_RAW_DATASET"])
    for stage in ("full", "incremental"):
        # Unit tests do not read the warehouse: they run once, on the emulator, after the builds.
        extra_args = ["--exclude", "test_type:unit"]
        if stage == "full":
            batch = extractor.first_run()
        else:
            parity.changes = change_world(world, clock, extractor.audit_cursor)
            batch = extractor.next_run()
        land_duckdb(duckdb_path, batch)
        for table, rows in batch.items():
            bq_landing.append(table, rows)
        first_day = datetime.now(UTC).date()
        parity.outcomes[stage], parity.seconds[stage], parity.snapshots[stage] = {}, {}, {}
        for engine in engines:
            started = time.monotonic()
            parity.outcomes[stage][engine.name] = engine.build(extra_args)
            parity.seconds[stage][engine.name] = round(time.monotonic() - started, 1)
            parity.snapshots[stage][engine.name] = {mart: engine.read(mart) for mart in MARTS | ACTIVITY_MARTS}
            if stage == "incremental" and engine.name == "bigquery":
                parity.bigquery_sql = incremental_sql(parity.bigquery_target)
        parity.dates[stage] = (first_day, datetime.now(UTC).date())
    started = time.monotonic()
    with environment({**bq_emulator.env(), **DATASETS}):
        parity.unit_tests = run_dbt(
            "test",
            target="bigquery",
            extra_args=["--target-path", str(parity.bigquery_target), "--select", "test_type:unit"],
        )
    parity.seconds["unit tests"] = {"bigquery": round(time.monotonic() - started, 1)}
    print(f"\ndbt build wall time (s): {parity.seconds}")
    # the HTML report of each engine's marts, through the report's own readers, at one instant
    report_env = {**bq_emulator.env(), **DATASETS}
    bigquery_settings = load_warehouse_settings({"warehouse": "bigquery"}, env=report_env)
    for name, read in (
        ("duckdb", duckdb_query(duckdb_path, "descope_data_v2")),
        ("bigquery", open_query(bigquery_settings, report_env)),
    ):
        parity.reports[name] = render(build_sections(read), REPORT_TIME)
    return parity


@pytest.mark.parametrize("stage", ["full", "incremental"])
def test_dbt_build_passes_on_both_engines(parity: Parity, stage: str) -> None:
    for engine, outcome in parity.outcomes[stage].items():
        assert outcome.success, f"{stage} build on {engine}: {outcome.failures}"
        assert not [key for key in outcome.counts if key.endswith(":skipped")], (engine, outcome.counts)
        assert outcome.counts["model:success"] == len(list((project_dir() / "dbt_project").rglob("*.sql")))


@pytest.mark.parametrize("stage", ["full", "incremental"])
def test_the_marts_are_the_same_on_bigquery_and_duckdb(parity: Parity, stage: str) -> None:
    first_day, last_day = parity.dates[stage]
    # users_clean counts days to "now": builds on both sides of a UTC midnight may differ by a day.
    ignore = BUILD_STAMP_COLUMNS + (NOW_DEPENDENT_COLUMNS if first_day != last_day else ())
    assert_same_marts(parity.snapshots[stage], stage, ignore)


def test_the_html_report_is_the_same_from_either_engine(parity: Parity) -> None:
    duckdb_lines, bigquery_lines = parity.reports["duckdb"].splitlines(), parity.reports["bigquery"].splitlines()
    assert parity.reports["duckdb"].count('<svg class="chart"') == 5  # GA4 off: no attribution chart
    differing = [(d, b) for d, b in zip(duckdb_lines, bigquery_lines, strict=False) if d != b][:1]
    assert duckdb_lines == bigquery_lines, f"first differing line (duckdb, bigquery): {differing}"[:1000]


def test_tenant_names_follow_the_newest_snapshot_on_both_engines(parity: Parity) -> None:
    """users_clean names each user's tenants from the newest snapshot: a deleted tenant drops out,
    a renamed one shows its new name (the second run deleted one tenant and renamed another)."""

    def names(stage: str, engine: str) -> set[str]:
        rows = parity.snapshots[stage][engine]["users_clean"]
        return {name for row in rows if row["tenant_names"] for name in row["tenant_names"].split(", ")}

    for engine in ("duckdb", "bigquery"):
        before, after = names("full", engine), names("incremental", engine)
        assert before and not any(name.endswith("(renamed)") for name in before), engine
        assert len([name for name in after if name.endswith("(renamed)")]) == 1, engine
        assert len(after) == len(before) - 1, (engine, before, after)


def test_the_incremental_build_took_in_the_second_extraction(parity: Parity) -> None:
    """The comparison is about something: the second build changed the marts on both engines."""
    changes = parity.changes
    for engine in ("duckdb", "bigquery"):
        before = {row["user_id"]: row for row in parity.snapshots["full"][engine]["users"]}
        after = {row["user_id"]: row for row in parity.snapshots["incremental"][engine]["users"]}
        assert set(changes.deleted) <= before.keys(), engine
        assert not set(changes.deleted) & after.keys(), engine
        assert set(changes.created) <= after.keys() - before.keys(), engine
        for user_id in changes.modified:
            assert after[user_id]["modified_time"] != before[user_id]["modified_time"], (engine, user_id)
        for user_id in changes.logged_in:
            assert after[user_id]["login_count"] == before[user_id]["login_count"] + 1, (engine, user_id)
        logins_before = {row["event_id"] for row in parity.snapshots["full"][engine]["user_logins"]}
        logins_after = {row["event_id"] for row in parity.snapshots["incremental"][engine]["user_logins"]}
        assert logins_before < logins_after and len(logins_after - logins_before) == len(changes.logged_in)


# ---------------------------------------------------------------------------------- BigQuery cost
# What each incremental model reads on an incremental run, as the regular expressions its compiled
# SQL must match: a constant bound on the partition column of the table it reads new rows from
# (landing: DATE(_extracted_at) / DATE(_looked_up_at); stg_descope__* and the views over them:
# DATE(_extracted_at);
# user_logins: login_date). A constant, not a subquery: BigQuery prunes partitions only on those.
WATERMARK = r"cast\('\d{4}-\d\d-\d\d \d\d:\d\d:\d\d' as timestamp\)"
INCREMENTAL_READS = {
    "stg_descope__users": [rf"`parity_raw`\.`users`\s+where _extracted_at > {WATERMARK}"],
    "stg_descope__audit_events": [rf"`parity_raw`\.`audit_events`\s+where _extracted_at > {WATERMARK}"],
    "stg_geoip__ip_locations": [rf"`parity_raw`\.`ip_locations`\s+where _looked_up_at > {WATERMARK}"],
    "int_users_deduplicated": [rf"`stg_descope__users`\s+where _extracted_at > {WATERMARK}"],
    # int_logins_geolocated: a view over stg_descope__audit_events, whose partitions the bound prunes
    "int_users_login_activity": [
        rf"`int_logins_geolocated`\s+where\s+not is_impersonation\s+and _extracted_at >= {WATERMARK}",
    ],
    "users": [rf"`int_users_deduplicated`\s+where _latest_extracted_at > {WATERMARK}"],
    "user_logins": [
        rf"_extracted_at > {WATERMARK}",
        r"_extracted_at >= cast\(date\(",
        r"login_date >= date\(",
        # logins older than the merge window are looked up in the mart from the oldest one read
        rf"`user_logins`\s+where\s+login_date >= date\({WATERMARK}\)\s+and login_date < date\(",
    ],
}
# The merges into partitioned marts: incremental_predicates bound the target's partitions.
MERGE_PREDICATES = {"user_logins": [r"DBT_INTERNAL_DEST\.login_date >= date\("]}


def incremental_sql(target: Path) -> dict[str, tuple[str, str]]:
    """Each incremental model's compiled SQL and run SQL, as the last build left them in `target`."""
    found = {}
    for compiled in (target / "compiled").rglob("*.sql"):
        # unit tests leave fixtures named after the models they feed, under the YAML that defines them
        if compiled.stem in INCREMENTAL_READS and not any(part.endswith(".yml") for part in compiled.parts):
            ran = Path(str(compiled).replace("/compiled/", "/run/", 1))
            found[compiled.stem] = (compiled.read_text(), ran.read_text() if ran.exists() else "")
    return found


@pytest.mark.parametrize("model", sorted(INCREMENTAL_READS))
def test_every_incremental_model_reads_new_rows_through_a_constant_partition_bound(parity: Parity, model: str) -> None:
    compiled, _ = parity.bigquery_sql[model]
    for pattern in INCREMENTAL_READS[model]:
        assert re.search(pattern, compiled), f"{model}: no match for {pattern} in its compiled SQL:\n{compiled}"


@pytest.mark.parametrize("model", sorted(MERGE_PREDICATES))
def test_merges_into_partitioned_marts_prune_the_target(parity: Parity, model: str) -> None:
    _, ran = parity.bigquery_sql[model]
    assert re.search(r"\bmerge into\b", ran, re.IGNORECASE), ran
    for pattern in MERGE_PREDICATES[model]:
        assert re.search(pattern, ran), f"{model}: no match for {pattern} in the statement it ran:\n{ran}"


def test_a_difference_names_the_mart_the_key_and_the_column() -> None:
    expected = [{"user_id": "U1", "email": "a@x.org", "login_count": 1}, {"user_id": "U2", "email": None}]
    actual = [{"user_id": "U1", "email": "A@x.org", "login_count": 1}, {"user_id": "U3", "email": None}]
    assert differences("users", "user_id", expected, actual) == [
        "users: 1 row(s) only on duckdb: user_id U2",
        "users: 1 row(s) only on bigquery: user_id U3",
        "users.email differs on 1 of 1 rows, e.g. user_id=U1: duckdb 'a@x.org' != bigquery 'A@x.org'",
    ]


def test_values_are_compared_in_one_spelling() -> None:
    aware = datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert normalise(aware) == datetime(2024, 1, 1, 12)
    assert normalise('{"b": [1, 2.0000000001]}') == {"b": [1, 2.0]}
    assert normalise(Decimal("1.50")) == 1.5


# ---------------------------------------------------------------------------------- BigQuery grammar
def unit_tests() -> set[str]:
    """The names of every unit test the project defines."""
    names = set()
    for path in (project_dir() / "dbt_project").rglob("*.yml"):
        names |= {test["name"] for test in (yaml.safe_load(path.read_text()) or {}).get("unit_tests", [])}
    return names


def written_sql(target: Path) -> list[Path]:
    """The SQL files the BigQuery builds and unit tests wrote (compiled/ and run/), unit-test fixtures aside.

    A unit test's fixtures are compiled to compiled/<its yml>/<the ref's name>.sql, one path shared by every
    unit test of that yml, written by dbt's threads at once (a file can hold two of them interleaved).
    What ran is whole in run/<the unit test>.sql, fixtures included: that file is parsed instead."""
    models = {p.stem for p in (project_dir() / "dbt_project").rglob("*.sql")}
    compiled = set((target / "compiled").rglob("*.sql"))
    fixtures = {p for p in compiled if p.parent.name.endswith(".yml") and p.stem in models}
    return sorted(compiled - fixtures) + sorted((target / "run").rglob("*.sql"))


def test_every_unit_test_the_emulator_can_run_passes_on_bigquery(parity: Parity) -> None:
    outcome = parity.unit_tests
    assert outcome is not None and outcome.success, outcome and outcome.failures
    assert outcome.counts["unit_test:pass"] == len(unit_tests() - UNIT_TESTS_NOT_ON_THE_EMULATOR.keys())


def test_every_model_and_data_test_was_compiled(parity: Parity) -> None:
    compiled = written_sql(parity.bigquery_target)
    models = {p.stem for p in (project_dir() / "dbt_project").rglob("*.sql")}
    compiled_models = {p.stem for p in compiled if "/compiled/" in str(p) and ".yml" not in str(p.parent)}
    assert models <= compiled_models, sorted(models - compiled_models)
    singular = {p.stem for p in (project_dir() / "tests" / "dbt").glob("*.sql")}
    assert singular <= compiled_models, sorted(singular - compiled_models)
    generic = [p for p in compiled if "/compiled/" in str(p) and p.parent.name.endswith(".yml")]
    assert len(generic) >= 40, f"only {len(generic)} generic data tests compiled"
    defined = unit_tests()  # once: it reads every YAML file
    unit = {p.stem for p in compiled if "/run/" in str(p) and p.stem in defined}
    assert unit == defined - UNIT_TESTS_NOT_ON_THE_EMULATOR.keys()
    merges = [p for p in compiled if "/run/" in str(p) and "merge into" in p.read_text().lower()]
    assert merges, "the incremental build ran no MERGE"


def test_the_sql_dbt_writes_for_bigquery_parses_as_bigquery(parity: Parity) -> None:
    compiled, failures = written_sql(parity.bigquery_target), []
    for path in compiled:
        try:
            sqlglot.parse(path.read_text(), read="bigquery")
        except SqlglotError as exc:
            failures.append(f"{path.relative_to(parity.bigquery_target)}: {str(exc).splitlines()[0]}")
    assert not failures, f"{len(failures)} of {len(compiled)} files are not BigQuery SQL:\n" + "\n".join(failures)


def test_the_unit_tests_left_off_the_emulator_are_the_disabled_ones() -> None:
    disabled = set()
    for path in (project_dir() / "dbt_project").rglob("*.yml"):
        for test in (yaml.safe_load(path.read_text()) or {}).get("unit_tests", []):
            if "BIGQUERY_EMULATOR_HOST" in str(test.get("config", {}).get("enabled", "")):
                disabled.add(test["name"])
    assert disabled == UNIT_TESTS_NOT_ON_THE_EMULATOR.keys()
