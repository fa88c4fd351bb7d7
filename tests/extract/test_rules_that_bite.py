"""Rules the correctness rests on, each pinned by a test that fails when the rule is broken.

Each test makes happen the thing the rule exists for (a change right after the last tail pass, a
clock that disagrees, a deletion between two offset pages, a page boundary inside a millisecond, a
crash between rows and checkpoint, a cursor just inside the retention edge) and checks the data.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from descope_sim import World
from descope_sync.contract import event_id
from descope_sync.landing.base import SyncRun
from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.timeutil import from_ms, utcnow
from tests.conftest import latest_landed_users, query, settings_for


def extract(settings, streams=("users",), now=None):
    kwargs = {"now": now} if now is not None else {}
    return run_extract(settings, streams=list(streams), progress=SilentProgress(), **kwargs)


def test_the_users_cursor_stays_before_the_last_tail_pass_began(simulator, tmp_path):
    """A change made after the last tail pass was answered is read by the next run, even with no overlap."""
    clock = [1_800_000_000.0]
    world = World(seed=3, users=120, now=lambda: clock[0])
    changed: list[str] = []

    def change_after_each_tail_pass(phase, endpoint, request, world):
        open_ended = "fromModifiedTime" in request and "toModifiedTime" not in request
        if phase == "after" and endpoint == "user_search" and open_ended and changed is not None:
            clock[0] += 1
            changed.append(world.modify_user()["userId"])
            clock[0] += 5  # the run ends well after the change

    sim = simulator(world=world, on_request=change_after_each_tail_pass)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_overlap_seconds=0)

    def now():
        return from_ms(int(clock[0] * 1000))

    assert str(extract(settings, now=now).status) == "success"
    sim.on_request = None
    clock[0] += 60
    assert str(extract(settings, now=now).status) == "success"
    truth = sim.world.truth()["users"]
    landed = latest_landed_users(db)
    assert changed and all(landed[uid] == truth[uid] for uid in changed), "a change after the last pass was lost"


def test_the_incremental_overlap_covers_a_server_clock_behind_ours(simulator, tmp_path):
    world = World(seed=4, users=150, now=lambda: time.time() - 90)  # Descope's clock 90 s behind ours
    sim = simulator(world=world)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)  # the default 10-minute overlap
    extract(settings)
    changed = {world.modify_user()["userId"] for _ in range(5)}
    extract(settings)
    truth, landed = sim.world.truth()["users"], latest_landed_users(db)
    assert all(landed[uid] == truth[uid] for uid in changed)


def test_a_deletion_between_two_offset_pages_of_a_dense_second_skips_nobody(simulator, tmp_path):
    world = World(seed=5, users=400, bulk_import=250)
    deleted: list[str] = []

    def delete_before_the_second_page(phase, endpoint, request, world):
        one_second = request.get("toCreatedTime", 0) - request.get("fromCreatedTime", 0) <= 2000
        if phase == "before" and endpoint == "user_search" and request.get("page") == 1 and one_second and not deleted:
            # The first user of the second (default order: createdTime, then userId) sat on page 0:
            # removing it shifts every later user one place towards page 0.
            second = request["fromCreatedTime"] // 1000 + 1
            first = min(uid for uid, u in world.truth()["users"].items() if u.get("createdTime") == second)
            deleted.append(world.delete_user(first)["userId"])

    sim = simulator(world=world, max_page_size=100, on_request=delete_before_the_second_page)
    db = tmp_path / "w.duckdb"
    summary = extract(settings_for(sim, db, users_page_size=100))
    assert str(summary.status) == "success" and deleted
    truth, landed = sim.world.truth()["users"], latest_landed_users(db)
    missing = set(truth) - set(landed)
    assert not missing, f"{len(missing)} users of the dense second were skipped when the offsets shifted"


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
