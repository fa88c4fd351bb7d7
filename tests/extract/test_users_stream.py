"""The users stream against the simulator over real HTTP."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from datetime import timedelta

import duckdb
import pytest

from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.simulator import ChaosConfig, Dialect, World
from descope_sync.streams.users import TAIL_MARGIN_S
from descope_sync.timeutil import from_ms, to_ms
from tests.conftest import cursor, killed_while_appending, latest_landed_users, logged, query, settings_for


def extract_users(settings):
    return run_extract(settings, streams=["users"], progress=SilentProgress())


def assert_landing_matches_truth(sim, db):
    truth = sim.world.truth()["users"]
    landed = latest_landed_users(db)
    missing = set(truth) - set(landed)
    assert not missing, f"{len(missing)} live users never landed"
    stale = [uid for uid, user in truth.items() if landed[uid] != user]
    assert not stale, f"{len(stale)} users landed with an old version, e.g. {stale[:3]}"


def test_full_load_lands_every_user_including_test_and_legacy_users(simulator, tmp_path):
    sim = simulator(users=400)
    db = tmp_path / "w.duckdb"
    summary = extract_users(settings_for(sim, db))
    assert summary.status == "success"
    assert_landing_matches_truth(sim, db)
    truth = sim.world.truth()["users"]
    assert any(u.get("test") for u in truth.values())
    assert any("modifiedTime" not in u for u in truth.values())
    assert query(db, "select count(*) from descope_raw.users where modified_at is null")[0][0] > 0
    runs = query(
        db,
        "select status, mode, error, details->>'reconciled', details->>'source_total', details->>'users_seen', "
        "details->>'live_before', details->>'would_remove', details->>'held', details->>'reason' "
        "from descope_raw._sync_runs where stream = 'users' and status <> 'partial'",
    )
    live = str(len(truth))
    assert runs == [("success", "full", None, "true", live, live, live, "0", "false", None)]


def test_incremental_run_picks_up_exactly_the_modified_and_created_users(simulator, tmp_path):
    sim = simulator(users=300)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    extract_users(settings)
    modified = {sim.world.modify_user()["userId"] for _ in range(5)}
    created = {sim.world.create_user()["userId"] for _ in range(3)}
    second = extract_users(settings)
    assert second.streams[0].details["mode"] == "incremental"
    batches = query(db, "select distinct _batch_id from descope_raw.users order by min(_extracted_at) over ()")
    assert len(batches) == 2
    last_batch = query(
        db,
        "select user_id, count(*) from descope_raw.users where _batch_id = ? group by user_id",
        [f"{second.run_id}:users"],
    )
    assert dict(last_batch) == dict.fromkeys(modified | created, 1)  # the tail pass lands nobody again
    assert_landing_matches_truth(sim, db)


def test_a_server_that_silently_returns_fewer_rows_than_limit_loses_nothing(simulator, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="descope_sync")
    sim = simulator(users=500, max_page_size=37)
    db = tmp_path / "w.duckdb"
    summary = extract_users(settings_for(sim, db))
    assert summary.streams[0].details["effective_page_size"] == 37
    learned = "users: the server returned 37 of 1000 rows per page; using that page size"
    assert learned in logged(caplog)
    assert_landing_matches_truth(sim, db)


def test_more_users_in_one_second_than_a_page_holds_are_read_with_verified_offset_pages(simulator, tmp_path):
    sim = simulator(users=400, max_page_size=4)
    db = tmp_path / "w.duckdb"
    summary = extract_users(settings_for(sim, db))
    assert summary.streams[0].details["dense_windows"] >= 1  # the simulated bulk import
    assert_landing_matches_truth(sim, db)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_users_created_modified_or_deleted_between_page_requests_are_not_skipped(simulator, tmp_path, seed):
    # A burst of 20 mutations, over before the sweep's last requests (about 25 for 500 users in pages
    # of 40): a change after a run's last read is the next run's to land.
    chaos = ChaosConfig(seed=seed, p_429=0.0, p_5xx=0.0, p_malformed=0.0, p_mutation=0.6, max_mutations=20)
    sim = simulator(users=500, chaos=chaos, max_page_size=40)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    assert extract_users(settings).status == "success"
    assert sim.stats["mutations"] > 0
    assert_landing_matches_truth(sim, db)
    assert extract_users(settings).status == "success"
    assert_landing_matches_truth(sim, db)


def test_429s_5xx_and_malformed_bodies_are_retried_without_losing_users(simulator, tmp_path):
    chaos = ChaosConfig(seed=5, p_429=0.25, p_5xx=0.2, p_malformed=0.1, p_mutation=0.3, retry_after=1)
    sim = simulator(users=300, chaos=chaos, max_page_size=50)
    db = tmp_path / "w.duckdb"
    summary = extract_users(settings_for(sim, db))
    assert summary.status == "success"
    assert_landing_matches_truth(sim, db)


def test_a_crash_between_landing_and_cursor_commit_loses_nothing_on_the_next_run(simulator, tmp_path, monkeypatch):
    from descope_sync.landing.duckdb import DuckDBLandingWriter

    sim = simulator(users=200)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    extract_users(settings)
    cursor_before = cursor(db, "users")
    changed = {sim.world.modify_user()["userId"] for _ in range(4)}

    original = DuckDBLandingWriter.record_run

    def crash_on_success(self, run):
        if run.status == "success":
            raise SystemExit("killed between the load and the cursor commit")
        return original(self, run)

    monkeypatch.setattr(DuckDBLandingWriter, "record_run", crash_on_success)
    with pytest.raises(SystemExit):
        extract_users(settings)
    monkeypatch.setattr(DuckDBLandingWriter, "record_run", original)
    # The pages' own checkpoints may have moved the watermark, but never past what they landed.
    cursor_after_crash = cursor(db, "users")
    assert cursor_after_crash >= cursor_before
    landed = latest_landed_users(db)
    truth = sim.world.truth()["users"]
    assert all(landed[uid] == truth[uid] for uid in changed)
    assert query(db, "select count(*) from descope_raw._sync_runs where stream='users' and status='success'")[0][0] == 1

    changed |= {sim.world.modify_user()["userId"] for _ in range(2)}
    assert extract_users(settings).status == "success"
    landed = latest_landed_users(db)
    truth = sim.world.truth()["users"]
    assert all(landed[uid] == truth[uid] for uid in changed)
    assert_landing_matches_truth(sim, db)


def test_a_user_without_user_id_is_quarantined_and_counted(simulator, tmp_path, caplog):
    sim = simulator(users=50)
    original = sim.world.search_users_raw

    def with_a_broken_record(**query):
        users, total = original(**query)
        if users:
            broken = [
                b'{"email": "orphan@example.com", "name": "No Id"}',
                b'{"userId": "", "email": "empty@example.com"}',
            ]
            return [*users, *broken, b'"a bare string"'], total + 3
        return users, total

    sim.world.search_users_raw = with_a_broken_record
    db = tmp_path / "w.duckdb"
    summary = extract_users(settings_for(sim, db))
    stream = summary.streams[0]
    assert stream.status == "success"
    assert stream.rows_quarantined >= 2
    warned = logged(caplog, "WARNING")
    assert "users: quarantined 3 record(s) without a userId" in warned  # two without an id, one not an object
    rows = query(
        db, "select stream, reason, payload->>'email' from descope_raw._quarantine where payload->>'email' is not null"
    )
    # an empty userId is no id either
    assert set(rows) == {
        ("users", "user record without a userId", "orphan@example.com"),
        ("users", "user record without a userId", "empty@example.com"),
    }
    not_objects = "select distinct stream, reason, payload->>'$' from descope_raw._quarantine"
    bare = query(db, not_objects + " where json_type(payload) = 'VARCHAR'")
    assert bare == [("users", "not an object", "a bare string")]
    assert query(db, "select count(*) from descope_raw.users where user_id is null or user_id = ''")[0][0] == 0
    for table in ("users", "_quarantine"):  # every row says when it was extracted
        assert query(db, f"select count(*) from descope_raw.{table} where _extracted_at is null")[0][0] == 0
    assert_landing_matches_truth(sim, db)


def test_unknown_new_fields_survive_in_the_raw_payload(simulator, tmp_path):
    from descope_sync.simulator import World

    sim = simulator(world=World(seed=11, users=150, extra_fields=True))
    db = tmp_path / "w.duckdb"
    extract_users(settings_for(sim, db))
    known = {"userId", "loginIds", "email", "name", "status", "createdTime", "modifiedTime"}
    with_new_fields = [u for u in sim.world.truth()["users"].values() if "lastSeenRegion" in u]
    assert with_new_fields
    landed = latest_landed_users(db)
    for user in with_new_fields:
        assert landed[user["userId"]] == user
        assert set(user) - known


# ---------------------------------------------------------------------------- the sweep's unfiltered pass
def _with_outside_users(sim, n):
    """n users whose createdTime (0) no createdTime window reaches: only the unfiltered pass finds them."""
    ids = [f"U0outside{i:03d}" for i in range(n)]
    for uid in ids:
        sim.world.put_user({"userId": uid, "createdTime": 0, "email": f"{uid.lower()}@example.com"})
    return ids


def landings(db) -> dict[str, int]:
    return dict(query(db, "select user_id, count(*) from descope_raw.users group by user_id"))


def test_outside_users_on_consecutive_unfiltered_pages_are_all_landed(simulator, tmp_path):
    sim = simulator(users=100)
    outside = _with_outside_users(sim, 70)  # pages 0 and 1 of 40 (they sort first by createdTime)
    db = tmp_path / "w.duckdb"
    stream = extract_users(settings_for(sim, db, users_page_size=40)).streams[0]
    assert str(stream.status) == "success", stream.message
    assert stream.details["reconciled"] is True
    assert_landing_matches_truth(sim, db)
    counts = landings(db)
    assert all(counts.get(uid) == 1 for uid in outside)


def test_users_created_at_the_first_and_last_second_the_windows_cover_are_landed_once(simulator, tmp_path):
    clock = [1_800_000_000.0]
    sim = simulator(world=World(seed=3, users=100, now=lambda: clock[0]))
    edges = {
        "U1first": {"userId": "U1first", "createdTime": 1, "email": "first@example.com"},
        # two seconds ahead of our clock: the last second the createdTime windows read
        "U1last": {"userId": "U1last", "createdTime": int(clock[0]) + 2, "email": "last@example.com"},
    }
    for user in edges.values():
        sim.world.put_user(user)
    _with_outside_users(sim, 1)  # so the unfiltered pass runs
    db = tmp_path / "w.duckdb"
    now = lambda: from_ms(int(clock[0] * 1000))  # noqa: E731
    stream = run_extract(settings_for(sim, db), streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert str(stream.status) == "success", stream.message
    assert_landing_matches_truth(sim, db)
    counts = landings(db)
    assert counts["U1first"] == 1 and counts["U1last"] == 1  # read by the windows, not again by the pass
    assert set(counts.values()) == {1}


def _on_unfiltered_page(page):
    """Kill the users stream as it commits the checkpoint of this unfiltered page."""
    return lambda table, run: (
        table == "users" and run is not None and (run.details or {}).get("unfiltered_page") == page
    )


def test_a_sweep_killed_in_its_unfiltered_pass_resumes_at_the_page_it_reached(simulator, tmp_path, monkeypatch):

    sim = simulator(users=100)
    for i in range(5):  # without an id: quarantined from page 0, before the kill
        sim.world.put_user({"createdTime": 0, "email": f"orphan{i}@example.com"})
    outside = _with_outside_users(sim, 90)  # pages 0, 1 and 2 of 40 with the five
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=40)
    with killed_while_appending(monkeypatch, _on_unfiltered_page(3)):
        extract_users(settings)
    assert set(landings(db)) & set(outside)  # the first pages landed before the kill
    windowed = []
    sim.on_request = lambda phase, _endpoint, request, _world: windowed.extend(
        [request] if phase == "before" and "fromCreatedTime" in request else []
    )
    stream = extract_users(settings).streams[0]
    assert windowed == [], "the resumed sweep read its createdTime windows again"
    assert str(stream.status) == "success", stream.message
    assert stream.details["sweep_reason"] == "continuing the open sweep"
    assert_landing_matches_truth(sim, db)
    counts = landings(db)
    assert all(counts[uid] == 1 for uid in outside), "the resumed pass read its first pages again"
    assert set(counts.values()) == {1}, "a user landed twice"
    terminal = query(
        db,
        "select (details->>'quarantined')::int, details->'unproved', (details->>'unfiltered_page')::int "
        "from descope_raw._sync_runs where (details->>'phase') = 'done'",
    )
    assert terminal == [(5, "[]", 5)]  # the five quarantined before the kill still count; 195 users: pages 0-4


def test_a_held_sweep_is_swept_again_and_says_why(simulator, tmp_path):
    sim = simulator(users=200)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    extract_users(settings)
    for _ in range(40):  # 20%, above the 10% a sweep may remove unconfirmed
        sim.world.delete_user(emit_event=False)
    held = extract_users(settings).streams[0]
    assert str(held.status) == "incomplete" and held.details["held"] is True
    again = extract_users(settings).streams[0]
    assert again.details["mode"] == "full"
    assert again.details["sweep_reason"] == "the last sweep was held back by the deletion safety valve"


def test_a_user_changed_during_the_first_tail_pass_brings_a_second_one(simulator, tmp_path):
    sim = simulator(users=120)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    assert extract_users(settings).status == "success"
    sim.world.modify_user()  # a change since the run began: a quiet first request would need no tail pass
    changed: list[dict] = []

    def change_before_the_first_tail_pass(phase, endpoint, request, world):
        open_ended = "fromModifiedTime" in request and "toModifiedTime" not in request
        if phase == "before" and endpoint == "user_search" and open_ended and not changed:
            changed.append(world.modify_user())

    sim.on_request = change_before_the_first_tail_pass
    stream = extract_users(settings).streams[0]
    sim.on_request = None
    assert str(stream.status) == "success" and stream.details["mode"] == "incremental"
    assert changed, "no tail pass ran"
    assert stream.details["tail_passes"] == 2  # the change, then a pass that brought nothing new
    uid = changed[0]["userId"]
    assert latest_landed_users(db)[uid] == sim.world.truth()["users"][uid]


@pytest.mark.parametrize(
    ("unit", "discards"), [("ms", False), ("s", True)], ids=["keyset (ms filters)", "windows (s filters)"]
)
def test_the_window_counters_account_for_every_windowed_request(simulator, tmp_path, unit, discards):
    """details.windows + details.probes_discarded = the bounded searches made (a probe that overflowed is
    redone). The createdTime keyset of a sweep on a server whose filters are milliseconds discards none."""
    bounded: list[dict] = []

    def count_bounded(phase, endpoint, request, world):
        both = any(k.startswith("from") for k in request) and any(k.startswith("to") for k in request)
        if phase == "before" and endpoint == "user_search" and both and request.get("limit", 0) > 1:
            bounded.append(request)

    world = World(seed=7, users=600, bulk_import=0, dialect=Dialect(user_time_unit=unit))
    sim = simulator(world=world, on_request=count_bounded)
    db = tmp_path / "w.duckdb"
    stream = extract_users(settings_for(sim, db, users_page_size=50)).streams[0]
    assert str(stream.status) == "success", stream.message
    details = stream.details
    assert details["dense_windows"] == 0 and (details["probes_discarded"] > 0) == discards
    assert details["windows"] + details["probes_discarded"] == len(bounded)
    assert_landing_matches_truth(sim, db)


def test_records_without_an_id_on_several_unfiltered_pages_all_count_toward_reconciliation(simulator, tmp_path):
    sim = simulator(users=100)
    for i in range(45):  # no userId and a createdTime no window reaches: unfiltered pages 0 and 1 of 40
        sim.world.put_user({"createdTime": 0, "email": f"orphan{i}@example.com"})
    db = tmp_path / "w.duckdb"
    stream = extract_users(settings_for(sim, db, users_page_size=40)).streams[0]
    assert str(stream.status) == "success", stream.message
    assert stream.details["reconciled"] is True and stream.rows_quarantined == 45
    reconciliation = query(
        db,
        "select (details->>'quarantined')::int, (details->>'source_total')::int, (details->>'users_seen')::int "
        "from descope_raw._sync_runs where stream = 'users' and status = 'success'",
    )
    assert reconciliation == [(45, 145, 100)]


def test_an_oversize_users_page_is_not_asked_for_again_at_that_size(simulator, tmp_path, caplog):
    """A window probe that overflowed with a full page must not undo the halving its oversize page caused."""
    caplog.set_level(logging.INFO, logger="descope_sync")
    limits: list[int] = []

    def record_page_sizes(phase, endpoint, request, world):
        if phase == "before" and endpoint == "user_search" and request.get("limit", 0) > 1:
            limits.append(request["limit"])

    sim = simulator(users=3000, on_request=record_page_sizes)
    db = tmp_path / "w.duckdb"
    stream = extract_users(settings_for(sim, db, max_page_bytes=64 * 1024)).streams[0]  # ~30 users' worth
    assert str(stream.status) == "success", stream.message
    final = stream.details["effective_page_size"]
    assert final <= 64
    oversize = {size: limits.count(size) for size in set(limits) if size > final}
    assert oversize and max(oversize.values()) <= 3, f"sizes already found too big were asked again: {oversize}"
    halvings = [m for m in logged(caplog) if "-byte page; asking for" in m]
    assert halvings and all(re.fullmatch(r"users: a \d+-byte page; asking for \d+ users per page", m) for m in halvings)
    assert halvings[-1].endswith(f"asking for {final} users per page")
    assert_landing_matches_truth(sim, db)


def test_of_two_overlapping_accepted_sweeps_the_one_that_started_last_is_the_baseline_as_in_dbt(simulator, tmp_path):
    """Two overlapping sweeps: the accepted one started first but finished last; the held one, confirmed,
    started last, so it is the baseline (descope_sync/sweeps.py, the rule dbt deletes by): the users it
    did not see count as gone, and Descope's count, which says otherwise, starts a sweep."""
    from datetime import timedelta

    from descope_sync.contract import RunMode, RunStatus
    from descope_sync.landing.base import SyncRun
    from descope_sync.landing.duckdb import DuckDBLandingWriter
    from descope_sync.timeutil import utcnow

    sim = simulator(users=100)
    users = sorted(sim.world.truth()["users"].items())
    t1 = utcnow() - timedelta(hours=2)

    def landed(batch, at):
        return [
            {"user_id": uid, "payload": user, "_batch_id": batch, "_extracted_at": at}
            for uid, user in batch_users[batch]
        ]

    batch_users = {"accepted": users, "held": users[:80]}  # the held sweep saw 20 fewer users
    db = tmp_path / "w.duckdb"
    with DuckDBLandingWriter(db) as writer:
        writer.ensure_tables()
        writer.append("users", landed("accepted", t1 + timedelta(minutes=1)))
        writer.append("users", landed("held", t1 + timedelta(minutes=12)))
        common = {"run_id": "earlier", "stream": "users", "mode": RunMode.FULL}
        writer.record_run(  # the held sweep: started after the accepted one, finished before it
            SyncRun(
                **common,
                status=RunStatus.INCOMPLETE,
                started_at=t1 + timedelta(minutes=10),
                finished_at=t1 + timedelta(minutes=20),
                sweep_id="held",
                sweep_started_at=t1 + timedelta(minutes=10),
                details={"reconciled": True, "held": True},
            )
        )
        writer.record_run(
            SyncRun(
                **common,
                status=RunStatus.SUCCESS,
                started_at=t1,
                finished_at=t1 + timedelta(minutes=30),
                cursor_to=t1 + timedelta(minutes=29),
                sweep_id="accepted",
                sweep_started_at=t1,
                details={"reconciled": True, "held": False},
            )
        )
    settings = settings_for(sim, db, confirm_deletions_sweep_id="held")
    stream = extract_users(settings).streams[0]
    # the confirmed sweep, which started last, is the baseline: it saw 80 of the 100 users
    assert stream.details["warehouse_live_users"] == 80
    assert stream.details["sweep_reason"] == "Descope counts 100 users, the warehouse holds 80 live"


