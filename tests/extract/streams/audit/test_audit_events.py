"""The audit_events stream's run (`streams/audit_events.py`): its window from the cursor, overlap, settle margin
and retention edge to now; lost history said once; a stopped run resumes where it stopped."""

from __future__ import annotations

from datetime import timedelta

import pytest

from descope_sim import Dialect, RateLimits, World
from descope_sync.contract import AUDIT_RETENTION_DAYS, event_id
from descope_sync.landing.base import SyncRun
from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.timeutil import from_ms, utcnow
from tests.conftest import cursor, killed_while_appending, land_audit_cursor, land_old_audit_cursor, query, settings_for
from tests.extract.streams.audit.conftest import (
    HOUR_AGO,
    NOW_MS,
    UNLIMITED,
    add_events,
    extract_at,
    extract_audit,
    landed_event_ids,
    newest_first_world,
    truth_event_ids,
)


def test_a_run_killed_mid_window_resumes_where_it_stopped(simulator, tmp_path, monkeypatch):
    sim = simulator(users=150)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, audit_page_size=100)
    pages = []

    def on_the_fourth_page(table, run):
        pages.extend([table] if table == "audit_events" else [])
        return len(pages) == 4

    with killed_while_appending(monkeypatch, on_the_fourth_page):
        extract_audit(settings)
    partial = query(db, "select count(*), max(cursor_to) from descope_raw._sync_runs where status = 'partial'")[0]
    assert partial[0] == 3 and partial[1] is not None
    assert extract_audit(settings).status == "success"
    assert set(landed_event_ids(db)) == truth_event_ids(sim)


def test_a_time_budget_stops_cleanly_with_progress_committed_and_says_how_far_behind(simulator, tmp_path):
    sim = simulator(users=150, rate_limits=RateLimits(audit_search=(2, 30.0)))
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, audit_page_size=100, max_seconds=3)
    summary = extract_audit(settings)
    stream = summary.streams[0]
    assert summary.status == "partial"
    assert "behind" in stream.message
    assert stream.details["behind_seconds"] > 0
    committed = query(db, "select count(*) from descope_raw._sync_runs where status = 'partial'")[0][0]
    assert committed == 2


def test_a_cursor_older_than_retention_records_the_lost_interval_and_continues(simulator, tmp_path, caplog):
    sim = simulator(users=60)
    db = tmp_path / "w.duckdb"
    old = land_old_audit_cursor(db, days_ago=45)
    summary = extract_audit(settings_for(sim, db))
    assert summary.status == "data_loss"  # read to the end, but the run must not say success
    lost_note = "audit events older than the retention were lost for good (DATA LOSS above)"
    assert summary.streams[0].message.startswith(lost_note)
    gap = query(db, "select cursor_from, cursor_to, error from descope_raw._sync_runs where status = 'data_loss'")
    assert len(gap) == 1
    assert gap[0][0] == old
    assert (gap[0][1] - old) > timedelta(days=14)
    assert summary.streams[0].details["lost_interval"] == [old.isoformat(), gap[0][1].isoformat()]
    assert "lost" in gap[0][2]
    assert any(
        r.levelname == "WARNING" and r.getMessage().startswith("DATA LOSS: audit events between ")
        for r in caplog.records
    )
    assert set(landed_event_ids(db)) == truth_event_ids(sim)
    again = extract_audit(settings_for(sim, db))  # the loss is reported once: the cursor moved past it
    assert again.status == "success"
    assert query(db, "select count(*) from descope_raw._sync_runs where status = 'data_loss'")[0][0] == 1


