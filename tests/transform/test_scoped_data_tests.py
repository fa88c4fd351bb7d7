"""The data tests on the large event tables check what the latest build wrote, and still bite.

`stg_descope__audit_events` and `user_logins` grow with every day of history; their tests are scoped
(`where: __last_build__`, macros/scoped_data_tests.sql) to the rows of the newest `_dbt_built_at`, and
their `unique` tests to the *keys* of those rows. A new row that repeats an old key must still fail.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from descope_sync.transform import run_dbt
from tests.transform.conftest import NOW, Landing, build, event, failed_nodes, query, user

EVENT_TABLES = ("descope_staging.stg_descope__audit_events", "descope_data_v2.user_logins")


def stamps(path: Path, relation: str) -> dict[str, object]:
    return dict(query(path, f"select event_id, _dbt_built_at from {relation}"))


def dbt_test(path: Path, model: str):
    return run_dbt("test", target="local", duckdb_path=path, select=[model], unit_tests=False)


def test_each_build_stamps_only_the_rows_it_wrote(landing: Landing) -> None:
    landing.users(user("U1"), extracted_at=NOW - timedelta(hours=2))
    landing.events(event("e1", "LoginSucceed", "U1", NOW - timedelta(hours=3)), extracted_at=NOW - timedelta(hours=2))
    assert build(landing.path).success
    first = {relation: stamps(landing.path, relation) for relation in EVENT_TABLES}

    landing.events(event("e2", "LoginSucceed", "U1", NOW - timedelta(minutes=30)), extracted_at=NOW)
    outcome = build(landing.path, {"incremental_lookback_minutes": 0})
    assert outcome.success, outcome.failures
    for relation in EVENT_TABLES:
        now = stamps(landing.path, relation)
        assert now["e1"] == first[relation]["e1"], f"{relation}: an old row was written again"
        assert now["e2"] > now["e1"], f"{relation}: the new row does not carry the newer build's stamp"


def test_a_new_row_repeating_an_old_key_fails_the_scoped_unique_tests(landing: Landing) -> None:
    landing.users(user("U1"), extracted_at=NOW - timedelta(hours=2))
    landing.events(
        event("old", "LoginSucceed", "U1", NOW - timedelta(hours=3)),
        event("other", "LoginSucceed", "U1", NOW - timedelta(hours=3)),
        extracted_at=NOW - timedelta(hours=2),
    )
    assert build(landing.path).success

    for relation in EVENT_TABLES:
        model = relation.split(".")[1]
        assert dbt_test(landing.path, model).success
        # a copy of an old event, written as if by a newer build: only the copy is in the last build
        query(
            landing.path,
            f"insert into {relation} select * replace (_dbt_built_at + interval 1 hour as _dbt_built_at) "
            f"from {relation} where event_id = 'old'",
        )
        outcome = dbt_test(landing.path, model)
        assert not outcome.success
        assert [node for node in failed_nodes(outcome) if node.startswith("test unique_")] == [
            f"test unique_{model}_event_id"
        ], outcome.failures
