"""The same malformed landing rows give the same mart rows on BigQuery (the emulator) and on DuckDB.

The users and logins of tests/transform/test_malformed_json.py (boolean fields holding '1', 't',
'yes', '', 0, 1, objects, arrays; string fields holding numbers, booleans, objects, arrays; epoch
times of every JSON type) land in a DuckDB file and in an emulator dataset; `dbt run` builds both;
users, users_clean and user_logins must hold the same values. The emulator runs DuckDB underneath:
where BigQuery's documented semantics differ from DuckDB's (SAFE_CAST to BOOL, JSON_VALUE on an
object), the macros spell the rule out so that BigQuery, the emulator and DuckDB mean the same
(macros/json.sql; docs/design.md, "Reading JSON").
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from descope_sync.transform import run_dbt
from tests.bigquery.helpers import dataset_for
from tests.bigquery.landing import EmulatorLanding
from tests.bigquery.marts import BUILD_STAMP_COLUMNS, MARTS, NOW_DEPENDENT_COLUMNS, differences
from tests.bigquery.test_dbt_parity import duckdb_engine, environment
from tests.bigquery.test_user_logins_merge_window import landing_rows
from tests.transform.conftest import Landing
from tests.transform.test_malformed_json import EXTRACTED, LOGGED_IN, land, malformed_events, malformed_users


def user_rows(payloads: list[dict[str, Any]], extracted_at: datetime) -> list[dict[str, Any]]:
    return [
        {"user_id": p["userId"], "modified_at": None, "payload": p, "_batch_id": "users", "_extracted_at": extracted_at}
        for p in payloads
    ]


def test_malformed_json_gives_the_same_marts_on_both_engines(bq_emulator, request, tmp_path: Path) -> None:
    duckdb_path = tmp_path / "warehouse.duckdb"
    land(Landing(duckdb_path))
    outcome = run_dbt("run", target="local", duckdb_path=duckdb_path)
    assert outcome.success, outcome.failures
    expected = {mart: duckdb_engine(duckdb_path).read(mart) for mart in MARTS}

    datasets = {
        "DESCOPE_RAW_DATASET": dataset_for(request, "_raw"),
        "DESCOPE_STAGING_DATASET": dataset_for(request, "_stg"),
        "DESCOPE_MARTS_DATASET": dataset_for(request, "_marts"),
    }
    client = bq_emulator.client()
    landing = EmulatorLanding(client, datasets["DESCOPE_RAW_DATASET"])
    landing.append("users", user_rows(malformed_users(), EXTRACTED))
    landing.append("audit_events", landing_rows(malformed_events(LOGGED_IN), EXTRACTED, "audit"))
    with environment({**bq_emulator.env(), **datasets}):
        outcome = run_dbt("run", target="bigquery")
    assert outcome.success, outcome.failures
    marts = f"`{bq_emulator.project}`.`{datasets['DESCOPE_MARTS_DATASET']}`"
    actual = {
        mart: [dict(row.items()) for row in client.query(f"select * from {marts}.{mart}").result()] for mart in MARTS
    }

    problems = []
    for mart, key in MARTS.items():
        assert expected[mart], f"duckdb {mart} is empty: the comparison would prove nothing"
        problems += differences(mart, key, expected[mart], actual[mart], BUILD_STAMP_COLUMNS + NOW_DEPENDENT_COLUMNS)
    assert not problems, "the same malformed landing gives different marts:\n" + "\n".join(problems)
