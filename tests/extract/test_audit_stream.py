"""The audit_events stream against the simulator over real HTTP."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta

import pytest

from descope_sim import ChaosConfig, RateLimits
from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.streams.audit_events import event_id
from descope_sync.timeutil import from_ms, to_ms
from tests.conftest import killed_while_appending, land_audit_cursor, land_old_audit_cursor, logged, query, settings_for


def extract_audit(settings):
    return run_extract(settings, streams=["audit_events"], progress=SilentProgress())


def truth_event_ids(sim) -> set[str]:
    return {event_id(e) for e in sim.world.truth()["events"]}


def landed_event_ids(db) -> list[str]:
    return [r[0] for r in query(db, "select event_id from descope_raw.audit_events")]


def test_audit_paging_across_many_pages_lands_every_event(simulator, tmp_path):
    sim = simulator(users=150)
    db = tmp_path / "w.duckdb"
    summary = extract_audit(settings_for(sim, db, audit_page_size=100))
    stream = summary.streams[0]
    assert stream.status == "success"
    assert stream.pages > 5
    landed = landed_event_ids(db)
    assert set(landed) == truth_event_ids(sim)
    assert len(landed) == len(set(landed))  # keyset paging re-reads ties but lands them once per run
    # every row says when it was extracted, and the checkpoints account for every row landed
    assert query(db, "select count(*) from descope_raw.audit_events where _extracted_at is null") == [(0,)]
    run_rows = "select sum(rows_loaded) from descope_raw._sync_runs where stream = 'audit_events'"
    assert query(db, run_rows) == [(len(landed),)]


def test_occurred_strings_and_missing_ids_are_typed_and_hashed(simulator, tmp_path):
    sim = simulator(users=80)
    db = tmp_path / "w.duckdb"
    extract_audit(settings_for(sim, db))
    rows = query(
        db,
        "select event_id, occurred_at, payload->>'occurred', payload->>'ID' from descope_raw.audit_events limit 500",
    )
    hashed = [r for r in rows if r[3] is None]
    assert hashed and all(r[0].startswith("h_") for r in hashed)
    for _, occurred_at, occurred_text, _ in rows:
        assert isinstance(occurred_text, str) and occurred_text.isdigit()
        assert occurred_at == from_ms(int(occurred_text))


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


def test_a_429_storm_is_waited_out_and_loses_nothing(simulator, tmp_path):
    chaos = ChaosConfig(seed=3, p_429=0.6, p_5xx=0.1, p_malformed=0.05, p_mutation=0.0, retry_after=1)
    sim = simulator(users=120, chaos=chaos, rate_limits=RateLimits(audit_search=(4, 1.0)))
    db = tmp_path / "w.duckdb"
    summary = extract_audit(settings_for(sim, db, audit_page_size=200))
    assert summary.status == "success"
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


@pytest.mark.parametrize("where", ["last", "first", "middle"])
@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b'"a bare string"', "not an object"),
        (b'{"id": "EVbad", "action": "LoginSucceed", "occurred": "soon"}', "audit event without a usable 'occurred'"),
    ],
)
def test_a_malformed_event_anywhere_in_a_page_is_quarantined_and_the_rest_land(
    simulator, tmp_path, caplog, where, bad, reason
):
    sim = simulator(users=40)
    original, served = sim.world.search_audit, []

    def with_a_malformed_event(**query):
        events, total = original(**query)
        if len(events) > 2 and not served:
            served.append(True)
            at = {"first": 0, "middle": len(events) // 2, "last": len(events)}[where]
            return [*events[:at], bad, *events[at:]], total + 1
        return events, total

    sim.world.search_audit = with_a_malformed_event
    db = tmp_path / "w.duckdb"
    summary = extract_audit(settings_for(sim, db))
    stream = summary.streams[0]
    assert served and stream.status == "success" and stream.rows_quarantined == 1
    quarantined = "select stream, reason, payload::varchar, _batch_id, _extracted_at from descope_raw._quarantine"
    [(table, why, payload, batch, extracted_at)] = query(db, quarantined)
    assert (table, why, batch) == ("audit_events", reason, f"{summary.run_id}:audit_events")
    assert extracted_at is not None
    assert json.loads(payload) == json.loads(bad)
    assert set(landed_event_ids(db)) == truth_event_ids(sim)
    assert "audit_events: quarantined 1 malformed event(s)" in logged(caplog)


# ---------------------------------------------------------------------------- rarer paths (mutation survivors)
def _fixed_clock_world(**kwargs):
    from descope_sim import World

    clock = [1_800_000_000.0]
    world = World(now=lambda: clock[0], **kwargs)
    return world, clock, (lambda: from_ms(int(clock[0] * 1000)))


def test_a_dense_millisecond_offset_paging_cannot_reach_ends_incomplete_with_the_cursor_before_it(simulator, tmp_path):
    world, clock, now = _fixed_clock_world(seed=6, users=40)
    dense = int(clock[0] * 1000) - 3_600_000
    for _ in range(130):  # more events in one millisecond than offset paging reaches (max_offset 100)
        world.login(occurred_ms=dense)
    sim = simulator(world=world, max_offset=100)
    db = tmp_path / "w.duckdb"
    summary = run_extract(
        settings_for(sim, db, audit_page_size=50), streams=["audit_events"], progress=SilentProgress(), now=now
    )
    stream = summary.streams[0]
    assert str(stream.status) == "incomplete"
    assert "offset paging reached only 100" in stream.message
    rows = query(
        db,
        "select status, started_at, cursor_from, cursor_to, error from descope_raw._sync_runs "
        "where stream = 'audit_events' order by finished_at, status",
    )
    terminal = [r for r in rows if r[0] == "incomplete"]
    assert len(terminal) == 1 and terminal[0][3] is None and terminal[0][4] == stream.message
    assert terminal[0][2] == stream.cursor_from
    # every checkpoint of the run says when the run started, and none claims the dense millisecond
    assert rows and all(r[1] == now() for r in rows)
    assert all(r[3] is None or r[3] <= from_ms(dense) for r in rows)
    landed = {r[0] for r in query(db, "select event_id from descope_raw.audit_events")}
    older = {event_id(e) for e in sim.world.truth()["events"] if int(e["occurred"]) < dense}
    assert older <= landed


def test_every_audit_checkpoint_is_backed_by_the_events_it_claims(simulator, tmp_path, monkeypatch):
    """A checkpoint's cursor_to says every event before it is landed: true after a dense millisecond too."""
    world, clock, now = _fixed_clock_world(seed=6, users=40)
    dense = int(clock[0] * 1000) - 3_600_000
    for _ in range(130):  # a millisecond fuller than a page, read by offset pages
        world.login(occurred_ms=dense)
    for _ in range(3):  # and the very next millisecond
        world.login(occurred_ms=dense + 1)
    sim = simulator(world=world)
    db = tmp_path / "w.duckdb"
    truth = [(int(e["occurred"]), event_id(e)) for e in sim.world.truth()["events"]]
    landed: set[str] = set()
    unbacked: list[tuple] = []
    original = DuckDBLandingWriter.append

    def checking(self, table, rows, run=None):
        if table == "audit_events":
            landed.update(r["event_id"] for r in rows)
            if run is not None and run.cursor_to is not None:
                claimed = from_ms(0) if run.cursor_from is None else run.cursor_from
                missing = [(o, i) for o, i in truth if claimed <= from_ms(o) < run.cursor_to and i not in landed]
                if missing:
                    unbacked.append((run.cursor_to, missing[:3]))
        return original(self, table, rows, run)

    monkeypatch.setattr(DuckDBLandingWriter, "append", checking)
    summary = run_extract(
        settings_for(sim, db, audit_page_size=50), streams=["audit_events"], progress=SilentProgress(), now=now
    )
    assert str(summary.status) == "success"
    assert not unbacked, f"checkpoints claim events not landed: {unbacked}"
    assert landed == {i for _, i in truth}