# ---------------------------------------------------------------------------- dense seconds
def _fixed_clock_world(sim_factory, seed=3, users=20, **kwargs):
    """A simulator whose world and extractor share a clock standing still; returns (sim, clock, now)."""
    clock = [1_800_000_000.0]
    sim = sim_factory(world=World(seed=seed, users=users, bulk_import=0, now=lambda: clock[0]), **kwargs)
    return sim, clock, lambda: from_ms(int(clock[0] * 1000))


def _ticking(clock):
    """The extractor's clock from `clock`, a millisecond later at each call: every run row gets a time of its own."""

    def now():
        clock[0] += 0.001
        return from_ms(round(clock[0] * 1000))

    return now


def _swept_fixed_clock_world(simulator, tmp_path, **settings_overrides):
    """A fixed-clock world of 30 users swept once into tmp_path/w.duckdb on the ticking clock; returns
    (sim, clock, now, settings, db)."""
    sim, clock, _ = _fixed_clock_world(simulator, users=30)
    now = _ticking(clock)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, **settings_overrides)
    assert run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).status == "success"
    return sim, clock, now, settings, db


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

    sim, _, now = _fixed_clock_world(simulator, on_request=count_one_second_reads)
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


def test_a_tail_pass_over_a_dense_second_does_not_land_its_users_again(simulator, tmp_path):
    sim, clock, now, settings, db = _swept_fixed_clock_world(simulator, tmp_path, users_page_size=4)
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


