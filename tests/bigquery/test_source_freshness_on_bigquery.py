"""`dbt source freshness --target bigquery` (Cloud Build's dbt step) reads `_sync_runs` as DuckDB does."""

from __future__ import annotations

from datetime import timedelta

from descope_sync.catalog import STREAMS
from descope_sync.contract import RunStatus
from descope_sync.landing.base import SyncRun
from descope_sync.timeutil import utcnow
from descope_sync.transform import run_dbt
from tests.bigquery.helpers import bq_writer, dataset_for
from tests.bigquery.test_dbt_parity import environment

# The declared streams this test does not name: each ran an hour ago (fresh).
FRESH_OTHERS = [s for s in STREAMS if s not in ("users", "audit_events", "ip_locations")]


def test_freshness_on_bigquery_keys_on_each_stream_s_newest_run_that_did_not_fail(bq_emulator, request):
    raw = dataset_for(request, "_raw")
    now = utcnow()
    with bq_writer(bq_emulator, raw) as writer:
        writer.ensure_tables()
        for stream, hours_ago, status in (
            ("users", 1, RunStatus.SUCCESS),
            ("audit_events", 30, RunStatus.PARTIAL),  # warns: older than 26 hours
            ("audit_events", 1, RunStatus.FAILED),  # a failed run is not the extractor having run
            ("ip_locations", 9 * 24, RunStatus.SUCCESS),  # errors: older than 7 days
            *((stream, 1, RunStatus.SUCCESS) for stream in FRESH_OTHERS),
        ):
            at = now - timedelta(hours=hours_ago)
            writer.record_run(
                SyncRun(run_id=f"r-{stream}-{hours_ago}", stream=stream, status=status, started_at=at, finished_at=at)
            )
    env = {**bq_emulator.env(), "DESCOPE_RAW_DATASET": raw}
    with environment(env):
        outcome = run_dbt("source freshness", target="bigquery")
    assert not outcome.success
    assert dict(outcome.counts) == {"source:pass": 1 + len(FRESH_OTHERS), "source:warn": 1, "source:error": 1}
    assert [w.split(":")[0] for w in outcome.warnings] == ["source audit_events"]
    assert [f.split(":")[0] for f in outcome.failures] == ["source ip_locations"]