def test_an_oversize_audit_page_halves_the_page_size_not_more(simulator, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="descope_sync")
    sim = simulator(users=150)
    db = tmp_path / "w.duckdb"
    events = len(sim.world.truth()["events"])
    size_of_one = max(len(b) for b in sim.world.search_audit(from_ms=0, to_ms=2**62, size=events, page=0)[0])
    # a page of 100 events is too big; halved to 50 (and then 25, ...) pages fit again
    settings = settings_for(sim, db, audit_page_size=100, max_page_bytes=60 * size_of_one)
    stream = extract_audit(settings).streams[0]
    assert str(stream.status) == "success"
    assert set(landed_event_ids(db)) == truth_event_ids(sim)
    assert stream.pages < events / 10  # dropping to one event a page would take a page per event
    halvings = [m for m in logged(caplog) if "-byte page; asking for" in m]
    assert re.fullmatch(r"audit_events: a \d+-byte page; asking for 50 events per page", halvings[0]), halvings


def test_a_newest_first_server_whose_total_grows_while_paging_lands_every_event(simulator, tmp_path):
    from descope_sim import Dialect, World

    world = World(seed=6, users=150, dialect=Dialect.parse("audit_oldest_first=ignored"))
    dense = int(world.now() * 1000) - 3_600_000
    for _ in range(130):  # a millisecond fuller than a page, read by offset pages
        world.login(occurred_ms=dense)
    arrived: list[str] = []

    def a_login_arrives_now_and_then(phase, endpoint, request, world):
        if phase == "before" and endpoint == "audit_search" and len(arrived) < 6 and request.get("page", 0) > 0:
            occurred = int(world.now() * 1000) - 1_800_000  # inside the window: its total moves under the reader
            arrived.append(event_id(world.login(occurred_ms=occurred)["event"]))

    sim = simulator(world=world, on_request=a_login_arrives_now_and_then)
    db = tmp_path / "w.duckdb"
    stream = extract_audit(settings_for(sim, db, audit_page_size=50)).streams[0]
    assert str(stream.status) == "success", stream.message
    assert stream.details["newest_first"] is True and arrived
    landed = landed_event_ids(db)
    assert len(landed) == len(set(landed))
    assert set(landed) == truth_event_ids(sim)  # the late arrivals too
    assert set(arrived) <= set(landed)


def test_a_newest_first_tail_of_the_millisecond_before_the_window_is_asked_again_exactly(simulator, tmp_path):
    """`from` read inclusively shows the millisecond before the window as the tail: it is asked again, not landed."""
    from descope_sim import Dialect, World
    from descope_sync.contract import AUDIT_RETENTION_DAYS
    from descope_sync.streams.audit_events import RETENTION_MARGIN

    clock = [1_800_000_000.0]
    world = World(seed=6, users=150, now=lambda: clock[0], dialect=Dialect.parse("audit_oldest_first=ignored"))

    def now():
        return from_ms(int(clock[0] * 1000))

    window_from = now() - timedelta(days=AUDIT_RETENTION_DAYS) + RETENTION_MARGIN
    before = {event_id(world.login(occurred_ms=int(window_from.timestamp() * 1000) - 1)["event"]) for _ in range(60)}
    sim = simulator(world=world)
    db = tmp_path / "w.duckdb"
    stream = run_extract(
        settings_for(sim, db, audit_page_size=50), streams=["audit_events"], progress=SilentProgress(), now=now
    ).streams[0]
    assert str(stream.status) == "success", stream.message
    assert stream.details["newest_first"] is True
    landed = landed_event_ids(db)
    assert not before & set(landed)  # older than the window: not landed
    assert set(landed) == truth_event_ids(sim) - before
    assert len(landed) == len(set(landed))


@pytest.mark.parametrize(
    ("lag_seconds", "said"),
    [
        (59, "0 minutes"),
        (60, "1 minutes"),
        (3599, "59 minutes"),
        (3600, "1.0 hours"),
        (5400, "1.5 hours"),
        (6300, "1.8 hours"),
        (86399, "24.0 hours"),
        (86400, "1.0 days"),
        (151200, "1.8 days"),
    ],
)
def test_a_budget_stop_says_how_far_behind_the_cursor_is(simulator, tmp_path, lag_seconds, said):
    started = from_ms(1_800_000_000_000)
    db = tmp_path / "w.duckdb"
    cursor = land_audit_cursor(db, started - timedelta(seconds=lag_seconds))
    # Every request is rate limited for longer than the budget allows: the run stops before its first page.
    sim = simulator(users=20, chaos=ChaosConfig(seed=1, p_429=1.0, p_5xx=0.0, p_malformed=0.0, p_mutation=0.0))
    settings = settings_for(sim, db, max_seconds=1, audit_overlap_seconds=0)
    stream = run_extract(settings, streams=["audit_events"], progress=SilentProgress(), now=lambda: started).streams[0]
    assert str(stream.status) == "partial"
    at = cursor.isoformat(sep=" ")
    assert f"progress is committed up to {at} UTC, {said} behind; the next run continues from there" in stream.message
    assert stream.details["behind_seconds"] == lag_seconds


# ---------------------------------------------------------------------------- a newest-first server, event by event
NOW_MS = 1_800_000_000_000  # the stopped clock of these worlds and runs
UNLIMITED = RateLimits(user_search=(100_000, 60.0), audit_search=(100_000, 1.0))