def test_records_without_an_id_in_a_dense_future_second_are_each_quarantined_and_reconciled(simulator, tmp_path):
    """Users created a day ahead (an import, clock skew), more than a page in one second, some without an id."""
    sim, clock, now = _fixed_clock_world(simulator, users=10)
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


def test_a_sweep_killed_after_each_dense_second_resumes_past_it_and_still_names_the_unprovable_one(
    simulator, tmp_path, monkeypatch, caplog
):

    sim, clock, _ = _fixed_clock_world(simulator, users=10, max_offset=4)  # offsets past 4 answer nothing
    now = _ticking(clock)
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
    sim, clock, _ = _fixed_clock_world(simulator, users=10)
    now = _ticking(clock)
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

    sim, _, now = _fixed_clock_world(simulator, max_offset=4, on_request=move_while_paging)
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


def test_a_tail_pass_that_brings_users_in_a_dense_second_and_elsewhere_brings_another(simulator, tmp_path):
    sim, clock, now, settings, db = _swept_fixed_clock_world(simulator, tmp_path, users_page_size=4)
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


def _incremental_run_after_a_sweep(simulator, tmp_path, changed_since=1, **settings_overrides):
    """A fixed-clock world swept once; returns (sim, clock, run) with the clock set 100 s later,
    `changed_since` users modified then (a run whose first request brings nobody modified since it
    began needs no tail pass), and `run()` an incremental users run on the ticking clock."""
    sim, clock, now, settings, _ = _swept_fixed_clock_world(simulator, tmp_path, **settings_overrides)
    clock[0] = 1_800_000_100
    for _ in range(changed_since):
        sim.world.modify_user()

    def run():
        stream = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
        assert str(stream.status) == "success" and stream.details["mode"] == "incremental", stream.message
        return stream

    return sim, clock, run


