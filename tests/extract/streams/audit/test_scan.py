"""Reading a window of audit search (`streams/audit/scan.py`): pages and the proofs every answer must pass, under
every reading of `page`, `size`, `oldestFirst` and `from`; full milliseconds; the page size."""

from __future__ import annotations

import logging
import re

import pytest

from descope_sim import ChaosConfig, Dialect, RateLimits, World
from descope_sync.contract import event_id
from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.timeutil import from_ms, to_ms
from tests.conftest import cursor, logged, query, settings_for
from tests.extract.streams.audit.conftest import (
    HOUR_AGO,
    NOW_MS,
    READINGS,
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


def test_a_429_storm_is_waited_out_and_loses_nothing(simulator, tmp_path):
    chaos = ChaosConfig(seed=3, p_429=0.6, p_5xx=0.1, p_malformed=0.05, p_mutation=0.0, retry_after=1)
    sim = simulator(users=120, chaos=chaos, rate_limits=RateLimits(audit_search=(4, 1.0)))
    db = tmp_path / "w.duckdb"
    summary = extract_audit(settings_for(sim, db, audit_page_size=200))
    assert summary.status == "success"
    assert set(landed_event_ids(db)) == truth_event_ids(sim)


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


ORDERS = ["ignored", "honoured"]  # whether the server honours oldestFirst: the stream must be right either way
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
    world = newest_first_world(*DENSE_LAYOUTS[layout], oldest_first=order, audit_from=audit_from)
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    unbacked = unbacked_checkpoints(monkeypatch, sim)
    stream = extract_at(sim, db).streams[0]
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
    world = newest_first_world(*DENSE_LAYOUTS["newest"], clock=clock, oldest_first=order)
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    unbacked = unbacked_checkpoints(monkeypatch, sim)
    first = extract_at(sim, db).streams[0]
    assert str(first.status) == "success", first.message

    later = NOW_MS + 3_600_000
    clock[0] = later / 1000
    # and one event indexed late, a millisecond after the anchor's full millisecond
    add_events(world, [HOUR_AGO + 1001, *range(NOW_MS + 1000, NOW_MS + 1030), *[NOW_MS + 600_000] * 60])
    second = extract_at(sim, db, now_ms=later, audit_overlap_seconds=600)
    stream = second.streams[0]
    assert str(stream.status) == "success", stream.message
    assert stream.cursor_to == from_ms(later)
    assert set(landed_event_ids(db)) == truth_event_ids(sim)
    reread = query(
        db, "select event_id from descope_raw.audit_events where _batch_id = ?", [f"{second.run_id}:audit_events"]
    )
    assert len(reread) == len({e for (e,) in reread})  # a run lands each event once (runs may overlap)
    assert unbacked == []


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
    sim = simulator(world=newest_first_world(*occurred, oldest_first=order), rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    summary = extract_at(sim, db, audit_page_size=2000, max_seconds=20)  # a loop would run out of it
    stream = summary.streams[0]
    assert str(stream.status) == "success", stream.message
    assert sorted(landed_event_ids(db)) == sorted(truth_event_ids(sim))
    assert stream.cursor_to == from_ms(NOW_MS)
    assert summary.requests["total"] <= 7  # page 0, two passes of two pages, one count of [from, ms], the rest
    learned = "audit_events: Descope serves 1000 events a page; asking for that many"
    assert logged(caplog).count(learned) == 1


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
    world = newest_first_world(*occurred, oldest_first=order, audit_from=audit_from, omit_empty=True)
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    unbacked = unbacked_checkpoints(monkeypatch, sim)
    stream = extract_at(sim, db).streams[0]
    assert str(stream.status) == "success" and "unproved_empty_answer" not in stream.details, stream.message
    assert sorted(landed_event_ids(db)) == sorted(truth_event_ids(sim))
    assert stream.cursor_to == from_ms(NOW_MS)
    assert unbacked == []


@pytest.mark.parametrize("order", ["honoured", "ignored"])
def test_pages_of_two_events_are_read_in_either_order(simulator, tmp_path, order):
    """The smallest page that shows an order: two events, newest first or oldest first."""
    sim = simulator(world=newest_first_world(*range(NOW_MS - 3_600_000, NOW_MS - 3_600_000 + 7), oldest_first=order))
    db = tmp_path / "w.duckdb"
    stream = extract_at(sim, db, audit_page_size=2).streams[0]
    assert str(stream.status) == "success", stream.message
    assert stream.details.get("newest_first", False) is (order == "ignored")
    assert sorted(set(landed_event_ids(db))) == sorted(truth_event_ids(sim))
    assert stream.cursor_to == from_ms(NOW_MS)


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
    add_events(world, SPREAD)
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    unbacked = unbacked_checkpoints(monkeypatch, sim)

    with monkeypatch.context() as budget:
        _stop_after(budget, 8)
        stopped = extract_at(sim, db).streams[0]
    assert str(stopped.status) == "partial", stopped.message
    assert stopped.cursor_to is not None  # progress, committed

    runs = [extract_at(sim, db)]
    assert str(runs[0].streams[0].status) == "success", runs[0].streams[0].message
    assert runs[0].streams[0].cursor_to == from_ms(NOW_MS)

    later = NOW_MS + 3_600_000
    clock[0] = later / 1000
    add_events(world, [*range(NOW_MS + 1000, NOW_MS + 1_500_000, 1000), *[NOW_MS + 2000] * 5])
    runs.append(extract_at(sim, db, now_ms=later))
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


@pytest.mark.parametrize("reading", ["sdk-only", "sdk-only, from exclusive"])
def test_a_millisecond_fuller_than_one_answer_on_a_server_ignoring_page_ends_incomplete_saying_why(
    simulator, tmp_path, monkeypatch, reading
):
    """1,200 events in one millisecond, and a server that answers 1,000 at most and ignores `page`: they cannot
    all be read. The run ends incomplete and says exactly that; the events before it land, committed, and no
    cursor passes it. Every rerun says the same (nothing is claimed on the way)."""
    dense = HOUR_AGO + 60_000
    world = world_of(reading, *range(HOUR_AGO, HOUR_AGO + 30), *[dense] * 1200, *range(dense + 1, dense + 31))
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    unbacked = unbacked_checkpoints(monkeypatch, sim)
    said = (
        "audit_events: Descope counts 1200 audit events in the one millisecond "
        f"{from_ms(dense).isoformat(sep=' ')} UTC, more than one answer holds (1000), and ignores 'page': "
        "they cannot all be read; the cursor stays before it"
    )
    for _ in range(2):
        stream = extract_at(sim, db).streams[0]
        assert (str(stream.status), stream.message) == ("incomplete", said)
        assert all(cursor is None or cursor <= from_ms(dense) for _, cursor, _ in checkpoints(db))
    assert unbacked == []
    before = {event_id(e) for e in sim.world.truth()["events"] if int(e["occurred"]) < dense}
    assert before <= set(landed_event_ids(db))


@pytest.mark.parametrize(
    "dialect",
    [
        "documented",
        "audit_from=exclusive",
        "audit_oldest_first=ignored",
        "audit_page=ignored",
        "audit_oldest_first=ignored,audit_page=ignored",
        "sdk_only",
        "alternate",
    ],
)
def test_audit_paging_lands_every_event_under_each_reading(simulator, tmp_path, dialect):
    world = World(seed=6, users=150, dialect=Dialect.parse(dialect))
    sim = simulator(world=world)
    occurred = to_ms(from_ms(int(world.now() * 1000) - 3_600_000))
    for _ in range(130):  # more events in one millisecond than a page holds
        world.login(occurred_ms=occurred)
    db = tmp_path / "w.duckdb"
    summary = extract_audit(settings_for(sim, db, audit_page_size=50))
    assert str(summary.status) == "success", summary.streams[0].message
    from descope_sync.contract import event_id

    landed = [r[0] for r in query(db, "select event_id from descope_raw.audit_events")]
    assert set(landed) == {event_id(e) for e in sim.world.truth()["events"]}
    if world.dialect.audit_size == "honoured":  # else one answer of 1000 holds most of it
        assert summary.streams[0].pages >= 5
    if world.dialect.audit_oldest_first == "ignored" and world.dialect.audit_size == "honoured":
        assert summary.streams[0].details.get("newest_first") is True


def test_an_audit_answer_missing_an_event_landed_before_moves_no_cursor(simulator, tmp_path):
    sim = simulator(users=100)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    extract_audit(settings)
    before = cursor(db, "audit_events")
    original = sim.world.search_audit

    def forgetful(**q):  # answers as if the events landed last time never happened
        return [], 0

    sim.world.search_audit = forgetful
    summary = extract_audit(settings)
    assert str(summary.status) == "failed"
    assert (
        "lacks an event landed by an earlier run (Descope answered less than it holds));" in summary.streams[0].message
    )
    assert cursor(db, "audit_events") == before
    sim.world.search_audit = original


def test_a_server_that_answers_the_audit_search_empty_without_an_anchor_claims_nothing(simulator, tmp_path):
    sim = simulator(world=World(seed=1, users=50, dialect=Dialect.parse("omit_empty=true")))
    sim.answer_fault = {"audit_search": "empty_object"}
    db = tmp_path / "w.duckdb"
    summary = extract_audit(settings_for(sim, db))
    assert str(summary.status) == "success" and summary.streams[0].details["unproved_empty_answer"] is True
    assert cursor(db, "audit_events") is None  # the next run asks from the retention edge again
    sim.answer_fault = {"audit_search": None}
    assert extract_audit(settings_for(sim, db)).streams[0].rows_loaded > 0


def test_a_page_boundary_inside_a_millisecond_loses_none_of_its_events(simulator, tmp_path):
    world = World(seed=6, users=40)
    base = int(world.now() * 1000) - 7_200_000
    for i in range(300):  # three events in each millisecond: page boundaries fall inside them
        world.login(occurred_ms=base + i // 3)
    sim = simulator(world=world)
    db = tmp_path / "w.duckdb"
    assert str(extract_audit(settings_for(sim, db, audit_page_size=50)).status) == "success"
    landed = {r[0] for r in query(db, "select event_id from descope_raw.audit_events")}
    assert {event_id(e) for e in sim.world.truth()["events"]} == landed