def test_a_second_run_re_reads_only_its_overlap_and_lands_each_new_event_once(simulator, tmp_path):
    sim = simulator(users=100)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, audit_page_size=50)
    first = extract_audit(settings)
    first_ids = landed_event_ids(db)
    assert len(first_ids) == len(set(first_ids)), "one run landed an event twice"
    new = {event_id(sim.world.login()["event"]) for _ in range(5)}
    second = extract_audit(settings)
    landed = landed_event_ids(db)
    assert set(landed) == truth_event_ids(sim)
    rows = query(
        db,
        "select event_id, occurred_at from descope_raw.audit_events where _batch_id = ?",
        [f"{second.run_id}:audit_events"],
    )
    again = [event for event, _ in rows]
    assert new <= set(again) and len(again) == len(set(again))
    # It reads back to the overlap, or to the newest event landed before (the anchor it must see again).
    overlap_from = first.streams[0].cursor_to - timedelta(seconds=settings.audit_overlap_seconds)
    anchor = query(db, "select max(occurred_at) from descope_raw.audit_events where event_id in ?", [first_ids])[0][0]
    reread_from = min(overlap_from, anchor)
    assert all(occurred >= reread_from for _, occurred in rows), "re-read past the overlap"
    assert sum(1 for _, occurred in rows if occurred < overlap_from) <= 5  # the anchor's millisecond, no more


def test_a_run_with_an_action_filter_lands_only_those_actions_and_proves_its_start_by_one_of_them(simulator, tmp_path):
    """DESCOPE_AUDIT_ACTIONS narrows what is asked for (the required actions always included). A run
    after an unfiltered one proves its window's start by the newest landed event of the *filtered*
    actions: an event of another action the server no longer answers proves nothing missing."""
    clock = [NOW_MS / 1000]
    world = newest_first_world(oldest_first="honoured", clock=clock)
    hour_ago = NOW_MS - 3_600_000
    world.add_event({"ID": "login-1", "userId": "U1", "action": "LoginSucceed", "occurred": str(hour_ago)})
    world.add_event({"ID": "modified-1", "userId": "U1", "action": "UserModified", "occurred": str(hour_ago + 10)})
    sim = simulator(world=world)
    db = tmp_path / "w.duckdb"
    assert str(extract_at(sim, db).streams[0].status) == "success"  # unfiltered: both land

    world.add_event({"ID": "login-2", "userId": "U1", "action": "LoginSucceed", "occurred": str(NOW_MS + 5)})
    world.add_event({"ID": "modified-2", "userId": "U1", "action": "UserModified", "occurred": str(NOW_MS + 6)})
    clock[0] = (NOW_MS + 60_000) / 1000
    summary = extract_at(sim, db, now_ms=NOW_MS + 60_000, audit_actions="LoginSucceed")
    stream = summary.streams[0]
    assert str(stream.status) == "success", stream.message
    assert set(landed_event_ids(db)) == {"login-1", "login-2", "modified-1"}
    assert stream.cursor_to == from_ms(NOW_MS + 60_000)


DAY_MS = 86_400_000


def _retention_world(clock, reading="documented"):
    from descope_sim import World

    world = World(seed=1, users=0, now=lambda: clock[0], dialect=Dialect.parse(reading))
    add_events(world, [*range(HOUR_AGO, HOUR_AGO + 120_000, 1000)])  # two minutes of events, an hour old
    return world


@pytest.mark.parametrize("reading", ["documented", "sdk_only"])
def test_after_the_extractor_was_down_past_retention_the_landed_anchor_is_not_asked_for(simulator, tmp_path, reading):
    """Events landed, then the extractor is down 35 days: the newest landed event (the anchor) is older than
    Descope's 30-day retention, which answers 400 for such a `from`. The run records the lost interval and
    reads from the retention edge, landing what arrived since; it does not fail on every run."""
    clock = [NOW_MS / 1000]
    world = _retention_world(clock, reading)
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    assert str(extract_at(sim, db).streams[0].status) == "success"

    later = NOW_MS + 35 * DAY_MS
    clock[0] = later / 1000
    new = add_events(world, [later - DAY_MS, later - 60_000])
    stream = extract_at(sim, db, now_ms=later).streams[0]
    assert str(stream.status) == "data_loss", stream.message
    assert stream.cursor_to == from_ms(later)
    assert new <= set(landed_event_ids(db))
    assert str(extract_at(sim, db, now_ms=later + 60_000).streams[0].status) == "success"