def _is_tail_request(endpoint, request):
    return endpoint == "user_search" and "fromModifiedTime" in request and "toModifiedTime" not in request


def test_a_source_that_changes_during_every_tail_pass_stops_after_ten_with_the_cursor_before_the_last(
    simulator, tmp_path
):
    sim, clock, run = _incremental_run_after_a_sweep(simulator, tmp_path)
    changed: list[str] = []

    def a_change_a_second_during_every_tail_pass(phase, endpoint, request, world):
        if phase == "before" and _is_tail_request(endpoint, request):
            clock[0] += 1
            changed.append(world.modify_user()["userId"])

    sim.on_request = a_change_a_second_during_every_tail_pass
    stream = run()
    sim.on_request = None
    assert len(changed) == 10 and stream.details["tail_passes"] == 10
    # the tenth pass began at 1_800_000_109 (one second per pass before it): what changed before then is landed
    assert stream.cursor_to == from_ms(1_800_000_108_000)
    assert_landing_matches_truth(sim, tmp_path / "w.duckdb")


@pytest.mark.parametrize(("ahead", "page_size", "tail_passes"), [(2, 4, 1), (3, 4, 2), (3, 1000, 1)])
def test_the_windows_of_an_incremental_run_reach_two_seconds_past_now_and_the_tail_reads_what_lies_beyond(
    simulator, tmp_path, ahead, page_size, tail_passes
):
    """A change stamped `ahead` seconds in the future (a Descope clock ahead of ours): when the first
    request (up to year 9999) does not fit, the windows read it up to two seconds ahead; past that the
    tail pass lands it as new, so a second pass must prove it. When the first request fits it is read
    there, and one tail pass proves it."""
    sim, clock, run = _incremental_run_after_a_sweep(simulator, tmp_path, changed_since=5, users_page_size=page_size)
    clock[0] += ahead
    uid = sim.world.modify_user()["userId"]
    clock[0] -= ahead
    stream = run()
    assert stream.details["tail_passes"] == tail_passes
    assert latest_landed_users(tmp_path / "w.duckdb")[uid] == sim.world.truth()["users"][uid]


