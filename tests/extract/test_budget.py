"""Runs limited by a time budget keep their progress, finish across invocations, and share the budget."""

from __future__ import annotations

import time

from descope_sim import RateLimits, World
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from tests.conftest import latest_landed_users, query, settings_for


def extract(settings, streams):
    return run_extract(settings, streams=streams, progress=SilentProgress())


def test_a_full_sweep_stopped_by_its_budget_resumes_and_finishes_across_invocations(simulator, tmp_path):
    sim = simulator(
        world=World(seed=3, users=4000),  # about 45 searches at 10 a second: three invocations or more
        max_page_size=100,
        rate_limits=RateLimits(user_search=(10, 1.0), audit_search=(10, 1.0)),
    )
    db = tmp_path / "w.duckdb"
    # 2.5 s: a quarter of it is the commit reserve, and each invocation starts with a count and a probe.
    settings = settings_for(sim, db, max_seconds=2.5, users_page_size=100)
    statuses = []
    for _ in range(20):
        summary = extract(settings, ["users"])
        statuses.append(str(summary.status))
        if summary.status == "success":
            break
    assert statuses[-1] == "success" and len(statuses) >= 3, statuses
    assert set(statuses[:-1]) == {"partial"}, statuses

    positions = query(
        db,
        "select run_id, max(cast((details->>'position') as bigint)) from descope_raw._sync_runs "
        "where stream = 'users' and status = 'partial' and (details->>'phase') = 'windows' "
        "group by run_id order by min(finished_at)",
    )
    reached = [p for _, p in positions]
    assert len(reached) >= 2 and reached == sorted(reached) and len(set(reached)) == len(reached), reached
    sweeps = query(
        db,
        "select count(distinct sweep_id), min(sweep_started_at) from descope_raw._sync_runs where sweep_id is not null",
    )
    first_start = query(db, "select min(started_at) from descope_raw._sync_runs where stream = 'users'")[0][0]
    assert sweeps == [(1, first_start)]  # one sweep; deletions will date from its first start
    truth = sim.world.truth()["users"]
    landed = latest_landed_users(db)
    assert set(landed) == set(truth) and all(landed[u] == truth[u] for u in truth)
    rows = query(db, "select count(*) from descope_raw.users")[0][0]
    assert rows < 1.3 * len(truth), "each invocation re-read what an earlier one had landed"


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
