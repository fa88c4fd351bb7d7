"""Rules the correctness rests on, each pinned by a test that fails when the rule is broken.

Each test makes happen the thing the rule exists for (a page boundary inside a millisecond, a crash
between rows and checkpoint, a cursor just inside the retention edge) and checks the data. The users
stream's rules of this kind live with its tests (tests/extract/streams/users/).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from descope_sync.contract import event_id
from descope_sync.landing.base import SyncRun
from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.simulator import World
from descope_sync.timeutil import utcnow
from tests.conftest import query, settings_for


def extract(settings, streams=("users",), now=None):
    kwargs = {"now": now} if now is not None else {}
    return run_extract(settings, streams=list(streams), progress=SilentProgress(), **kwargs)


def test_a_page_boundary_inside_a_millisecond_loses_none_of_its_events(simulator, tmp_path):
    world = World(seed=6, users=40)
    base = int(world.now() * 1000) - 7_200_000
    for i in range(300):  # three events in each millisecond: page boundaries fall inside them
        world.login(occurred_ms=base + i // 3)
    sim = simulator(world=world)
    db = tmp_path / "w.duckdb"
    assert str(extract(settings_for(sim, db, audit_page_size=50), ["audit_events"]).status) == "success"
    landed = {r[0] for r in query(db, "select event_id from descope_raw.audit_events")}
    assert {event_id(e) for e in sim.world.truth()["events"]} == landed


@pytest.mark.parametrize("killed_table", ["users", "_sync_runs"])
def test_a_crash_while_committing_a_page_commits_neither_its_rows_nor_its_checkpoint(tmp_path, killed_table):
    now = utcnow()
    with DuckDBLandingWriter(tmp_path / "w.duckdb") as writer:
        writer.ensure_tables()
        for name in ("_load", "_insert_line"):
            original = getattr(writer, name)

            def killed(table, data, _original=original):
                if table == killed_table:
                    raise RuntimeError(f"killed while writing {table}")
                return _original(table, data)

            setattr(writer, name, killed)
        rows = [
            {"user_id": f"U{i}", "payload": {"userId": f"U{i}"}, "_batch_id": "b", "_extracted_at": now} for i in (1, 2)
        ]
        run = SyncRun(run_id="r", stream="users", status="partial", started_at=now, cursor_to=now)
        with pytest.raises(RuntimeError):
            writer.append("users", rows, run=run)
        assert writer.latest_cursor("users") is None, "a cursor was committed without its rows"
        assert writer.count("users") == 0


def test_a_cursor_just_inside_the_retention_edge_is_read_not_lost(simulator, tmp_path):
    sim = simulator(users=60)
    db = tmp_path / "w.duckdb"
    cursor = utcnow() - timedelta(days=30) + timedelta(minutes=5)  # its overlap reaches past the edge
    with DuckDBLandingWriter(db) as writer:
        writer.ensure_tables()
        writer.record_run(
            SyncRun(run_id="old", stream="audit_events", status="success", started_at=cursor, cursor_to=cursor)
        )
    summary = extract(settings_for(sim, db), ["audit_events"])
    assert str(summary.status) == "success", summary.streams[0].message
    assert query(db, "select count(*) from descope_raw._sync_runs where status = 'data_loss'")[0][0] == 0
    landed = {r[0] for r in query(db, "select event_id from descope_raw.audit_events")}
    in_window = {event_id(e) for e in sim.world.truth()["events"] if int(e["occurred"]) >= int(cursor.timestamp())}
    assert in_window and in_window <= landed