def test_a_change_stamped_by_a_descope_clock_behind_ours_by_the_tail_margin_is_landed_by_the_tail(simulator, tmp_path):
    sim, clock, run = _incremental_run_after_a_sweep(simulator, tmp_path)
    changed: list[str] = []

    def a_lagging_change_before_the_first_tail_pass(phase, endpoint, request, world):
        if phase == "before" and _is_tail_request(endpoint, request) and not changed:
            clock[0] -= TAIL_MARGIN_S  # the windows have passed that second already
            changed.append(world.modify_user()["userId"])
            clock[0] += TAIL_MARGIN_S

    sim.on_request = a_lagging_change_before_the_first_tail_pass
    stream = run()
    sim.on_request = None
    assert changed, "no tail pass ran"
    assert stream.details["tail_passes"] == 1  # older than the tail margin: landed, but not new to the pass
    assert stream.cursor_to == from_ms(1_800_000_099_000)
    assert_landing_matches_truth(sim, tmp_path / "w.duckdb")


# ---------------------------------------------------------------------------- records without an id in a sweep
# Every record without a userId counts once toward a sweep's reconciliation, whichever part of the
# sweep reads it: its createdTime window, the open window past the windows, or the unfiltered pass.
# Under the widest reading of the filters (seconds, both ends inclusive) a window also returns its
# neighbouring seconds, so a record on a window's edge comes back twice; it must still count once.
WIDE_WINDOWS = Dialect(user_time_unit="s", user_from="inclusive", user_to="inclusive")
READINGS = [Dialect(), WIDE_WINDOWS]


