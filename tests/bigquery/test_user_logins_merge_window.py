"""user_logins holds each login once on BigQuery, whatever the age of the logins a build re-reads.

On BigQuery the MERGE into user_logins is bounded by `incremental_predicates` to the target's
partitions of the last var user_logins_merge_window_days: a login older than that no longer matches
its row in the MERGE. Logins older than the window that a build reads again (the lookback, a
backfill landed late) must therefore not be inserted a second time. The emulator runs three
incremental builds with a one-day window over logins of a quiet tenant (its newest logins are
days old), recent logins, and a backfill of old logins landed after the second build with an
extraction time older than what that build read; every login must be in user_logins exactly
once, and the table must equal a full refresh of the same landing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from descope_sync.transform import DbtOutcome, run_dbt
from tests.bigquery.helpers import bq_query, dataset_for, table
from tests.bigquery.landing import EmulatorLanding
from tests.bigquery.marts import BUILD_STAMP_COLUMNS, normalise
from tests.bigquery.test_dbt_parity import environment
from tests.transform.conftest import event

WINDOW = {"user_logins_merge_window_days": 1}
# Only user_logins and what it is built from (`dbt run`: the data tests read the other marts too).
SELECT = ["--select", "+user_logins"]


def landing_rows(events: Sequence[dict[str, Any]], extracted_at: datetime, batch: str) -> list[dict[str, Any]]:
    return [
        {
            "event_id": ev["ID"],
            "action": ev["action"],
            "user_id": ev.get("userId"),
            "occurred_at": datetime(1970, 1, 1) + timedelta(milliseconds=int(ev["occurred"])),
            "remote_address": ev.get("remoteAddress"),
            "payload": ev,
            "_batch_id": batch,
            "_extracted_at": extracted_at,
        }
        for ev in events
    ]


def logins(prefix: str, user_ids: Sequence[str], days_ago: Sequence[float], now: datetime) -> list[dict[str, Any]]:
    return [
        event(f"{prefix}-{user_id}-{n}", "LoginSucceed", user_id, now - timedelta(days=age), "198.51.100.7")
        for user_id in user_ids
        for n, age in enumerate(days_ago)
    ]


def test_user_logins_holds_each_login_once_over_three_builds(bq_emulator, request) -> None:
    datasets = {
        "DESCOPE_RAW_DATASET": dataset_for(request, "_raw"),
        "DESCOPE_STAGING_DATASET": dataset_for(request, "_stg"),
        "DESCOPE_MARTS_DATASET": dataset_for(request, "_marts"),
    }
    landing = EmulatorLanding(bq_emulator.client(), datasets["DESCOPE_RAW_DATASET"])
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    mart = table(bq_emulator, datasets["DESCOPE_MARTS_DATASET"], "user_logins")

    def build(*args: str) -> DbtOutcome:
        with environment({**bq_emulator.env(), **datasets}):
            outcome = run_dbt("run", target="bigquery", extra_args=[*SELECT, "--vars", json.dumps(WINDOW), *args])
        assert outcome.success, outcome.failures
        return outcome

    def mart_rows() -> dict[str, dict[str, Any]]:
        rows = bq_query(bq_emulator, f"select to_json_string(t) from {mart} as t")
        by_id: dict[str, dict[str, Any]] = {}
        for (text,) in rows:
            row = json.loads(text)
            assert row["event_id"] not in by_id, f"event {row['event_id']} is in user_logins twice"
            by_id[row["event_id"]] = {k: normalise(v) for k, v in row.items() if k not in BUILD_STAMP_COLUMNS}
        return by_id

    # The quiet tenant's logins are all days old; the busy one's are recent.
    quiet = logins("quiet", ["U-quiet-1", "U-quiet-2"], [3, 4, 6], now)
    busy = logins("busy", ["U-busy-1"], [0.2], now)
    landing.append("audit_events", landing_rows(quiet + busy, now - timedelta(minutes=40), "audit-1"))
    build()
    landed = {ev["ID"] for ev in quiet + busy}
    assert set(mart_rows()) == landed

    # Recent logins, extracted after the first build: the lookback reads the old ones again.
    recent = logins("recent", ["U-busy-1", "U-quiet-1"], [0.1], now)
    landing.append("audit_events", landing_rows(recent, now - timedelta(minutes=20), "audit-2"))
    build()
    landed |= {ev["ID"] for ev in recent}
    assert set(mart_rows()) == landed

    # A backfill lands old logins late: extracted before the newest extraction the last build read.
    backfill = logins("backfill", ["U-quiet-2", "U-backfill"], [2, 5], now)
    landing.append("audit_events", landing_rows(backfill, now - timedelta(minutes=30), "audit-backfill"))
    build()
    landed |= {ev["ID"] for ev in backfill}
    incremental = mart_rows()
    assert set(incremental) == landed, sorted(set(incremental) ^ landed)
    n_rows = bq_query(bq_emulator, f"select count(*), count(distinct event_id) from {mart}")[0]
    assert n_rows == (len(landed), len(landed))

    build("--full-refresh")
    refreshed = mart_rows()
    differing = sorted(k for k in landed if incremental.get(k) != refreshed.get(k))
    assert not differing, f"incremental != full refresh for {differing[:3]}: " + "; ".join(
        f"{incremental.get(k)} != {refreshed.get(k)}" for k in differing[:2]
    )
