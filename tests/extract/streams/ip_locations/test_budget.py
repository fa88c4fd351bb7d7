"""The time budget stops the ip_locations stream between chunks, never claiming `success`; the next run looks
up the rest."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

from descope_sync.geo import GeoDatabase
from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.streams.ip_locations import run_ip_locations
from tests.conftest import query
from tests.extract.streams.ip_locations.conftest import (
    ADDRESSES,
    BUDGET_STOP,
    DISTINCT_NON_NULL,
    T0,
    add_events,
    clock,
    extract_ip_locations,
    land_events,
    located,
    run_rows,
)


def test_a_spent_budget_stops_between_chunks_and_the_next_run_looks_up_the_rest(
    writer: DuckDBLandingWriter, geo: GeoDatabase
) -> None:
    from descope_sync.descope import Deadline

    add_events(writer, ADDRESSES)
    ticks = iter([0.0, 0.0, 10.0, 10.0, 10.0, 10.0])
    deadline = Deadline(5, clock=lambda: next(ticks))  # one chunk's worth, then spent
    first = run_ip_locations(writer, geo, "b1", "r1", clock(), chunk_size=3, deadline=deadline)
    assert str(first.status) == "partial" and first.rows_loaded == 3
    # the chunk it landed is a checkpoint, and the stream's last row says it was stopped: no `success`
    assert run_rows(writer, "r1") == [("ip_locations", "partial", 3)]
    second = run_ip_locations(writer, geo, "b2", "r2", clock(), chunk_size=3)
    assert str(second.status) == "success"
    assert run_rows(writer, "r2") == [
        ("ip_locations", "partial", 3),
        ("ip_locations", "partial", 1),
        ("ip_locations", "success", 0),
    ]
    assert {ip for ip, _ in located(writer)} == DISTINCT_NON_NULL
    assert all(n == 1 for _, n in located(writer))


def test_a_budget_with_nothing_left_stops_before_the_first_lookup_and_says_so(
    writer: DuckDBLandingWriter, geo: GeoDatabase
) -> None:
    from descope_sync.descope import Deadline

    add_events(writer, ADDRESSES)
    ticks = itertools.chain([0.0], itertools.repeat(5.0))
    result = run_ip_locations(writer, geo, "b1", "r1", clock(), deadline=Deadline(5, clock=lambda: next(ticks)))

    assert str(result.status) == "partial"
    assert result.message == BUDGET_STOP
    assert (result.rows_loaded, result.pages) == (0, 0)
    assert writer.count("ip_locations") == 0
    # the trace of the run says what the result says: stopped, not a healthy run that found nothing
    assert writer.query(
        "select stream, status, rows_loaded, mode, cursor_to, error, started_at, finished_at "
        'from "descope_raw"."_sync_runs" where run_id = \'r1\''
    ) == [("ip_locations", "partial", 0, "incremental", None, None, T0, T0 + timedelta(seconds=1))]


def test_a_budget_with_half_a_second_left_still_looks_up_a_chunk(writer: DuckDBLandingWriter, geo: GeoDatabase) -> None:
    from descope_sync.descope import Deadline

    add_events(writer, ADDRESSES)
    ticks = itertools.chain([0.0], itertools.repeat(4.5))
    result = run_ip_locations(writer, geo, "b1", "r1", clock(), deadline=Deadline(5, clock=lambda: next(ticks)))

    assert str(result.status) == "success" and result.message is None
    assert located(writer) == sorted((ip, 1) for ip in DISTINCT_NON_NULL)
    assert run_rows(writer, "r1") == [("ip_locations", "partial", 7), ("ip_locations", "success", 0)]


def test_a_run_whose_budget_is_spent_before_ip_locations_leaves_every_address_to_the_next_run(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(users=5)
    db = tmp_path / "warehouse.duckdb"
    land_events(db, ADDRESSES)

    (stream,) = extract_ip_locations(sim, db, max_seconds=0.000_001)["streams"]

    assert (stream["status"], stream["message"], stream["rows_loaded"]) == ("partial", BUDGET_STOP, 0)
    assert query(db, "select count(*) from descope_raw.ip_locations") == [(0,)]
    runs = query(db, "select stream, status, rows_loaded from descope_raw._sync_runs")
    assert runs == [("ip_locations", "partial", 0)]
    (stream,) = extract_ip_locations(sim, db)["streams"]
    assert (stream["status"], stream["rows_loaded"]) == ("success", 7)
    assert query(db, "select status, rows_loaded from descope_raw._sync_runs order by finished_at")[1:] == [
        ("partial", 7),
        ("success", 0),
    ]
