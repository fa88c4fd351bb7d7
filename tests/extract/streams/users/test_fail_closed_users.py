"""The users stream says `success` only for what it proved it read: hostile or ambiguous answers, dense
seconds, deletions nobody reported, clocks that disagree, changes during a run, budget stops."""

from __future__ import annotations

from descope_sim import RateLimits, World
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from tests.conftest import latest_landed_users, query, settings_for


def extract(settings, streams=("users",), now=None):
    kwargs = {"now": now} if now is not None else {}
    return run_extract(settings, streams=list(streams), progress=SilentProgress(), **kwargs)


def assert_landing_matches_truth(sim, db):
    truth = sim.world.truth()["users"]
    landed = latest_landed_users(db)
    assert set(truth) <= set(landed), f"{len(set(truth) - set(landed))} live users never landed"
    stale = [uid for uid, user in truth.items() if landed[uid] != user]
    assert not stale, f"{len(stale)} users landed with an old version"


# ---------------------------------------------------------------------------- malformed answers
# ---------------------------------------------------------------------------- dense seconds and reach
# ---------------------------------------------------------------------------- deletions nobody reported
def test_a_silent_deletion_starts_a_reconciled_sweep(simulator, tmp_path):
    sim = simulator(users=300)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    extract(settings, ["audit_events", "users"])
    gone = [sim.world.delete_user(emit_event=False)["userId"] for _ in range(3)]
    summary = extract(settings, ["audit_events", "users"])
    users = next(s for s in summary.streams if s.stream == "users")
    assert str(users.status) == "success"
    assert users.details["mode"] == "full" and "Descope counts" in users.details["sweep_reason"]
    started = query(
        db,
        "select sweep_started_at from descope_raw._sync_runs where status = 'success' and mode = 'full' "
        "order by finished_at desc limit 1",
    )[0][0]
    last_seen = dict(query(db, "select user_id, max(_extracted_at) from descope_raw.users group by user_id"))
    assert all(last_seen[user_id] < started for user_id in gone)  # what dbt's deletion rule reads
    assert sum(1 for extracted in last_seen.values() if extracted >= started) == len(sim.world.truth()["users"])


def test_bulk_deleted_users_are_known_without_a_sweep(simulator, tmp_path):
    sim = simulator(users=300)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    extract(settings, ["audit_events", "users"])
    sim.world.delete_test_users()
    summary = extract(settings, ["audit_events", "users"])
    users = next(s for s in summary.streams if s.stream == "users")
    assert users.details.get("mode") == "incremental", users.details.get("sweep_reason")


def test_a_sweep_that_would_remove_too_many_users_is_held_until_confirmed(simulator, tmp_path):
    sim = simulator(users=200)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    extract(settings, ["audit_events", "users"])
    for _ in range(40):  # 20%, above the default 10% a sweep may remove
        sim.world.delete_user(emit_event=False)
    summary = extract(settings, ["audit_events", "users"])
    users = next(s for s in summary.streams if s.stream == "users")
    assert str(users.status) == "incomplete"
    assert users.details["held"] is True and users.details["would_remove"] == 40
    sweep_id = users.details["sweep_id"]
    assert f"DESCOPE_CONFIRM_DELETIONS_SWEEP_ID={sweep_id}" in users.message
    # Not confirmed: every run sweeps again and holds again.
    again = extract(settings, ["audit_events", "users"])
    assert str(next(s for s in again.streams if s.stream == "users").status) == "incomplete"
    # Confirmed: the confirmed sweep counts as accepted, the counts agree, nothing is held.
    confirmed = settings_for(sim, db, confirm_deletions_sweep_id=again.streams[-1].details["sweep_id"])
    final = extract(confirmed, ["audit_events", "users"])
    users = next(s for s in final.streams if s.stream == "users")
    assert str(users.status) == "success" and users.details.get("mode") == "incremental"


# ---------------------------------------------------------------------------- page size
# ---------------------------------------------------------------------------- changes during a run, clocks
# ---------------------------------------------------------------------------- the time budget
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