def _put_without_id(sim, created, n=1, tag="no-id"):
    for i in range(n):
        sim.world.put_user({"createdTime": created, "email": f"{tag}{created}-{i}@example.com"})


def _terminal(db):
    """(status, quarantined, users_seen, source_total) of each finished sweep, oldest first."""
    return query(
        db,
        "select status, (details->>'quarantined')::int, (details->>'users_seen')::int, "
        "(details->>'source_total')::int from descope_raw._sync_runs "
        "where stream = 'users' and (details->>'phase') = 'done' order by finished_at",
    )


@pytest.mark.parametrize("dialect", READINGS, ids=lambda d: d.describe())
def test_records_without_an_id_inside_the_windows_count_once_and_the_sweep_is_accepted(simulator, tmp_path, dialect):
    clock = [1_800_000_000.0]
    sim = simulator(world=World(seed=3, users=30, bulk_import=0, now=lambda: clock[0], dialect=dialect))
    now_s = int(clock[0])
    for ago in range(3000, 2994, -1):  # one in each of six consecutive seconds: some sit on a window's edge
        _put_without_id(sim, now_s - ago)
    dense = now_s - 4000  # six in one second, pages of four: three of them without an id
    _put_without_id(sim, dense, n=3)
    for i in range(3):
        sim.world.put_user({"userId": f"U9dense{i}", "createdTime": dense, "email": f"dense{i}@example.com"})
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=4)
    now = _ticking(clock)
    first = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert str(first.status) == "success", first.message
    assert first.details["dense_windows"] >= 1
    assert _terminal(db) == [("success", 9, 33, 42)]
    assert_landing_matches_truth(sim, db)
    clock[0] += 100
    again = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert str(again.status) == "success", again.message
    assert again.details["mode"] == "incremental" and "sweep_reason" not in again.details, again.details


def test_a_sweep_killed_around_the_window_holding_a_record_without_an_id_counts_it_once(
    simulator, tmp_path, monkeypatch
):
    from descope_sync.landing.duckdb import DuckDBLandingWriter

    sim, clock, _ = _fixed_clock_world(simulator, users=30)
    now = _ticking(clock)
    orphan = int(clock[0]) - 5000
    _put_without_id(sim, orphan)
    for i in range(8):  # more windows after the record's: pages of four
        sim.world.put_user({"userId": f"U9after{i}", "createdTime": orphan + 500 * (i + 1), "email": f"a{i}@x.com"})
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=4)
    original = DuckDBLandingWriter.append
    kills: list[int] = []
    committed = []

    def die_twice(self, table, rows, run=None):
        position = (run.details or {}).get("position") if run is not None else None
        reached = table == "users" and isinstance(position, int) and position >= orphan
        if reached and not kills:  # the window holding it: killed before its commit, so it is read again
            kills.append(position)
            raise SystemExit("killed while landing the window with the record")
        if reached and committed and len(kills) == 1:  # the next one: the record's window is committed
            kills.append(position)
            raise SystemExit("killed on the window after it")
        appended = original(self, table, rows, run)
        if reached:
            committed.append(position)
        return appended

    monkeypatch.setattr(DuckDBLandingWriter, "append", die_twice)
    for _ in range(2):
        with pytest.raises(SystemExit):
            run_extract(settings, streams=["users"], progress=SilentProgress(), now=now)
    stream = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert len(kills) == 2 and kills[1] < orphan + 4000, kills  # the second kill hit a later window
    assert stream.details["sweep_reason"] == "continuing the open sweep"
    assert str(stream.status) == "success", stream.message
    assert _terminal(db) == [("success", 1, 38, 39)]


def test_a_sweep_killed_right_after_an_unfiltered_page_with_records_without_an_id_still_counts_them(
    simulator, tmp_path, monkeypatch
):

    sim = simulator(users=100)
    _put_without_id(sim, 0, n=5)  # unfiltered page 0 (they sort first), committed with unfiltered_page 1
    _with_outside_users(sim, 90)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=40)
    with killed_while_appending(monkeypatch, _on_unfiltered_page(2)):
        extract_users(settings)
    stream = extract_users(settings).streams[0]
    assert stream.details["sweep_reason"] == "continuing the open sweep"
    assert str(stream.status) == "success", stream.message
    assert _terminal(db) == [("success", 5, 190, 195)]
    assert_landing_matches_truth(sim, db)


