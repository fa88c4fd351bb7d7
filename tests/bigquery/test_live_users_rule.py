"""The live users the extractor counts are the users dbt's `users` mart holds, on both engines.

One scenario lands in a DuckDB file and in an emulator dataset through the writers: single and bulk
deletions (IDs in `userId`, `data`, `externalIds`; the bulk deletion's actor and a single deletion's
`data` delete nobody), users landed again after their deletion, an accepted sweep that did not read
everyone, a held sweep after it, and resets. Each writer's `live_user_count` since the latest
accepted sweep (descope_sync/sweeps.py) equals the other's, and the row count of the `users` mart
`dbt build` gives on each engine.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pytest

from descope_sync.landing.base import SyncRun
from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.sweeps import last_accepted_sweep
from descope_sync.timeutil import to_ms, utcnow
from descope_sync.transform import run_dbt
from tests.bigquery.helpers import bq_query, bq_writer
from tests.bigquery.test_dbt_parity import environment

NOW = utcnow().replace(microsecond=0)
T0 = NOW - timedelta(days=3)  # everyone landed
T1 = NOW - timedelta(days=2)  # deletions
T2 = NOW - timedelta(days=1)  # the accepted sweep starts


# The models `users` is built from and their own tests (the alarms after the marts would report the
# held sweep).
CAUTIOUS = ["--indirect-selection", "cautious"]


def users(*ids: str, at: datetime, batch: str) -> list[dict[str, Any]]:
    return [
        {
            "user_id": user_id,
            "modified_at": None,
            "payload": {"userId": user_id, "status": "enabled", "createdTime": 1_700_000_000},
            "_batch_id": batch,
            "_extracted_at": at,
        }
        for user_id in ids
    ]


def event(event_id: str, action: str, user_id: str | None, minutes: int, **payload: Any) -> dict[str, Any]:
    occurred = T1 + timedelta(minutes=minutes)
    body = {"ID": event_id, "action": action, "occurred": str(to_ms(occurred)), **payload}
    if user_id is not None:
        body["userId"] = user_id
    return {
        "event_id": event_id,
        "action": action,
        "user_id": user_id,
        "occurred_at": occurred,
        "remote_address": None,
        "payload": body,
        "_batch_id": "audit",
        "_extracted_at": occurred + timedelta(minutes=1),
    }


EVERYONE = [f"U{i:02d}" for i in range(1, 21)] + ["admin"]
EVENTS = [
    event("E1", "UserDeleted", "U01", 1),
    event("E2", "UserDeleted", "U02", 2, data=["U03"], externalIds=["U04"]),  # a single deletion: U02 only
    event("E3", "UsersDeleted", "U05", 3),
    event("E4", "UsersDeleted", None, 4, actorId="admin", data={"userIds": ["U06", "admin"]}, externalIds=["U07"]),
    event("E5", "UsersDeleted", None, 5, data={"nested": [{"id": "U08"}], "note": "not-a-user"}),
    event("E6", "UserDeleted", "U09", 6),
    event("E7", "UsersDeleted", "", 7, data=["U10"]),  # an empty userId names nobody
    event("E8", "LoginSucceed", "U11", 8),
    event("E9", "UserDeleted", "gone-never-landed", 9),
]


def sweep_end(sweep_id: str, status: str, started: datetime, **details: Any) -> SyncRun:
    return SyncRun(
        run_id=f"run-{sweep_id}",
        stream="users",
        status=status,
        mode="full",
        started_at=started,
        finished_at=started + timedelta(hours=1),
        sweep_id=sweep_id,
        sweep_started_at=started,
        details=details,
    )


def reset(stream: str, at: datetime) -> SyncRun:
    return SyncRun(run_id=f"reset-{stream}-{at:%H%M}", stream=stream, status="reset", started_at=at, finished_at=at)


def land(writer) -> None:
    writer.ensure_tables()
    writer.append("users", users(*EVERYONE, at=T0, batch="first"))
    writer.append("audit_events", EVENTS)
    # landed again after their deletion (one by an import that kept the id): still deleted
    writer.append("users", users("U01", "U06", at=T1 + timedelta(hours=1), batch="again"))
    writer.record_run(reset("users", T1 + timedelta(hours=2)))
    # the accepted sweep reads all but U12, U13 (and the deleted U03 it never met)
    swept = [u for u in EVERYONE if u not in ("U12", "U13", "U03")]
    writer.append("users", users(*swept, at=T2 + timedelta(minutes=5), batch="sweep"))
    writer.record_run(sweep_end("S1", "success", T2, reconciled=True, held=False))
    # a later sweep read only a few and was held: it deletes nobody
    writer.append("users", users("U14", "U15", at=T2 + timedelta(hours=3), batch="held"))
    writer.record_run(sweep_end("S2", "incomplete", T2 + timedelta(hours=2), reconciled=True, held=True))
    writer.record_run(reset("audit_events", T2 + timedelta(hours=4)))
    writer.record_run(
        SyncRun(
            run_id="audit",
            stream="audit_events",
            status="success",
            started_at=NOW,
            finished_at=NOW,
            cursor_from=T0,
            cursor_to=NOW,
        )
    )


# Landed: 21 users. Deleted by event: U01, U02, U05 to U10 (not U03, U04: named in a single
# deletion's data; not admin: the actor). Missed by the accepted sweep S1: U03, U12, U13.
# Live: 21 - 8 - 3 = 10.
EXPECTED_LIVE = 10


def live_count(writer) -> int:
    accepted = last_accepted_sweep(writer, None)
    assert accepted is not None and accepted.sweep_id == "S1"
    return writer.live_user_count(accepted.sweep_started_at)


@pytest.fixture(scope="module")
def duck_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("live_users") / "warehouse.duckdb"
    with DuckDBLandingWriter(path) as writer:
        land(writer)
    return path


def test_the_duckdb_writer_counts_the_users_the_users_mart_holds(duck_path) -> None:
    with DuckDBLandingWriter(duck_path) as writer:
        counted = live_count(writer)
    assert counted == EXPECTED_LIVE
    outcome = run_dbt(
        "build", target="local", duckdb_path=duck_path, select=["+users"], unit_tests=False, extra_args=CAUTIOUS
    )
    assert outcome.success, outcome.failures
    con = duckdb.connect(str(duck_path))
    try:
        [(in_mart,)] = con.execute("select count(*) from descope_data_v2.users").fetchall()
    finally:
        con.close()
    assert in_mart == counted


def test_the_bigquery_writer_counts_the_users_the_users_mart_holds_on_bigquery(bq_emulator) -> None:
    suffix = uuid.uuid4().hex[:8]
    datasets = {
        "DESCOPE_RAW_DATASET": f"live_raw_{suffix}",
        "DESCOPE_STAGING_DATASET": f"live_staging_{suffix}",
        "DESCOPE_MARTS_DATASET": f"live_marts_{suffix}",
    }
    writer = bq_writer(bq_emulator, datasets["DESCOPE_RAW_DATASET"])
    try:
        land(writer)
        counted = live_count(writer)
    finally:
        writer.close()
    assert counted == EXPECTED_LIVE
    with environment({**bq_emulator.env(), **datasets}):
        outcome = run_dbt("build", target="bigquery", select=["+users"], unit_tests=False, extra_args=CAUTIOUS)
    assert outcome.success, outcome.failures
    [(in_mart,)] = bq_query(
        bq_emulator, f"select count(*) from `{bq_emulator.project}`.`{datasets['DESCOPE_MARTS_DATASET']}`.`users`"
    )
    assert in_mart == counted
