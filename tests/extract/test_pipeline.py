"""A run (`pipeline.py`): each stream gets its own share of the time budget."""

from __future__ import annotations

import time

from descope_sim import RateLimits, World
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from tests.conftest import query, settings_for


def extract(settings, streams):
    return run_extract(settings, streams=streams, progress=SilentProgress())


def test_audit_gets_its_own_share_of_the_budget_when_users_cannot_finish(simulator, tmp_path):
    # Users alone could use the whole budget (5 searches a second, 3,000 users in pages of 100);
    # audit needs a second per page. With its own 40%, audit lands several pages whatever users do.
    sim = simulator(
        world=World(seed=5, users=3000),
        max_page_size=100,
        rate_limits=RateLimits(user_search=(5, 1.0), audit_search=(1, 1.0)),
    )
    db = tmp_path / "w.duckdb"
    started = time.monotonic()
    settings = settings_for(sim, db, max_seconds=6, users_page_size=100, audit_page_size=200)
    summary = extract(settings, ["users", "audit_events"])
    by_stream = {s.stream: s for s in summary.streams}
    assert time.monotonic() - started < 9
    assert str(by_stream["users"].status) == "partial"
    assert str(by_stream["audit_events"].status) == "partial"
    assert by_stream["audit_events"].pages >= 2, "audit was starved by the stream before it"
    assert query(db, "select count(*) from descope_raw.audit_events")[0][0] == by_stream["audit_events"].rows_loaded
