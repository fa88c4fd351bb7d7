"""Seconds holding more users than a page (`streams/users/dense_seconds.py`): offset pages, read from
both ends past a cap, proved or named as unproved."""

from __future__ import annotations

import json
from collections import Counter

from descope_sim import World
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.timeutil import from_ms
from tests.conftest import cursor, killed_while_appending, latest_landed_users, logged, query, settings_for
from tests.extract.streams.users.conftest import (
    assert_landing_matches_truth,
    extract_users,
    fixed_clock_world,
    landings,
    swept_fixed_clock_world,
    ticking,
)


def test_more_users_in_one_second_than_a_page_holds_are_read_with_verified_offset_pages(simulator, tmp_path):
    sim = simulator(users=400, max_page_size=4)
    db = tmp_path / "w.duckdb"
    summary = extract_users(settings_for(sim, db))
    assert summary.streams[0].details["dense_windows"] >= 1  # the simulated bulk import
    assert_landing_matches_truth(sim, db)


def test_a_dense_second_past_the_offset_cap_is_read_from_both_ends(simulator, tmp_path):
    sim = simulator(world=World(seed=2, users=2000, bulk_import=1500), max_page_size=100, max_offset=1000)
    db = tmp_path / "w.duckdb"
    summary = extract_users(settings_for(sim, db, users_page_size=100))
    assert str(summary.status) == "success", summary.streams[0].message
    assert summary.streams[0].details["dense_windows"] >= 1
    assert_landing_matches_truth(sim, db)


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
    summary = extract_users(settings_for(sim, db, users_page_size=100))
    assert str(summary.status) == "success" and deleted
    truth, landed = sim.world.truth()["users"], latest_landed_users(db)
    missing = set(truth) - set(landed)
    assert not missing, f"{len(missing)} users of the dense second were skipped when the offsets shifted"


def test_a_dense_second_is_read_again_until_a_pass_proves_it(simulator, tmp_path):
    """A past second whose count held still is proved by one pass; the last second before now and the
    current one are read again, and again while a re-read still brings someone new."""
    now_s = 1_800_000_000
    reads: Counter[int] = Counter()

    def count_one_second_reads(phase, endpoint, request, world):
        lo, hi = request.get("fromCreatedTime"), request.get("toCreatedTime")
        if phase == "before" and request.get("limit", 0) > 1 and lo is not None and hi is not None and hi - lo == 1000:
            second = (lo + 1) // 1000
            reads[second] += 1
            if second == now_s and reads[second] == 4:  # the second pass over the current second begins
                world.put_user({"userId": "U3arrived", "createdTime": now_s, "email": "arrived@example.com"})

    sim, _, now = fixed_clock_world(simulator, on_request=count_one_second_reads)
    for ago in (2, 1, 0):  # five users in each of three seconds, pages of four
        for i in range(5):
            sim.world.put_user({"userId": f"U3s{ago}u{i}", "createdTime": now_s - ago, "email": f"s{ago}u{i}@x.com"})
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=4)
    stream = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert str(stream.status) == "success", stream.message
    assert stream.details["dense_windows"] == 3
    # per second: the one-second window that overflowed, then two pages a pass
    dense = {second: reads[second] for second in (now_s - 2, now_s - 1, now_s)}
    assert dense == {now_s - 2: 1 + 2, now_s - 1: 1 + 2 * 2, now_s: 1 + 3 * 2}
    assert_landing_matches_truth(sim, db)


def test_a_dense_second_read_from_both_ends_is_read_again_while_its_count_or_membership_moves(simulator, tmp_path):
    """Offsets past 4 answer nothing, so six users in a second take a pass from each end. A count that
    changed during a pass proves nothing, nor does a re-read in which both ends found someone new."""
    now_s = 1_800_000_000
    past = now_s - 100
    reads: Counter[int] = Counter()

    def move_while_paging(phase, endpoint, request, world):
        lo, hi = request.get("fromCreatedTime"), request.get("toCreatedTime")
        if phase == "before" and request.get("limit", 0) > 1 and lo is not None and hi is not None and hi - lo == 1000:
            second = (lo + 1) // 1000
            reads[second] += 1
            if second == past and reads[second] == 3:  # the first pass's second page
                world.delete_user("U7past0", emit_event=False)
            if second == now_s and reads[second] == 6:  # the second pass begins: one joins each end
                for uid in ("U7now", "U7nowzz"):
                    world.put_user({"userId": uid, "createdTime": now_s, "email": f"{uid.lower()}@example.com"})

    sim, _, now = fixed_clock_world(simulator, max_offset=4, on_request=move_while_paging)
    for second, prefix in ((past, "U7past"), (now_s, "U7now")):
        for i in range(6):
            sim.world.put_user({"userId": f"{prefix}{i}", "createdTime": second, "email": f"{prefix}{i}@x.com"})
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=4)
    stream = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert str(stream.status) == "success", stream.message
    # a pass: page 0 and the capped page 1 from the start, then the same from the end while users are missing
    assert reads[past] == 1 + (2 + 2) + 2  # the count moved: one more pass, which finds everyone
    assert reads[now_s] == 1 + (2 + 2) + (2 + 2) + 2  # the re-read found two: one more, which finds no one
    assert_landing_matches_truth(sim, db)


