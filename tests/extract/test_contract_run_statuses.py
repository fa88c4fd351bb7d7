"""The statuses a run records are the contract's (`contract.RunStatus`), whatever the stream."""

from __future__ import annotations

from descope_sync.contract import RunStatus
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from tests.conftest import query, settings_for


def extract(settings, streams=("users",)):
    return run_extract(settings, streams=list(streams), progress=SilentProgress())


def test_run_statuses_are_the_contracts(simulator, tmp_path):
    sim = simulator(users=30)
    db = tmp_path / "w.duckdb"
    extract(settings_for(sim, db), ["audit_events", "users", "ip_locations"])
    seen = {r[0] for r in query(db, "select distinct status from descope_raw._sync_runs")}
    assert seen <= {str(s) for s in RunStatus}