def _newest_first_world(*occurred_ms, clock=None, audit_from="exclusive", oldest_first="ignored", omit_empty=False):
    """A world that ignores oldestFirst (unless told), holds no users and only the events given, its clock stopped."""
    from descope_sim import Dialect, World

    clock = clock or [NOW_MS / 1000]
    points = f"audit_oldest_first={oldest_first},audit_from={audit_from},omit_empty={str(omit_empty).lower()}"
    dialect = Dialect.parse(points)
    world = World(seed=1, users=0, now=lambda: clock[0], dialect=dialect)
    _add_events(world, occurred_ms)
    return world


def _add_events(world, occurred_ms) -> set[str]:
    """Logins of one user at these milliseconds, with ids of their own; returns the ids."""
    known = len(world.truth()["events"])
    ids = [f"E{known + n:06d}" for n in range(len(occurred_ms))]
    for id_, ms in zip(ids, occurred_ms, strict=True):
        world.add_event({"ID": id_, "action": "LoginSucceed", "userId": "U1", "occurred": str(ms)})
    return set(ids)


def _extract_at(sim, db, now_ms=NOW_MS, **overrides):
    settings = settings_for(sim, db, **{"audit_page_size": 50, **overrides})
    return run_extract(settings, streams=["audit_events"], progress=SilentProgress(), now=lambda: from_ms(now_ms))


def _assert_incomplete_and_nothing_claimed(stream, db, said):
    """The run ends incomplete saying `said`, with one run row, no cursor, and nothing landed."""
    assert (str(stream.status), stream.message) == ("incomplete", said)
    assert _checkpoints(db) == [("incomplete", None, said)]
    assert landed_event_ids(db) == []


def _checkpoints(db):
    """(status, cursor_to, error) of every audit_events run row, oldest first."""
    return query(
        db,
        "select status, cursor_to, error from descope_raw._sync_runs "
        "where stream = 'audit_events' order by finished_at",
    )


@pytest.mark.parametrize(("events", "requests", "pages"), [(98, 3, 2), (150, 5, 4)])
def test_a_newest_first_window_is_read_tail_first_in_as_few_requests_as_its_size_allows(
    simulator, tmp_path, events, requests, pages
):
    """Page 0, then the tail page again and again, then the rest in one page: every request is rate limited."""
    sim = simulator(world=_newest_first_world(*range(NOW_MS - 3_600_000, NOW_MS - 3_600_000 + events)))
    db = tmp_path / "w.duckdb"
    summary = _extract_at(sim, db)
    stream = summary.streams[0]
    assert str(stream.status) == "success" and stream.details["newest_first"] is True
    assert sorted(landed_event_ids(db)) == sorted(truth_event_ids(sim))
    assert (summary.requests["total"], stream.pages) == (requests, pages)
    # every page commits the cursor up to its newest event, the last one up to the end of the window
    cursors = [cursor for _, cursor, _ in _checkpoints(db)]
    assert len(cursors) == pages and None not in cursors and cursors == sorted(cursors)
    assert stream.cursor_to == cursors[-1] == from_ms(NOW_MS)


