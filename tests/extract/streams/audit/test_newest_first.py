"""Servers that ignore `oldestFirst` (`streams/audit/newest_first.py`): the tail page while `page` is shown to be
honoured, else time windows walked back from their end; nothing claimed on an answer that does not add up."""

from __future__ import annotations

from datetime import timedelta

import pytest

from descope_sim import Dialect, World
from descope_sync.contract import AUDIT_RETENTION_DAYS, event_id
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.timeutil import from_ms, to_ms
from tests.conftest import query, settings_for
from tests.extract.streams.audit.conftest import (
    HOUR_AGO,
    NOW_MS,
    UNLIMITED,
    add_events,
    checkpoints,
    extract_at,
    extract_audit,
    landed_event_ids,
    newest_first_world,
    truth_event_ids,
    unbacked_checkpoints,
    world_of,
)


def test_a_newest_first_server_whose_total_grows_while_paging_lands_every_event(simulator, tmp_path):

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


def _assert_incomplete_and_nothing_claimed(stream, db, said):
    """The run ends incomplete saying `said`, with one run row, no cursor, and nothing landed."""
    assert (str(stream.status), stream.message) == ("incomplete", said)
    assert checkpoints(db) == [("incomplete", None, said)]
    assert landed_event_ids(db) == []


@pytest.mark.parametrize(("events", "requests", "pages"), [(98, 3, 2), (150, 5, 4)])
def test_a_newest_first_window_is_read_tail_first_in_as_few_requests_as_its_size_allows(
    simulator, tmp_path, events, requests, pages
):
    """Page 0, then the tail page again and again, then the rest in one page: every request is rate limited."""
    sim = simulator(world=newest_first_world(*range(NOW_MS - 3_600_000, NOW_MS - 3_600_000 + events)))
    db = tmp_path / "w.duckdb"
    summary = extract_at(sim, db)
    stream = summary.streams[0]
    assert str(stream.status) == "success" and stream.details["newest_first"] is True
    assert sorted(landed_event_ids(db)) == sorted(truth_event_ids(sim))
    assert (summary.requests["total"], stream.pages) == (requests, pages)
    # every page commits the cursor up to its newest event, the last one up to the end of the window
    cursors = [cursor for _, cursor, _ in checkpoints(db)]
    assert len(cursors) == pages and None not in cursors and cursors == sorted(cursors)
    assert stream.cursor_to == cursors[-1] == from_ms(NOW_MS)