@pytest.mark.parametrize("reading", ["documented", "sdk_only"])
def test_a_quiet_tenant_whose_newest_event_left_retention_is_read_from_inside_it(simulator, tmp_path, reading):
    """The extractor runs every day but nothing happens: the cursor stays recent while the newest landed event
    (the anchor) ages past the 30-day retention. Asking `from` it would be a 400 on every run; it is not
    asked for, and the run succeeds with the cursor at its end."""
    clock = [NOW_MS / 1000]
    world = _retention_world(clock, reading)
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    for day in (0, 15, 29, 31):
        now_ms = NOW_MS + day * DAY_MS
        clock[0] = now_ms / 1000
        stream = extract_at(sim, db, now_ms=now_ms).streams[0]
        assert (day, str(stream.status)) == (day, "success"), stream.message
        assert stream.cursor_to == from_ms(now_ms)
    assert set(landed_event_ids(db)) == truth_event_ids(sim)  # (a run re-reads the anchor it proves its start by)


def test_a_cursor_within_its_overlap_of_the_retention_edge_reads_from_the_edge(simulator, tmp_path):
    """A cursor a minute inside the retention, with a five-minute overlap: re-reading the overlap would ask a
    `from` older than the retention (a 400); the window starts at the edge instead."""
    clock = [NOW_MS / 1000]
    world = _retention_world(clock)
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    edge = from_ms(NOW_MS) - timedelta(days=AUDIT_RETENTION_DAYS)
    land_audit_cursor(db, edge + timedelta(minutes=3))
    stream = extract_at(sim, db, audit_overlap_seconds=300).streams[0]
    assert str(stream.status) == "success", stream.message
    assert edge < stream.cursor_from < edge + timedelta(minutes=3)
    assert sorted(landed_event_ids(db)) == sorted(truth_event_ids(sim))


def test_events_indexed_late_are_read_once_the_settle_margin_has_passed(tmp_path):
    from descope_sim import Simulator

    clock = [1_800_000_000.0]
    world = World(seed=8, users=40, now=lambda: clock[0])
    with Simulator(world) as sim:
        db = tmp_path / "w.duckdb"

        def now():
            return from_ms(int(clock[0] * 1000))

        settings = settings_for(sim, db, audit_settle_seconds=120, audit_overlap_seconds=0)
        assert run_extract(settings, streams=["audit_events"], progress=SilentProgress(), now=now).status == "success"
        late = world.login(occurred_ms=int((clock[0] - 30) * 1000))  # occurred 30 s ago, indexed now
        late_id = late["event"].get("ID")
        clock[0] += 60  # a minute later: still inside the settle margin, the cursor has not passed it
        run_extract(settings, streams=["audit_events"], progress=SilentProgress(), now=now)
        clock[0] += 600
        run_extract(settings, streams=["audit_events"], progress=SilentProgress(), now=now)
        landed = {r[0] for r in query(db, "select event_id from descope_raw.audit_events")}
        assert late_id in landed
        assert cursor(db, "audit_events") <= now() - __import__("datetime").timedelta(seconds=120)


def test_a_cursor_just_inside_the_retention_edge_is_read_not_lost(simulator, tmp_path):
    sim = simulator(users=60)
    db = tmp_path / "w.duckdb"
    cursor = utcnow() - timedelta(days=30) + timedelta(minutes=5)  # its overlap reaches past the edge
    with DuckDBLandingWriter(db) as writer:
        writer.ensure_tables()
        writer.record_run(
            SyncRun(run_id="old", stream="audit_events", status="success", started_at=cursor, cursor_to=cursor)
        )
    summary = extract_audit(settings_for(sim, db))
    assert str(summary.status) == "success", summary.streams[0].message
    assert query(db, "select count(*) from descope_raw._sync_runs where status = 'data_loss'")[0][0] == 0
    landed = {r[0] for r in query(db, "select event_id from descope_raw.audit_events")}
    in_window = {event_id(e) for e in sim.world.truth()["events"] if int(e["occurred"]) >= int(cursor.timestamp())}
    assert in_window and in_window <= landed