def test_records_without_an_id_past_the_windows_count_once_when_the_unfiltered_pass_runs(simulator, tmp_path):
    sim, clock, now = _fixed_clock_world(simulator, users=50)
    _put_without_id(sim, int(clock[0]) + 86_400)  # a day ahead: the open window reads it
    _put_without_id(sim, 99_999_999_999_999)  # milliseconds sent as seconds: past year 9999
    _with_outside_users(sim, 1)  # createdTime 0: only the unfiltered pass reads it
    db = tmp_path / "w.duckdb"
    stream = run_extract(settings_for(sim, db), streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert str(stream.status) == "success", stream.message
    assert _terminal(db) == [("success", 2, 51, 53)]
    quarantined = query(db, "select distinct payload->>'email' from descope_raw._quarantine order by 1")
    assert len(quarantined) == 2
    assert_landing_matches_truth(sim, db)


@pytest.mark.parametrize("dialect", READINGS, ids=lambda d: d.describe())
def test_records_without_an_id_do_not_hide_a_user_the_sweep_missed(simulator, tmp_path, dialect):
    """A user imported with an old createdTime and no modifiedTime after its window was read: no part
    of that sweep can read it, so the sweep must not be accepted, however many records lack an id."""
    clock = [1_800_000_000.0]
    now_s = int(clock[0])
    late: list[dict] = []

    def import_behind_the_windows(phase, endpoint, request, world):
        open_ended = "fromCreatedTime" in request and "toCreatedTime" not in request  # the sweep's open window
        if phase == "before" and open_ended and request.get("limit", 0) > 1 and not late:
            late.append(world.put_user({"userId": "U9late", "createdTime": now_s - 6000, "email": "late@x.com"}))

    world = World(seed=3, users=30, bulk_import=0, now=lambda: clock[0], dialect=dialect)
    sim = simulator(world=world, on_request=import_behind_the_windows)
    for ago in range(3000, 2994, -1):
        _put_without_id(sim, now_s - ago)
    _put_without_id(sim, now_s - 4000, n=5)  # a dense second
    _put_without_id(sim, now_s + 86_400)
    _put_without_id(sim, 99_999_999_999_999)
    _put_without_id(sim, 0, n=2)
    _with_outside_users(sim, 1)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=4)
    now = _ticking(clock)
    stream = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert late, "the import never happened"
    assert str(stream.status) == "incomplete", stream.details
    assert stream.details["reconciled"] is False
    assert _terminal(db) == [("incomplete", 15, 31, 47)]
    why = "the sweep landed 31 live users (+15 without an id) but Descope counts 47"
    assert stream.message == f"users: full sweep {stream.details['sweep_id']} is incomplete: {why}"
    assert query(db, "select error, details->>'reason' from descope_raw._sync_runs where status = 'incomplete'") == [
        (why, why)
    ]
    assert "U9late" not in landings(db)
    # the next sweep reads it and is accepted
    clock[0] += 100
    again = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert str(again.status) == "success", again.message
    assert again.details["mode"] == "full"
    assert _terminal(db)[-1] == ("success", 15, 32, 47)
    assert_landing_matches_truth(sim, db)


def test_a_full_refresh_starts_a_sweep_and_says_why(simulator, tmp_path):
    sim = simulator(users=20)
    db = tmp_path / "w.duckdb"
    first = extract_users(settings_for(sim, db)).streams[0]
    assert first.status == "success" and first.details["sweep_reason"] == "no reconciled sweep yet"
    again = extract_users(settings_for(sim, db, full_refresh=True)).streams[0]
    assert again.status == "success"
    assert again.details["sweep_reason"] == "--full-refresh"


def test_a_sweep_is_due_only_once_the_last_reconciled_one_is_older_than_reconcile_days(simulator, tmp_path):
    sim, clock, _ = _fixed_clock_world(simulator)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, reconcile_days=2)

    def run(now):
        return run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]

    swept = run(_ticking(clock))  # each run row a millisecond apart (a clock standing still ties them)
    assert swept.details["sweep_reason"] == "no reconciled sweep yet" and str(swept.status) == "success"
    [(finished,)] = query(
        db, "select finished_at from descope_raw._sync_runs where stream = 'users' and status = 'success'"
    )
    exactly = run(lambda: finished + timedelta(days=2))  # the sweep finished exactly two days ago
    assert str(exactly.status) == "success" and "sweep_reason" not in exactly.details
    clock[0] = to_ms(finished + timedelta(days=2, seconds=1)) / 1000
    over = run(_ticking(clock))
    assert over.details["sweep_reason"] == "the last reconciled sweep is 2 days old"


def test_a_warehouse_whose_full_runs_predate_sweep_ids_gets_a_reconciled_sweep_first(simulator, tmp_path):
    """Full runs written before sweeps had ids say nothing about which users were live when: the first
    run after the upgrade sweeps, even though the counts agree, instead of trusting them as a baseline."""
    sim = simulator(users=40)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    assert extract_users(settings).status == "success"
    with duckdb.connect(str(db)) as con:
        con.execute("update descope_raw._sync_runs set sweep_id = null, sweep_started_at = null where mode = 'full'")
    after_upgrade = extract_users(settings).streams[0]
    assert str(after_upgrade.status) == "success"
    assert after_upgrade.details["sweep_reason"] == "no reconciled sweep yet"
    assert after_upgrade.details["reconciled"] is True