def test_a_newest_first_server_whose_window_keeps_changing_ends_incomplete_and_says_try_again_later(
    simulator, tmp_path
):
    def a_login_on_every_tail_request(phase, endpoint, request, world):
        if phase == "before" and request.get("page", 0) > 0:
            add_events(world, [NOW_MS - 1000 - len(world.truth()["events"])])

    world = newest_first_world(*range(NOW_MS - 3_600_000, NOW_MS - 3_600_000 + 150))
    sim = simulator(world=world, on_request=a_login_on_every_tail_request, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    stream = extract_at(sim, db, max_seconds=20).streams[0]  # a loop would run out of it
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
                add_events(world, [NOW_MS - 1000 - len(tail_requests)])

    world = newest_first_world(*range(NOW_MS - 3_600_000, NOW_MS - 3_600_000 + 150))
    sim = simulator(
        world=world, on_request=a_login_on_eight_tail_requests_then_one_calm_then_eight_more, rate_limits=UNLIMITED
    )
    db = tmp_path / "w.duckdb"
    stream = extract_at(sim, db).streams[0]
    assert str(stream.status) == "success", stream.message
    assert len(tail_requests) >= 18  # both runs of eight moved totals, and a calm tail after each
    assert sorted(landed_event_ids(db)) == sorted(truth_event_ids(sim))
    assert stream.cursor_to == from_ms(NOW_MS)


def test_a_newest_first_tail_page_cut_short_before_paging_was_shown_is_read_by_time_windows(simulator, tmp_path):
    """A server that answers no items past an offset (a search engine's max result window) while counting
    them: its first tail page is not the size it must be, so nothing shows it pages. The window is read with
    `from` and `to` alone: every event lands once and the cursor reaches the end."""
    world = newest_first_world(*range(NOW_MS - 3_600_000, NOW_MS - 3_600_000 + 150))
    sim = simulator(world=world, max_offset=100, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    stream = extract_at(sim, db).streams[0]
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
    world = newest_first_world(*range(HOUR_AGO, HOUR_AGO + 300))
    sim = simulator(world=world, on_request=cut_from_the_second_tail_page, rate_limits=UNLIMITED)
    sim_ref.append(sim)
    db = tmp_path / "w.duckdb"
    stream = extract_at(sim, db).streams[0]
    assert (str(stream.status), stream.message) == (
        "incomplete",
        "audit_events: page 5 of 251 events held 0; cannot prove the tail was read",
    )
    assert stream.cursor_to == from_ms(HOUR_AGO + 49)
    assert sorted(landed_event_ids(db)) == [f"E{n:06d}" for n in range(50)]


def test_a_newest_first_tail_page_older_than_the_window_ends_incomplete(simulator, tmp_path):
    """A server that answers a minute more than the `from` it was given: its tail page (the oldest
    events) holds nothing of the window, so the window cannot be read from its tail."""
    from descope_sync.streams.audit_events import RETENTION_MARGIN

    window_from = to_ms(from_ms(NOW_MS) - timedelta(days=AUDIT_RETENTION_DAYS) + RETENTION_MARGIN)

    def a_minute_early(phase, endpoint, request, world):
        if phase == "before":
            request["from"] -= 60_000

    before = [window_from - 30_000] * 60
    world = newest_first_world(*before, *range(NOW_MS - 3_600_000, NOW_MS - 3_600_000 + 100))
    sim = simulator(world=world, on_request=a_minute_early, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    stream = extract_at(sim, db, max_seconds=20).streams[0]  # a loop would run out of it
    said = "audit_events: the tail page of a newest-first answer holds no event in the window"
    _assert_incomplete_and_nothing_claimed(stream, db, said)


def test_a_newest_first_window_ends_at_the_settle_margin_even_when_newer_events_would_fill_a_page(simulator, tmp_path):
    """The last page asks up to the end of the window, not up to now: events of the last minute (not
    yet settled) would make it more than a page."""
    settled = range(NOW_MS - 3_600_000, NOW_MS - 3_600_000 + 70)
    unsettled = range(NOW_MS - 30_000, NOW_MS - 30_000 + 30)
    sim = simulator(world=newest_first_world(*settled, *unsettled), rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    stream = extract_at(sim, db, audit_settle_seconds=60).streams[0]
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
    world = newest_first_world(*[busy - 1] * 60, *[busy] * 60, anchor, clock=clock, audit_from="inclusive")
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    first = extract_at(sim, db)
    assert str(first.streams[0].status) == "success"
    assert len(landed_event_ids(db)) == 121

    later = NOW_MS + 3_600_000
    clock[0] = later / 1000
    new = add_events(world, range(NOW_MS + 1000, NOW_MS + 1060))
    second = extract_at(sim, db, now_ms=later, audit_overlap_seconds=600)
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
                add_events(world, range(NOW_MS - 2000, NOW_MS - 1940))

    world = newest_first_world(*range(NOW_MS - 3_600_000, NOW_MS - 3_600_000 + 98))
    sim = simulator(world=world, on_request=a_burst_at_the_second_page_0, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    stream = extract_at(sim, db).streams[0]
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
    world = newest_first_world(*range(first_ms, first_ms + 98))
    sim = simulator(world=world, on_request=an_empty_object_for_the_second_page_0, rate_limits=UNLIMITED)
    sim_ref.append(sim)
    db = tmp_path / "w.duckdb"
    stream = extract_at(sim, db).streams[0]
    landed = query(db, "select max(cast(payload->>'occurred' as bigint)), count(*) from descope_raw.audit_events")
    assert landed == [(first_ms + 48, 49)]  # the tail page: the 49 oldest
    assert stream.cursor_to == from_ms(first_ms + 48)
    assert max(cursor for _, cursor, _ in checkpoints(db)) == from_ms(first_ms + 48)

    sim.on_request = None
    assert str(extract_at(sim, db).status) == "success"
    assert set(landed_event_ids(db)) == truth_event_ids(sim)


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

    world = newest_first_world(*range(HOUR_AGO, HOUR_AGO + 98))
    sim = simulator(world=world, on_request=_on_the_last_page(bend), rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    stream = extract_at(sim, db).streams[0]
    total = 0 if answer == "explicit empty" else 10
    assert str(stream.status) == "failed"
    assert f"'total' {total} is below the 50 events known to remain in the window" in stream.message
    landed = query(db, "select max(cast(payload->>'occurred' as bigint)), count(*) from descope_raw.audit_events")
    assert landed == [(HOUR_AGO + 48, 49)]  # the tail page only
    assert max(cursor for _, cursor, _ in checkpoints(db) if cursor) == from_ms(HOUR_AGO + 48)

    sim.on_request = None
    assert str(extract_at(sim, db).status) == "success"
    assert set(landed_event_ids(db)) == truth_event_ids(sim)


@pytest.mark.parametrize("where", ["an hour ago", "near the retention edge"])
def test_an_empty_object_for_a_newest_first_last_page_says_the_cursor_stayed(simulator, tmp_path, where):
    """`{}` states no total and proves nothing: the cursor stays at the newest event landed, and the run
    says so as it does for a first page answering `{}` (near the retention edge too, where events may
    expire between two requests and no total is checked)."""
    from descope_sync.streams.audit_events import RETENTION_MARGIN

    window_from = to_ms(from_ms(NOW_MS) - timedelta(days=AUDIT_RETENTION_DAYS) + RETENTION_MARGIN)
    first_ms = HOUR_AGO if where == "an hour ago" else window_from + 1000
    sim_ref = []

    def an_empty_object_for_the_last_page(phase, endpoint, request, world):
        if request.get("page", 0) == 0 and request["from"] > first_ms:
            sim_ref[0].answer_fault = {"audit_search": "empty_object" if phase == "before" else None}

    world = newest_first_world(*range(first_ms, first_ms + 98))
    sim = simulator(world=world, on_request=an_empty_object_for_the_last_page, rate_limits=UNLIMITED)
    sim_ref.append(sim)
    db = tmp_path / "w.duckdb"
    stream = extract_at(sim, db).streams[0]
    assert stream.details.get("unproved_empty_answer") is True
    assert stream.message == (
        "audit_events: Descope answered an empty search without saying so ({}); nothing proves the "
        "window empty, so the cursor stays where it was"
    )
    assert stream.cursor_to == from_ms(first_ms + 48)
    assert max(cursor for _, cursor, _ in checkpoints(db) if cursor) == from_ms(first_ms + 48)
    assert query(db, "select count(*) from descope_raw.audit_events") == [(49,)]


def test_a_page_ignoring_server_whose_tail_is_the_size_expected_is_caught_by_page_0s_newest_event(
    simulator, tmp_path, monkeypatch
):
    """100 events, pages of 50: the tail page (page 1) must hold 50, and a server ignoring `page` answers page
    0's 50 newest, the size expected. Page 0's newest event on it shows `page` is ignored: no cursor passes
    the 50 oldest unread, and the window is read by time windows instead."""
    world = world_of("newest-first, page ignored", *range(HOUR_AGO, HOUR_AGO + 100))
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    unbacked = unbacked_checkpoints(monkeypatch, sim)
    stream = extract_at(sim, db).streams[0]
    assert str(stream.status) == "success", stream.message
    assert stream.details["windows"] is True
    assert unbacked == []
    assert sorted(landed_event_ids(db)) == sorted(truth_event_ids(sim))