def test_a_tail_pass_over_a_dense_second_does_not_land_its_users_again(simulator, tmp_path):
    sim, clock, now, settings, db = swept_fixed_clock_world(simulator, tmp_path, users_page_size=4)
    clock[0] += 100
    modified = {sim.world.modify_user(uid)["userId"] for uid in sorted(sim.world.truth()["users"])[:6]}
    summary = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now)
    stream = summary.streams[0]
    assert str(stream.status) == "success" and stream.details["mode"] == "incremental", stream.details["sweep_reason"]
    # six users modified in the current second: read by the pass, then by the tail pass that proves it
    assert stream.details["dense_windows"] == 2 and stream.details["tail_passes"] == 1
    landed = query(
        db,
        "select user_id, count(*) from descope_raw.users where _batch_id = ? group by user_id",
        [f"{summary.run_id}:users"],
    )
    assert dict(landed) == dict.fromkeys(modified, 1)
    assert stream.rows_loaded == len(modified)
    assert_landing_matches_truth(sim, db)


def test_a_tail_pass_that_brings_users_in_a_dense_second_and_elsewhere_brings_another(simulator, tmp_path):
    sim, clock, now, settings, db = swept_fixed_clock_world(simulator, tmp_path, users_page_size=4)
    clock[0] = now_s = 1_800_000_100
    sim.world.modify_user()  # a change since the run began, so that a tail pass follows the first request
    changed: list[str] = []

    def change_during_the_first_tail_pass(phase, endpoint, request, world):
        open_ended = "fromModifiedTime" in request and "toModifiedTime" not in request
        if phase == "before" and open_ended and not changed:
            # five modified now (one second, more than a page) and five new users a few seconds back
            changed.extend(world.modify_user(uid)["userId"] for uid in sorted(world.truth()["users"])[:5])
            for i, ago in enumerate((3, 3, 3, 2, 2)):
                user = {"userId": f"U8new{i}", "createdTime": now_s - ago, "modifiedTime": now_s - ago}
                changed.append(world.put_user(user)["key"])

    sim.on_request = change_during_the_first_tail_pass
    stream = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert str(stream.status) == "success" and stream.details["mode"] == "incremental", stream.message
    assert len(changed) == 10
    assert stream.details["tail_passes"] == 2  # the ten changes, then a pass that brought nothing new
    assert_landing_matches_truth(sim, db)


def test_records_without_an_id_in_a_dense_future_second_are_each_quarantined_and_reconciled(simulator, tmp_path):
    """Users created a day ahead (an import, clock skew), more than a page in one second, some without an id."""
    sim, clock, now = fixed_clock_world(simulator, users=10)
    ahead = int(clock[0]) + 86_400
    for i in range(3):
        sim.world.put_user({"userId": f"U4ahead{i}", "createdTime": ahead, "email": f"ahead{i}@example.com"})
        sim.world.put_user({"createdTime": ahead, "email": f"no-id{i}@example.com"})
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=4)
    stream = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert str(stream.status) == "success", stream.message
    assert stream.details["dense_windows"] == 1 and stream.rows_quarantined == 3
    quarantined = query(db, "select payload->>'email' from descope_raw._quarantine order by 1")
    assert quarantined == [(f"no-id{i}@example.com",) for i in range(3)]
    terminal = query(
        db,
        "select (details->>'quarantined')::int, (details->>'users_seen')::int, (details->>'source_total')::int "
        "from descope_raw._sync_runs where stream = 'users' and status = 'success'",
    )
    assert terminal == [(3, 13, 16)]
    assert_landing_matches_truth(sim, db)