def test_an_incremental_run_that_found_no_change_keeps_its_progress_when_killed_in_the_tail(
    simulator, tmp_path, monkeypatch
):
    """A quiet stretch is progress too: the first request commits its cursor, so a run killed in the
    tail pass after it does not send the next run back to the old cursor."""
    from descope_sync.descope import DescopeClient

    sim, clock, now, settings, db = _swept_fixed_clock_world(simulator, tmp_path)
    swept_to = cursor(db, "users")
    clock[0] += 3600
    second_of_the_run = int(clock[0])
    sim.world.modify_user()  # a change since the run began, so that a tail pass follows the first request
    search = DescopeClient.search_users

    def killed_at_the_tail(self, body, **kwargs):
        if "fromModifiedTime" in body and "toModifiedTime" not in body:
            raise SystemExit("killed in the tail pass")
        return search(self, body, **kwargs)

    monkeypatch.setattr(DescopeClient, "search_users", killed_at_the_tail)
    with pytest.raises(SystemExit):
        run_extract(settings, streams=["users"], progress=SilentProgress(), now=now)
    monkeypatch.setattr(DescopeClient, "search_users", search)
    kept = cursor(db, "users")
    assert swept_to < kept == from_ms((second_of_the_run - 1) * 1000)  # up to the second before now, no further
    stream = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now).streams[0]
    assert str(stream.status) == "success" and stream.cursor_from == kept
    assert_landing_matches_truth(sim, db)


def test_a_tail_pass_too_big_for_one_page_lands_nobody_twice(simulator, tmp_path):
    """Eight users changed over the four seconds before the run, pages of four: the tail pass cannot read
    them in one answer, reads them in windows, and lands none of those the windows before it landed."""
    sim, clock, now, settings, db = _swept_fixed_clock_world(simulator, tmp_path, users_page_size=4)
    swept_to = cursor(db, "users")
    base = int(clock[0]) + 100
    users = sorted(sim.world.truth()["users"])
    modified = set()
    for ago in (3, 2, 1, 0):
        clock[0] = base - ago
        modified |= {sim.world.modify_user(uid)["userId"] for uid in users[2 * ago : 2 * ago + 2]}
    summary = run_extract(settings, streams=["users"], progress=SilentProgress(), now=now)
    stream = summary.streams[0]
    assert str(stream.status) == "success" and stream.details["mode"] == "incremental", stream.message
    assert stream.details["tail_passes"] == 1
    landed = query(
        db,
        "select user_id, count(*) from descope_raw.users where _batch_id = ? group by user_id",
        [f"{summary.run_id}:users"],
    )
    assert dict(landed) == dict.fromkeys(modified, 1)
    starts = query(db, "select distinct cursor_from from descope_raw._sync_runs where run_id = ?", [summary.run_id])
    assert starts == [(swept_to,)]  # every row the run committed names the cursor it started from
    assert_landing_matches_truth(sim, db)


@pytest.mark.parametrize("user_id", ["", None, 42])
def test_a_record_whose_user_id_is_empty_or_not_text_outside_every_window_is_quarantined_and_counted(
    simulator, tmp_path, user_id
):
    """No createdTime: only the unfiltered pass reads it, and it counts it as a record without an id."""
    sim = simulator(users=20)
    sim.world.put_user({"userId": user_id, "email": "blank@example.com"})
    _with_outside_users(sim, 1)  # the windows miss a user: the unfiltered pass runs
    db = tmp_path / "w.duckdb"
    stream = extract_users(settings_for(sim, db)).streams[0]
    assert str(stream.status) == "success", stream.message
    live = len(sim.world.truth()["users"])
    assert _terminal(db) == [("success", 1, live, live + 1)]


def test_a_count_that_collapses_moves_no_cursor_and_deletes_nobody(simulator, tmp_path, caplog):
    """Descope suddenly counting far fewer users than the warehouse holds live (an outage, a wrong
    project ID, a mass deletion) is not proof: the run ends incomplete and claims nothing."""
    sim = simulator(users=100)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    assert extract_users(settings).status == "success"
    live = len(sim.world.truth()["users"])
    cursor_before = cursor(db, "users")
    sim.world.delete_users(sorted(sim.world.truth()["users"])[: live * 6 // 10], event=None)
    left = len(sim.world.truth()["users"])
    stream = extract_users(settings).streams[0]
    assert str(stream.status) == "incomplete"
    collapsed = (
        f"users: Descope reports {left} users but the warehouse holds {live} live: an outage, a wrong project "
        "ID, or a mass deletion; the cursor does not move and nobody is deleted"
    )
    assert collapsed in logged(caplog, "WARNING")
    assert stream.details["warehouse_live_users"] == live and stream.details["source_total"] == left
    assert stream.details["sweep_reason"] == "Descope's count collapsed" and stream.cursor_to is None
    cursor_after = cursor(db, "users")
    assert cursor_after == cursor_before
    accepted = "select count(*) from descope_raw._sync_runs where stream = 'users' and status = 'success'"
    assert query(db, accepted) == [(1,)]  # the collapsed sweep is not accepted: nobody is deleted