def test_a_newest_first_server_whose_window_keeps_changing_ends_incomplete_and_says_try_again_later(
    simulator, tmp_path
):
    def a_login_on_every_tail_request(phase, endpoint, request, world):
        if phase == "before" and request.get("page", 0) > 0:
            _add_events(world, [NOW_MS - 1000 - len(world.truth()["events"])])

    world = _newest_first_world(*range(NOW_MS - 3_600_000, NOW_MS - 3_600_000 + 150))
    sim = simulator(world=world, on_request=a_login_on_every_tail_request, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    stream = _extract_at(sim, db, max_seconds=20).streams[0]  # a loop would run out of it
    said = "audit_events: the audit window kept changing under a newest-first server; try again later"
    _assert_incomplete_and_nothing_claimed(stream, db, said)


def test_a_newest_first_total_that_moves_eight_times_in_a_row_twice_is_still_read_to_the_end(simulator, tmp_path):
    """Eight answers in a row whose total moved are waited out (a ninth would not be): the count starts
    at zero and starts again after every tail page that could be read."""
    tail_requests = []

    def a_login_on_eight_tail_requests_then_one_calm_then_eight_more(phase, endpoint, request, world):
        if phase == "before" and request.get("page", 0) > 0:
            tail_requests.append(request["page"])
            if len(tail_requests) != 9 and len(tail_requests) <= 17:
                _add_events(world, [NOW_MS - 1000 - len(tail_requests)])

    world = _newest_first_world(*range(NOW_MS - 3_600_000, NOW_MS - 3_600_000 + 150))
    sim = simulator(
        world=world, on_request=a_login_on_eight_tail_requests_then_one_calm_then_eight_more, rate_limits=UNLIMITED
    )
    db = tmp_path / "w.duckdb"
    stream = _extract_at(sim, db).streams[0]
    assert str(stream.status) == "success", stream.message
    assert len(tail_requests) >= 18  # both runs of eight moved totals, and a calm tail after each
    assert sorted(landed_event_ids(db)) == sorted(truth_event_ids(sim))
    assert stream.cursor_to == from_ms(NOW_MS)


def test_a_newest_first_tail_page_cut_short_before_paging_was_shown_is_read_by_time_windows(simulator, tmp_path):
    """A server that answers no items past an offset (a search engine's max result window) while counting
    them: its first tail page is not the size it must be, so nothing shows it pages. The window is read with
    `from` and `to` alone: every event lands once and the cursor reaches the end."""
    world = _newest_first_world(*range(NOW_MS - 3_600_000, NOW_MS - 3_600_000 + 150))
    sim = simulator(world=world, max_offset=100, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    stream = _extract_at(sim, db).streams[0]
    assert str(stream.status) == "success", stream.message
    assert stream.details["windows"] is True
    assert sorted(landed_event_ids(db)) == sorted(truth_event_ids(sim))
    assert stream.cursor_to == from_ms(NOW_MS)


def test_a_newest_first_tail_page_cut_short_after_paging_was_shown_ends_incomplete(simulator, tmp_path):
    """Once a tail page showed the server pages, a later tail page cut short cannot be proved whole: the run
    ends incomplete and the cursor stays at the last tail page landed."""
    tails = []

    def cut_from_the_second_tail_page(phase, endpoint, request, world):
        if phase == "before" and request.get("page", 0) > 0:
            tails.append(request["page"])
            sim_ref[0].max_offset = 100 if len(tails) > 1 else None

    sim_ref = []
    world = _newest_first_world(*range(HOUR_AGO, HOUR_AGO + 300))
    sim = simulator(world=world, on_request=cut_from_the_second_tail_page, rate_limits=UNLIMITED)
    sim_ref.append(sim)
    db = tmp_path / "w.duckdb"
    stream = _extract_at(sim, db).streams[0]
    assert (str(stream.status), stream.message) == (
        "incomplete",
        "audit_events: page 5 of 251 events held 0; cannot prove the tail was read",
    )
    assert stream.cursor_to == from_ms(HOUR_AGO + 49)
    assert sorted(landed_event_ids(db)) == [f"E{n:06d}" for n in range(50)]


def test_a_newest_first_tail_page_older_than_the_window_ends_incomplete(simulator, tmp_path):
    """A server that answers a minute more than the `from` it was given: its tail page (the oldest
    events) holds nothing of the window, so the window cannot be read from its tail."""
    from descope_sync.contract import AUDIT_RETENTION_DAYS
    from descope_sync.streams.audit_events import RETENTION_MARGIN

    window_from = to_ms(from_ms(NOW_MS) - timedelta(days=AUDIT_RETENTION_DAYS) + RETENTION_MARGIN)

    def a_minute_early(phase, endpoint, request, world):
        if phase == "before":
            request["from"] -= 60_000

    before = [window_from - 30_000] * 60
    world = _newest_first_world(*before, *range(NOW_MS - 3_600_000, NOW_MS - 3_600_000 + 100))
    sim = simulator(world=world, on_request=a_minute_early, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    stream = _extract_at(sim, db, max_seconds=20).streams[0]  # a loop would run out of it
    said = "audit_events: the tail page of a newest-first answer holds no event in the window"
    _assert_incomplete_and_nothing_claimed(stream, db, said)


def test_a_newest_first_window_ends_at_the_settle_margin_even_when_newer_events_would_fill_a_page(simulator, tmp_path):
    """The last page asks up to the end of the window, not up to now: events of the last minute (not
    yet settled) would make it more than a page."""
    settled = range(NOW_MS - 3_600_000, NOW_MS - 3_600_000 + 70)
    unsettled = range(NOW_MS - 30_000, NOW_MS - 30_000 + 30)
    sim = simulator(world=_newest_first_world(*settled, *unsettled), rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    stream = _extract_at(sim, db, audit_settle_seconds=60).streams[0]
    assert str(stream.status) == "success", stream.message
    landed = query(db, "select cast(payload->>'occurred' as bigint) from descope_raw.audit_events")
    assert sorted(occurred for (occurred,) in landed) == list(settled)
    assert stream.cursor_to == from_ms(NOW_MS - 60_000)


def test_a_second_run_against_a_newest_first_server_proves_the_event_landed_before_and_lands_the_new_ones_once(
    simulator, tmp_path
):
    """The second run re-reads from its overlap and must find the newest event the first run landed (the
    anchor) before it moves the cursor. Its window starts at a busy millisecond, right after another one
    (that an inclusive `from` shows first), so the tail pages are asked again and read by offset before
    the anchor is in sight."""
    clock = [NOW_MS / 1000]
    busy = NOW_MS - 600_000  # the second run's window starts here (its overlap reaches back 10 minutes)
    anchor = busy + 300_000
    world = _newest_first_world(*[busy - 1] * 60, *[busy] * 60, anchor, clock=clock, audit_from="inclusive")
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    first = _extract_at(sim, db)
    assert str(first.streams[0].status) == "success"
    assert len(landed_event_ids(db)) == 121

    later = NOW_MS + 3_600_000
    clock[0] = later / 1000
    new = _add_events(world, range(NOW_MS + 1000, NOW_MS + 1060))
    second = _extract_at(sim, db, now_ms=later, audit_overlap_seconds=600)
    stream = second.streams[0]
    assert str(stream.status) == "success", stream.message
    assert stream.cursor_from == from_ms(busy) and stream.cursor_to == from_ms(later)
    assert set(landed_event_ids(db)) == truth_event_ids(sim)
    reread = query(
        db,
        "select event_id, cast(payload->>'occurred' as bigint) from descope_raw.audit_events where _batch_id = ?",
        [f"{second.run_id}:audit_events"],
    )
    assert new <= {event for event, _ in reread} and len(reread) == len({event for event, _ in reread})
    assert min(occurred for _, occurred in reread) == busy  # the millisecond before the window is not landed again


def test_a_newest_first_server_that_indexes_a_burst_as_the_last_page_is_asked_lands_the_burst_too(simulator, tmp_path):
    page_0_requests = []

    def a_burst_at_the_second_page_0(phase, endpoint, request, world):
        if phase == "before" and request.get("page", 0) == 0:
            page_0_requests.append(request)
            if len(page_0_requests) == 2:
                _add_events(world, range(NOW_MS - 2000, NOW_MS - 1940))

    world = _newest_first_world(*range(NOW_MS - 3_600_000, NOW_MS - 3_600_000 + 98))
    sim = simulator(world=world, on_request=a_burst_at_the_second_page_0, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    stream = _extract_at(sim, db).streams[0]
    assert str(stream.status) == "success", stream.message
    assert len(page_0_requests) > 2
    landed = landed_event_ids(db)
    assert sorted(landed) == sorted(truth_event_ids(sim)) and len(landed) == 98 + 60
    assert stream.cursor_to == from_ms(NOW_MS)


def test_a_newest_first_server_answering_an_empty_object_for_the_last_page_moves_the_cursor_no_further(
    simulator, tmp_path
):
    """`{}` proves nothing: the cursor stays at the newest event landed, and the next run reads the rest."""
    sim_ref = []

    def an_empty_object_for_the_second_page_0(phase, endpoint, request, world):
        if request.get("page", 0) == 0 and request["from"] > NOW_MS - 3_600_000:
            sim_ref[0].answer_fault = {"audit_search": "empty_object" if phase == "before" else None}

    first_ms = NOW_MS - 3_600_000
    world = _newest_first_world(*range(first_ms, first_ms + 98))
    sim = simulator(world=world, on_request=an_empty_object_for_the_second_page_0, rate_limits=UNLIMITED)
    sim_ref.append(sim)
    db = tmp_path / "w.duckdb"
    stream = _extract_at(sim, db).streams[0]
    landed = query(db, "select max(cast(payload->>'occurred' as bigint)), count(*) from descope_raw.audit_events")
    assert landed == [(first_ms + 48, 49)]  # the tail page: the 49 oldest
    assert stream.cursor_to == from_ms(first_ms + 48)
    assert max(cursor for _, cursor, _ in _checkpoints(db)) == from_ms(first_ms + 48)

    sim.on_request = None
    assert str(_extract_at(sim, db).status) == "success"
    assert set(landed_event_ids(db)) == truth_event_ids(sim)


# ---------------------------------------------------------------------------- a millisecond fuller than a page
ORDERS = ["ignored", "honoured"]  # whether the server honours oldestFirst: the stream must be right either way
HOUR_AGO = NOW_MS - 3_600_000


def _unbacked_checkpoints(monkeypatch, sim) -> list:
    """Checks every audit checkpoint as it commits: each event that occurred before its cursor_to must be
    landed by then (by this run or an earlier one). Returns the list of checkpoints that were not."""
    landed: set[str] = set()
    unbacked: list = []
    original = DuckDBLandingWriter.append

    def checking(self, table, rows, run=None):
        if table == "audit_events":
            landed.update(r["event_id"] for r in rows)
            if run is not None and run.cursor_to is not None:
                cut = to_ms(run.cursor_to)
                missing = [e for e in sim.world.truth()["events"] if int(e["occurred"]) < cut]
                missing = [event_id(e) for e in missing if event_id(e) not in landed]
                if missing:
                    unbacked.append((run.cursor_to, len(missing)))
        return original(self, table, rows, run)

    monkeypatch.setattr(DuckDBLandingWriter, "append", checking)
    return unbacked


DENSE_LAYOUTS = {
    # 60 events in one millisecond (more than the page of 50) at the newest, the oldest, ... of the window
    "newest": [*range(HOUR_AGO, HOUR_AGO + 30), *[HOUR_AGO + 1000] * 60],
    "oldest": [*[HOUR_AGO] * 60, *range(HOUR_AGO + 1, HOUR_AGO + 31)],
    "both": [*[HOUR_AGO] * 60, *range(HOUR_AGO + 1, HOUR_AGO + 31), *[HOUR_AGO + 1000] * 60],
    "middle": [*range(HOUR_AGO, HOUR_AGO + 20), *[HOUR_AGO + 500] * 60, *range(HOUR_AGO + 600, HOUR_AGO + 620)],
    "only": [HOUR_AGO] * 60,
    "newest, a long tail": [*range(HOUR_AGO, HOUR_AGO + 120), *[HOUR_AGO + 1000] * 60],
}


@pytest.mark.parametrize("audit_from", ["exclusive", "inclusive"])
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("layout", list(DENSE_LAYOUTS))
def test_a_millisecond_fuller_than_a_page_anywhere_in_the_window_loses_no_event_whatever_the_order(
    simulator, tmp_path, monkeypatch, layout, order, audit_from
):
    """A page all of one millisecond does not say which end of the window it is (the oldest events if
    the server honours oldestFirst, the newest if not): no cursor passes an event older than it unread,
    whether the server counts `from` in or out."""
    world = _newest_first_world(*DENSE_LAYOUTS[layout], oldest_first=order, audit_from=audit_from)
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    unbacked = _unbacked_checkpoints(monkeypatch, sim)
    stream = _extract_at(sim, db).streams[0]
    assert str(stream.status) == "success", stream.message
    landed = landed_event_ids(db)
    assert sorted(landed) == sorted(truth_event_ids(sim))  # every event, once
    assert stream.cursor_to == from_ms(NOW_MS)
    assert unbacked == []


@pytest.mark.parametrize("order", ORDERS)
def test_a_rerun_over_full_milliseconds_at_both_ends_of_its_window_lands_every_event_and_loses_none(
    simulator, tmp_path, monkeypatch, order
):
    """The second run re-reads from the first run's newest event (its anchor, in a full millisecond) to a
    new full millisecond: its first page is one millisecond again, and must not be read as the anchor missing,
    nor skip the millisecond right after it."""
    clock = [NOW_MS / 1000]
    world = _newest_first_world(*DENSE_LAYOUTS["newest"], clock=clock, oldest_first=order)
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    unbacked = _unbacked_checkpoints(monkeypatch, sim)
    first = _extract_at(sim, db).streams[0]
    assert str(first.status) == "success", first.message

    later = NOW_MS + 3_600_000
    clock[0] = later / 1000
    # and one event indexed late, a millisecond after the anchor's full millisecond
    _add_events(world, [HOUR_AGO + 1001, *range(NOW_MS + 1000, NOW_MS + 1030), *[NOW_MS + 600_000] * 60])
    second = _extract_at(sim, db, now_ms=later, audit_overlap_seconds=600)
    stream = second.streams[0]
    assert str(stream.status) == "success", stream.message
    assert stream.cursor_to == from_ms(later)
    assert set(landed_event_ids(db)) == truth_event_ids(sim)
    reread = query(
        db, "select event_id from descope_raw.audit_events where _batch_id = ?", [f"{second.run_id}:audit_events"]
    )
    assert len(reread) == len({e for (e,) in reread})  # a run lands each event once (runs may overlap)
    assert unbacked == []


# ---------------------------------------------------------------------------- a page size above the server's cap
@pytest.mark.parametrize(
    ("order", "occurred"),
    [
        ("ignored", range(HOUR_AGO, HOUR_AGO + 1500)),
        ("honoured", [HOUR_AGO] * 1500),
        ("ignored", [HOUR_AGO] * 1500),
    ],
    ids=["newest-first", "oldest-first, one millisecond", "newest-first, one millisecond"],
)
def test_a_page_size_above_what_the_server_serves_is_learned_from_page_0_and_every_event_lands(
    simulator, tmp_path, order, occurred, caplog
):
    caplog.set_level(logging.INFO, logger="descope_sync")
    """The simulator serves at most 1000 events a page whatever `size` asks: a page 0 shorter than both
    the size asked and its total shows the cap, and the stream asks for that many from then on."""
    sim = simulator(world=_newest_first_world(*occurred, oldest_first=order), rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    summary = _extract_at(sim, db, audit_page_size=2000, max_seconds=20)  # a loop would run out of it
    stream = summary.streams[0]
    assert str(stream.status) == "success", stream.message
    assert sorted(landed_event_ids(db)) == sorted(truth_event_ids(sim))
    assert stream.cursor_to == from_ms(NOW_MS)
    assert summary.requests["total"] <= 7  # page 0, two passes of two pages, one count of [from, ms], the rest
    learned = "audit_events: Descope serves 1000 events a page; asking for that many"
    assert logged(caplog).count(learned) == 1


# ---------------------------------------------------------------------------- the newest-first last page
def _on_the_last_page(change):
    """An on_request hook that applies `change(request)` to the newest-first last page (the page 0 asked
    after the tail page landed, from later than the window's first event)."""

    def hook(phase, endpoint, request, world):
        if phase == "before" and request.get("page", 0) == 0 and request["from"] > HOUR_AGO:
            change(request)

    return hook


@pytest.mark.parametrize("answer", ["explicit empty", "a short total"])
def test_a_newest_first_last_page_counting_fewer_events_than_known_to_remain_moves_the_cursor_no_further(
    simulator, tmp_path, answer
):
    """After the tail page (the 49 oldest) 50 events are known to remain: a last page that counts fewer
    (`{"audits": [], "total": 0}`, or 10 events and a total of 10) contradicts that and is refused."""

    def bend(request):
        request["to"] = request["from"] + (1 if answer == "explicit empty" else 11)  # from is exclusive

    world = _newest_first_world(*range(HOUR_AGO, HOUR_AGO + 98))
    sim = simulator(world=world, on_request=_on_the_last_page(bend), rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    stream = _extract_at(sim, db).streams[0]
    total = 0 if answer == "explicit empty" else 10
    assert str(stream.status) == "failed"
    assert f"'total' {total} is below the 50 events known to remain in the window" in stream.message
    landed = query(db, "select max(cast(payload->>'occurred' as bigint)), count(*) from descope_raw.audit_events")
    assert landed == [(HOUR_AGO + 48, 49)]  # the tail page only
    assert max(cursor for _, cursor, _ in _checkpoints(db) if cursor) == from_ms(HOUR_AGO + 48)

    sim.on_request = None
    assert str(_extract_at(sim, db).status) == "success"
    assert set(landed_event_ids(db)) == truth_event_ids(sim)


@pytest.mark.parametrize("where", ["an hour ago", "near the retention edge"])
def test_an_empty_object_for_a_newest_first_last_page_says_the_cursor_stayed(simulator, tmp_path, where):
    """`{}` states no total and proves nothing: the cursor stays at the newest event landed, and the run
    says so as it does for a first page answering `{}` (near the retention edge too, where events may
    expire between two requests and no total is checked)."""
    from descope_sync.contract import AUDIT_RETENTION_DAYS
    from descope_sync.streams.audit_events import RETENTION_MARGIN

    window_from = to_ms(from_ms(NOW_MS) - timedelta(days=AUDIT_RETENTION_DAYS) + RETENTION_MARGIN)
    first_ms = HOUR_AGO if where == "an hour ago" else window_from + 1000
    sim_ref = []

    def an_empty_object_for_the_last_page(phase, endpoint, request, world):
        if request.get("page", 0) == 0 and request["from"] > first_ms:
            sim_ref[0].answer_fault = {"audit_search": "empty_object" if phase == "before" else None}

    world = _newest_first_world(*range(first_ms, first_ms + 98))
    sim = simulator(world=world, on_request=an_empty_object_for_the_last_page, rate_limits=UNLIMITED)
    sim_ref.append(sim)
    db = tmp_path / "w.duckdb"
    stream = _extract_at(sim, db).streams[0]
    assert stream.details.get("unproved_empty_answer") is True
    assert stream.message == (
        "audit_events: Descope answered an empty search without saying so ({}); nothing proves the "
        "window empty, so the cursor stays where it was"
    )
    assert stream.cursor_to == from_ms(first_ms + 48)
    assert max(cursor for _, cursor, _ in _checkpoints(db) if cursor) == from_ms(first_ms + 48)
    assert query(db, "select count(*) from descope_raw.audit_events") == [(49,)]


@pytest.mark.parametrize("audit_from", ["exclusive", "inclusive"])
@pytest.mark.parametrize("order", ORDERS)
def test_a_protobuf_style_server_is_read_past_the_empty_gaps_after_full_milliseconds(
    simulator, tmp_path, monkeypatch, order, audit_from
):
    """A server that answers an empty search `{}` (omit_empty): the gap between two full milliseconds,
    and the rest of the window after the newest, answer `{}`. Right after a full millisecond is claimed
    one answer counting it with the gap, no more than its events, proves the gap empty: the run reaches
    the end of the window instead of stopping there again on every run."""
    occurred = [*range(HOUR_AGO, HOUR_AGO + 10), *[HOUR_AGO + 300] * 60, *[HOUR_AGO + 1000] * 60]
    world = _newest_first_world(*occurred, oldest_first=order, audit_from=audit_from, omit_empty=True)
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    unbacked = _unbacked_checkpoints(monkeypatch, sim)
    stream = _extract_at(sim, db).streams[0]
    assert str(stream.status) == "success" and "unproved_empty_answer" not in stream.details, stream.message
    assert sorted(landed_event_ids(db)) == sorted(truth_event_ids(sim))
    assert stream.cursor_to == from_ms(NOW_MS)
    assert unbacked == []


def test_each_landed_event_carries_its_typed_columns_and_the_batch_of_the_run_that_landed_it(simulator, tmp_path):
    """The landing columns dbt keys on: user_id (an empty userId is no user), action and remoteAddress
    only when they are strings, and the run's batch on every row."""
    clock = [NOW_MS / 1000]
    world = _newest_first_world(oldest_first="honoured", clock=clock)
    hour_ago = NOW_MS - 3_600_000
    events = {
        "plain": {"userId": "U1", "action": "LoginSucceed", "remoteAddress": "1.2.3.4"},
        "empty-user": {"userId": "", "action": "LoginSucceed", "remoteAddress": "1.2.3.4:443"},
        "no-user": {"action": "LoginFailed"},
        "odd-types": {"userId": "U2", "action": 7, "remoteAddress": ["1.2.3.4"]},
    }
    for n, (id_, fields) in enumerate(events.items()):
        world.add_event({"ID": id_, "occurred": str(hour_ago + n), **fields})
    sim = simulator(world=world)
    db = tmp_path / "w.duckdb"
    assert str(_extract_at(sim, db).streams[0].status) == "success"
    first_batches = {batch for (batch,) in query(db, "select _batch_id from descope_raw.audit_events")}
    assert len(first_batches) == 1 and None not in first_batches  # one run, one batch, on every row
    world.add_event({"ID": "second-run", "userId": "U3", "action": "LoginSucceed", "occurred": str(NOW_MS + 5)})
    clock[0] = (NOW_MS + 60_000) / 1000
    assert str(_extract_at(sim, db, now_ms=NOW_MS + 60_000).streams[0].status) == "success"

    rows = {
        event: (user_id, action, remote)
        for event, user_id, action, remote in query(
            db, "select event_id, user_id, action, remote_address from descope_raw.audit_events"
        )
    }
    assert rows == {
        "plain": ("U1", "LoginSucceed", "1.2.3.4"),
        "empty-user": (None, "LoginSucceed", "1.2.3.4:443"),
        "no-user": (None, "LoginFailed", None),
        "odd-types": ("U2", None, None),
        "second-run": ("U3", "LoginSucceed", None),
    }
    [(second_batch,)] = query(db, "select _batch_id from descope_raw.audit_events where event_id = 'second-run'")
    assert second_batch is not None and second_batch not in first_batches


def test_a_run_with_an_action_filter_lands_only_those_actions_and_proves_its_start_by_one_of_them(simulator, tmp_path):
    """DESCOPE_AUDIT_ACTIONS narrows what is asked for (the required actions always included). A run
    after an unfiltered one proves its window's start by the newest landed event of the *filtered*
    actions: an event of another action the server no longer answers proves nothing missing."""
    clock = [NOW_MS / 1000]
    world = _newest_first_world(oldest_first="honoured", clock=clock)
    hour_ago = NOW_MS - 3_600_000
    world.add_event({"ID": "login-1", "userId": "U1", "action": "LoginSucceed", "occurred": str(hour_ago)})
    world.add_event({"ID": "modified-1", "userId": "U1", "action": "UserModified", "occurred": str(hour_ago + 10)})
    sim = simulator(world=world)
    db = tmp_path / "w.duckdb"
    assert str(_extract_at(sim, db).streams[0].status) == "success"  # unfiltered: both land

    world.add_event({"ID": "login-2", "userId": "U1", "action": "LoginSucceed", "occurred": str(NOW_MS + 5)})
    world.add_event({"ID": "modified-2", "userId": "U1", "action": "UserModified", "occurred": str(NOW_MS + 6)})
    clock[0] = (NOW_MS + 60_000) / 1000
    summary = _extract_at(sim, db, now_ms=NOW_MS + 60_000, audit_actions="LoginSucceed")
    stream = summary.streams[0]
    assert str(stream.status) == "success", stream.message
    assert set(landed_event_ids(db)) == {"login-1", "login-2", "modified-1"}
    assert stream.cursor_to == from_ms(NOW_MS + 60_000)


@pytest.mark.parametrize("order", ["honoured", "ignored"])
def test_pages_of_two_events_are_read_in_either_order(simulator, tmp_path, order):
    """The smallest page that shows an order: two events, newest first or oldest first."""
    sim = simulator(world=_newest_first_world(*range(NOW_MS - 3_600_000, NOW_MS - 3_600_000 + 7), oldest_first=order))
    db = tmp_path / "w.duckdb"
    stream = _extract_at(sim, db, audit_page_size=2).streams[0]
    assert str(stream.status) == "success", stream.message
    assert stream.details.get("newest_first", False) is (order == "ignored")
    assert sorted(set(landed_event_ids(db))) == sorted(truth_event_ids(sim))
    assert stream.cursor_to == from_ms(NOW_MS)


# ---------------------------------------------------------------------------- an `occurred` that does not parse
READERS = {  # how the server reads page, size and oldestFirst
    "oldest-first": "audit_oldest_first=honoured",
    "newest-first": "audit_oldest_first=ignored",
    "newest-first, size ignored": "audit_oldest_first=ignored,audit_size=ignored",
    "oldest-first, page and size ignored": "audit_page=ignored,audit_size=ignored",
    "sdk-only": "sdk_only",
    "sdk-only, from exclusive": "sdk_only,audit_from=exclusive",
}


def _world_of(reader, *occurred_ms, clock=None):
    from descope_sim import Dialect, World

    clock = clock or [NOW_MS / 1000]
    dialect = Dialect.parse({**READINGS, **READERS}[reader])
    world = World(seed=1, users=0, now=lambda: clock[0], dialect=dialect)
    _add_events(world, occurred_ms)
    return world


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("at", [0, 49, 50, 75, 999, 1000, 1001, 1449, 1499])
def test_an_event_whose_occurred_does_not_parse_is_quarantined_counted_and_fails_nothing(
    simulator, tmp_path, monkeypatch, reader, at
):
    """Descope files the event at its own time and counts it in `total`; we cannot read that time. It goes to
    _quarantine once, with its reason and batch, and every other event lands once: first, last or in the middle
    of a page, at a page boundary (pages of 50 asked, 1000 served by a server ignoring size), in either order."""
    world = _world_of(reader, *range(HOUR_AGO, HOUR_AGO + 1500))
    bad = {"ID": "EVbad", "action": "LoginSucceed", "userId": "U1", "occurred": "soon"}
    world.add_event(bad, filed_at_ms=HOUR_AGO + at)
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    summary = _extract_at(sim, db, max_seconds=60)
    stream = summary.streams[0]
    assert (str(stream.status), stream.rows_quarantined) == ("success", 1), stream.message
    [(why, batch, payload)] = query(db, "select reason, _batch_id, payload::varchar from descope_raw._quarantine")
    assert (why, batch, json.loads(payload)) == (
        "audit event without a usable 'occurred'",
        f"{summary.run_id}:audit_events",
        bad,
    )
    landed = landed_event_ids(db)
    assert sorted(landed) == sorted(truth_event_ids(sim) - {"EVbad"})
    assert stream.cursor_to == from_ms(NOW_MS)


# ---------------------------------------------------------------- every reading of page, size, oldestFirst, from
READINGS = {
    "documented": "documented",
    "from exclusive": "audit_from=exclusive",
    "newest-first": "audit_oldest_first=ignored",
    "page ignored": "audit_page=ignored",
    "size ignored": "audit_size=ignored",
    "page and size ignored": "audit_page=ignored,audit_size=ignored",
    "newest-first, page ignored": "audit_oldest_first=ignored,audit_page=ignored",
    "newest-first, page ignored, from exclusive": "audit_oldest_first=ignored,audit_page=ignored,audit_from=exclusive",
    "newest-first, size ignored": "audit_oldest_first=ignored,audit_size=ignored",
    "sdk-only": "sdk_only",
    "sdk-only, from exclusive": "sdk_only,audit_from=exclusive",
    "alternate": "alternate",
}
SPREAD = [
    *range(HOUR_AGO - 1_800_000, HOUR_AGO, 300),  # six thousand over half an hour
    *[HOUR_AGO] * 60,  # a millisecond fuller than the 50 asked a page
    *[HOUR_AGO + 300_000] * 3,  # ties
]


def _stop_after(monkeypatch, checks: int) -> None:
    """The run's time budget runs out at its `checks`-th look (a budget stop, wherever it falls)."""
    from descope_sync.descope import Deadline
    from descope_sync.errors import BudgetExhausted

    seen = [0]

    def check(self):
        seen[0] += 1
        if seen[0] >= checks:
            raise BudgetExhausted("time budget of 1s used up")

    monkeypatch.setattr(Deadline, "check", check)


@pytest.mark.parametrize("reading", list(READINGS))
def test_every_reading_lands_every_event_once_across_budget_stops_and_reruns_and_always_progresses(
    simulator, tmp_path, monkeypatch, reading
):
    """Whether the server honours or ignores page, size and oldestFirst, and reads `from` in or out: a run stopped
    by its budget commits progress, the next ones read on to the end, every event lands once per run, and no
    checkpoint claims an event not landed."""
    from descope_sim import Dialect, World

    clock = [NOW_MS / 1000]
    world = World(seed=1, users=0, now=lambda: clock[0], dialect=Dialect.parse(READINGS[reading]))
    _add_events(world, SPREAD)
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    unbacked = _unbacked_checkpoints(monkeypatch, sim)

    with monkeypatch.context() as budget:
        _stop_after(budget, 8)
        stopped = _extract_at(sim, db).streams[0]
    assert str(stopped.status) == "partial", stopped.message
    assert stopped.cursor_to is not None  # progress, committed

    runs = [_extract_at(sim, db)]
    assert str(runs[0].streams[0].status) == "success", runs[0].streams[0].message
    assert runs[0].streams[0].cursor_to == from_ms(NOW_MS)

    later = NOW_MS + 3_600_000
    clock[0] = later / 1000
    _add_events(world, [*range(NOW_MS + 1000, NOW_MS + 1_500_000, 1000), *[NOW_MS + 2000] * 5])
    runs.append(_extract_at(sim, db, now_ms=later))
    assert str(runs[1].streams[0].status) == "success", runs[1].streams[0].message
    assert runs[1].streams[0].cursor_to == from_ms(later)

    assert set(landed_event_ids(db)) == truth_event_ids(sim)
    for run in runs:
        batch = [
            e
            for (e,) in query(
                db, "select event_id from descope_raw.audit_events where _batch_id = ?", [f"{run.run_id}:audit_events"]
            )
        ]
        assert len(batch) == len(set(batch)), "a run landed an event twice"
    assert unbacked == []


# ---------------------------------------------------------------------------- the retention edge
DAY_MS = 86_400_000


def _retention_world(clock, reading="documented"):
    from descope_sim import Dialect, World

    world = World(seed=1, users=0, now=lambda: clock[0], dialect=Dialect.parse(reading))
    _add_events(world, [*range(HOUR_AGO, HOUR_AGO + 120_000, 1000)])  # two minutes of events, an hour old
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
    assert str(_extract_at(sim, db).streams[0].status) == "success"

    later = NOW_MS + 35 * DAY_MS
    clock[0] = later / 1000
    new = _add_events(world, [later - DAY_MS, later - 60_000])
    stream = _extract_at(sim, db, now_ms=later).streams[0]
    assert str(stream.status) == "data_loss", stream.message
    assert stream.cursor_to == from_ms(later)
    assert new <= set(landed_event_ids(db))
    assert str(_extract_at(sim, db, now_ms=later + 60_000).streams[0].status) == "success"


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
        stream = _extract_at(sim, db, now_ms=now_ms).streams[0]
        assert (day, str(stream.status)) == (day, "success"), stream.message
        assert stream.cursor_to == from_ms(now_ms)
    assert set(landed_event_ids(db)) == truth_event_ids(sim)  # (a run re-reads the anchor it proves its start by)


def test_a_cursor_within_its_overlap_of_the_retention_edge_reads_from_the_edge(simulator, tmp_path):
    """A cursor a minute inside the retention, with a five-minute overlap: re-reading the overlap would ask a
    `from` older than the retention (a 400); the window starts at the edge instead."""
    from descope_sync.contract import AUDIT_RETENTION_DAYS

    clock = [NOW_MS / 1000]
    world = _retention_world(clock)
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    edge = from_ms(NOW_MS) - timedelta(days=AUDIT_RETENTION_DAYS)
    land_audit_cursor(db, edge + timedelta(minutes=3))
    stream = _extract_at(sim, db, audit_overlap_seconds=300).streams[0]
    assert str(stream.status) == "success", stream.message
    assert edge < stream.cursor_from < edge + timedelta(minutes=3)
    assert sorted(landed_event_ids(db)) == sorted(truth_event_ids(sim))


# ---------------------------------------------------------------------------- a server that ignores `page`
def test_a_page_ignoring_server_whose_tail_is_the_size_expected_is_caught_by_page_0s_newest_event(
    simulator, tmp_path, monkeypatch
):
    """100 events, pages of 50: the tail page (page 1) must hold 50, and a server ignoring `page` answers page
    0's 50 newest, the size expected. Page 0's newest event on it shows `page` is ignored: no cursor passes
    the 50 oldest unread, and the window is read by time windows instead."""
    world = _world_of("newest-first, page ignored", *range(HOUR_AGO, HOUR_AGO + 100))
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    unbacked = _unbacked_checkpoints(monkeypatch, sim)
    stream = _extract_at(sim, db).streams[0]
    assert str(stream.status) == "success", stream.message
    assert stream.details["windows"] is True
    assert unbacked == []
    assert sorted(landed_event_ids(db)) == sorted(truth_event_ids(sim))


@pytest.mark.parametrize("reading", ["sdk-only", "sdk-only, from exclusive"])
def test_a_millisecond_fuller_than_one_answer_on_a_server_ignoring_page_ends_incomplete_saying_why(
    simulator, tmp_path, monkeypatch, reading
):
    """1,200 events in one millisecond, and a server that answers 1,000 at most and ignores `page`: they cannot
    all be read. The run ends incomplete and says exactly that; the events before it land, committed, and no
    cursor passes it. Every rerun says the same (nothing is claimed on the way)."""
    dense = HOUR_AGO + 60_000
    world = _world_of(reading, *range(HOUR_AGO, HOUR_AGO + 30), *[dense] * 1200, *range(dense + 1, dense + 31))
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    unbacked = _unbacked_checkpoints(monkeypatch, sim)
    said = (
        "audit_events: Descope counts 1200 audit events in the one millisecond "
        f"{from_ms(dense).isoformat(sep=' ')} UTC, more than one answer holds (1000), and ignores 'page': "
        "they cannot all be read; the cursor stays before it"
    )
    for _ in range(2):
        stream = _extract_at(sim, db).streams[0]
        assert (str(stream.status), stream.message) == ("incomplete", said)
        assert all(cursor is None or cursor <= from_ms(dense) for _, cursor, _ in _checkpoints(db))
    assert unbacked == []
    before = {event_id(e) for e in sim.world.truth()["events"] if int(e["occurred"]) < dense}
    assert before <= set(landed_event_ids(db))