def test_a_dense_second_no_paging_can_reach_makes_the_sweep_incomplete_not_a_success(simulator, tmp_path):
    sim = simulator(world=World(seed=2, users=3000, bulk_import=2500), max_page_size=100, max_offset=1000)
    db = tmp_path / "w.duckdb"
    summary = extract_users(settings_for(sim, db, users_page_size=100))
    stream = summary.streams[0]
    assert str(stream.status) == "incomplete"
    assert "paging reached only" in stream.message
    terminal = query(
        db,
        "select status, (details->>'reconciled') from descope_raw._sync_runs "
        "where mode = 'full' and (details->>'phase') = 'done'",
    )
    assert terminal == [("incomplete", "false")]
    # Everything else still landed, and nothing claims the sweep was whole.
    assert query(db, "select count(distinct user_id) from descope_raw.users")[0][0] >= 3000 - 2500 + 2000


def test_a_sweep_killed_after_each_dense_second_resumes_past_it_and_still_names_the_unprovable_one(
    simulator, tmp_path, monkeypatch, caplog
):

    sim, clock, _ = fixed_clock_world(simulator, users=10, max_offset=4)  # offsets past 4 answer nothing
    now = ticking(clock)
    unprovable = int(clock[0]) - 1000  # 2027-01-15 07:43:20 UTC: 10 users, paging from either end reaches 8
    provable = unprovable - 10  # 5 users: 4 from the start, the 5th from the end
    dense = {uid: unprovable for uid in (f"U5dense{i}" for i in range(10))}
    dense |= {uid: provable for uid in (f"U5proved{i}" for i in range(5))}
    for uid, created in dense.items():
        sim.world.put_user({"userId": uid, "createdTime": created, "email": f"{uid.lower()}@example.com"})
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=4)
    kill_after = [provable, unprovable]

    def on_the_window_after_a_dense_second(table, run):
        position = (run.details or {}).get("position") if run is not None else None
        if table == "users" and kill_after and isinstance(position, int) and position > kill_after[0]:
            return bool(kill_after.pop(0))
        return False

    for _ in range(2):
        with killed_while_appending(monkeypatch, on_the_window_after_a_dense_second):
            run_extract(settings, streams=["users"], progress=SilentProgress(), now=now)
    stream = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert stream.details["sweep_reason"] == "continuing the open sweep"
    why = "Descope counts 10 users with createdTime in the second 2027-01-15 07:43:20 UTC but paging reached only 8"
    assert str(stream.status) == "incomplete"
    assert stream.message == f"users: full sweep {stream.details['sweep_id']} is incomplete: {why}"
    terminal = query(
        db, "select details->'unproved', error from descope_raw._sync_runs where (details->>'phase') = 'done'"
    )
    assert [(json.loads(unproved), error) for unproved, error in terminal] == [([why], why)]
    warned = logged(caplog, "WARNING")
    assert warned.count(f"users: {why}") == 1  # when the sweep met it, not again when it resumed
    counts = landings(db)
    assert all(counts[uid] == 1 for uid in dense if uid.startswith("U5proved")), "a resumed sweep read it again"
    unproved_counts = sorted(counts.get(uid, 0) for uid in dense if uid.startswith("U5dense"))
    assert unproved_counts == [0, 0] + [1] * 8, "a resumed sweep read the unprovable second again"


def test_an_unprovable_second_in_an_incremental_run_keeps_the_cursor_before_it_and_names_it(simulator, tmp_path):
    sim, clock, _ = fixed_clock_world(simulator, users=10)
    now = ticking(clock)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=4)
    assert run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).status == "success"
    second = int(clock[0]) + 50  # 2027-01-15 08:00:50 UTC
    clock[0] = second + 50.0
    for i in range(10):
        sim.world.put_user({"userId": f"U6dense{i}", "createdTime": second, "modifiedTime": second})
    sim.max_offset = 4  # paging from either end reaches 8 of the 10
    stream = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    why = "Descope counts 10 users with modifiedTime in the second 2027-01-15 08:00:50 UTC but paging reached only 8"
    assert str(stream.status) == "incomplete"
    assert stream.message == f"users: {why}; the cursor stays before it"
    runs = query(db, "select status, error from descope_raw._sync_runs where status = 'incomplete'")
    assert runs == [("incomplete", stream.message)]
    assert cursor(db, "users") < from_ms(second * 1000)
