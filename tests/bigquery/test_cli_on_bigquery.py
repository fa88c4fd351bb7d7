"""`descope-sync` against a chaotic simulator and the BigQuery emulator, as production runs it.

The real extractor lands in the emulator (`--target bigquery`, with only `BIGQUERY_EMULATOR_HOST`,
`GCP_PROJECT` and Descope's variables set), dbt builds the marts there, and the same landed rows,
copied into a DuckDB file, build the same marts on DuckDB: after a full build and after an
incremental one. The marts also equal what the simulator says a correct pipeline shows.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from descope_sim import ChaosConfig, RateLimits, Simulator, World
from descope_sync.contract import LANDING_TABLES
from descope_sync.landing.duckdb import DuckDBLandingWriter
from tests.bigquery.marts import BUILD_STAMP_COLUMNS, MARTS, NOW_DEPENDENT_COLUMNS, differences

DATASETS = {
    "DESCOPE_RAW_DATASET": "cli_raw",
    "DESCOPE_STAGING_DATASET": "cli_staging",
    "DESCOPE_MARTS_DATASET": "cli_marts",
}
CHAOS = ChaosConfig(seed=11, p_429=0.1, p_5xx=0.05, p_malformed=0.03, p_mutation=0.4, retry_after=1)
# The models only: dbt's data and unit tests run on the emulator in test_dbt_parity.py (each takes the
# emulator a second or more), and they do not change what the models hold.
MODELS = ["--exclude", "resource_type:test", "--exclude", "resource_type:unit_test"]
# Every model of the project builds: one .sql file each under dbt_project/.
MODEL_FILES = list((Path(__file__).resolve().parents[2] / "dbt_project").rglob("*.sql"))
BUILT = f"dbt build: PASS (model:success {len(MODEL_FILES)})"


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "descope_sync.cli", *args], env=env, capture_output=True, text=True, timeout=900
    )


def bigquery_marts(emulator) -> dict[str, list[dict]]:
    client = emulator.client()
    marts = DATASETS["DESCOPE_MARTS_DATASET"]
    return {
        mart: [dict(row.items()) for row in client.query(f"select * from `{emulator.project}.{marts}.{mart}`").result()]
        for mart in MARTS
    }


def duckdb_marts(path: Path) -> dict[str, list[dict]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for mart in MARTS:
            cursor = con.execute(f"select * from {DATASETS['DESCOPE_MARTS_DATASET']}.{mart}")
            names = [d[0] for d in cursor.description]
            out[mart] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return out
    finally:
        con.close()


def copy_landing(emulator, path: Path, after=None):
    """Append the emulator's landing rows (those extracted after `after`) to a DuckDB file, as landed."""
    client = emulator.client()
    raw = DATASETS["DESCOPE_RAW_DATASET"]
    newest = None
    with DuckDBLandingWriter(path, schema=raw) as writer:
        writer.ensure_tables()
        for table, columns in LANDING_TABLES.items():
            stamp = {"ip_locations": "_looked_up_at", "_sync_runs": "finished_at"}.get(table, "_extracted_at")
            where = f"where {stamp} > @after" if after is not None else ""
            from google.cloud import bigquery

            params = [bigquery.ScalarQueryParameter("after", "TIMESTAMP", after)] if after is not None else []
            select = ", ".join(f"to_json_string({c.name}) as {c.name}" if c.type == "json" else c.name for c in columns)
            rows = client.query(
                f"select {select} from `{emulator.project}.{raw}.{table}` {where}",
                job_config=bigquery.QueryJobConfig(query_parameters=params),
            ).result()
            landed = []
            for row in rows:
                values = dict(row.items())
                for c in columns:
                    if c.type == "json" and values[c.name] is not None:
                        values[c.name] = json.loads(values[c.name])
                    if c.type == "timestamp" and values[c.name] is not None and values[c.name].tzinfo is not None:
                        values[c.name] = values[c.name].replace(tzinfo=None)  # the emulator answers in UTC
                landed.append(values)
                if values.get(stamp) is not None and (newest is None or values[stamp] > newest):
                    newest = values[stamp]
            writer.append(table, landed)
    return newest


def assert_same(emulator, duck: Path, stage: str) -> None:
    on_bigquery, on_duckdb = bigquery_marts(emulator), duckdb_marts(duck)
    problems = []
    for mart, key in MARTS.items():
        assert on_duckdb[mart], f"{stage}: {mart} is empty on duckdb: the comparison would prove nothing"
        ignore = NOW_DEPENDENT_COLUMNS + BUILD_STAMP_COLUMNS
        problems += differences(mart, key, on_duckdb[mart], on_bigquery[mart], ignore=ignore)
    assert not problems, f"after the {stage} build the engines differ:\n" + "\n".join(problems)


@pytest.fixture
def envs(bq_emulator, tmp_path):
    sim = Simulator(
        World(seed=31, users=150),
        chaos=CHAOS,
        max_page_size=60,
        rate_limits=RateLimits(user_search=(10_000, 60.0), audit_search=(10, 1.0)),
    ).start()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DESCOPE_", "BIGQUERY_", "GCP_", "GOOGLE_"))}
    base.update(
        DESCOPE_PROJECT_ID=sim.project_id,
        DESCOPE_MANAGEMENT_KEY=sim.management_key,
        DESCOPE_BASE_URL=sim.base_url,
        DESCOPE_AUDIT_SETTLE_SECONDS="0",
        **DATASETS,
    )
    duck = tmp_path / "copy.duckdb"
    yield sim, {**base, **bq_emulator.env()}, {**base, "DUCKDB_PATH": str(duck)}, duck
    sim.stop()


def test_one_chaotic_world_gives_the_same_marts_on_bigquery_and_on_duckdb(bq_emulator, envs):
    sim, on_bigquery, on_duckdb, duck = envs
    first = cli(["extract", "--target", "bigquery"], on_bigquery)
    assert first.returncode == 0, first.stdout + first.stderr
    built = cli(["transform", "--target", "bigquery", *MODELS], on_bigquery)
    assert built.returncode == 0 and BUILT in built.stdout, built.stdout + built.stderr
    copied = copy_landing(bq_emulator, duck)
    local = cli(["transform", "--target", "local", "--duckdb-path", str(duck), *MODELS], on_duckdb)
    assert local.returncode == 0, local.stdout + local.stderr
    assert_same(bq_emulator, duck, "full")

    sim.mutate(creates=4, modifies=8, deletes=3, logins=12)
    # Faults still, but the source stops changing under the last run: a change after it read the users is
    # one no run could have seen, yet the truth below would hold it (how long the first run's burst of
    # changes lasts depends on how many requests it makes).
    sim.chaos = dataclasses.replace(CHAOS, p_mutation=0.0)
    second = cli(["extract", "--target", "bigquery"], on_bigquery)
    assert second.returncode == 0, second.stdout + second.stderr
    built = cli(["transform", "--target", "bigquery", *MODELS], on_bigquery)
    assert built.returncode == 0, built.stdout + built.stderr
    copy_landing(bq_emulator, duck, after=copied)
    local = cli(["transform", "--target", "local", "--duckdb-path", str(duck), *MODELS], on_duckdb)
    assert local.returncode == 0, local.stdout + local.stderr
    assert_same(bq_emulator, duck, "incremental")

    truth = sim.world.truth()
    users = {row["user_id"]: row for row in bigquery_marts(bq_emulator)["users"]}
    assert set(users) == set(truth["users"]), "the BigQuery users mart is not the live users"
    for user_id, row in users.items():
        assert row["login_count"] == truth["expected_activity"][user_id]["login_count"], user_id
