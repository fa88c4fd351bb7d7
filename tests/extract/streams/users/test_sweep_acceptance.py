"""When a users sweep is accepted, and so lets dbt infer deletions: through real runs against the
simulator and dbt on the warehouse they landed.

- A sweep with a dense second it could not read fully is never accepted, even when the counts
  balance (users it read earlier were deleted silently meanwhile): accepted, dbt would delete the
  unread, live users of that second.
- A sweep falls due once the accepted one is MORE than reconcile_days old (not at exactly that age).
- The deletion valve holds only sweeps removing MORE than max_delete_fraction of the live users;
  the collapse guard (Descope's count below (1 - fraction) of the live users) has the same edge.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import duckdb

from descope_sim import World
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.timeutil import from_ms, to_ms
from descope_sync.transform import run_dbt
from tests.conftest import query, settings_for
from tests.extract.cli.commands import status_of
from tests.extract.streams.users.conftest import users_run


def sweep_end(db) -> dict:
    """The newest finished sweep's terminal row: status and details."""
    [(run_id, status, details)] = query(
        db,
        "select run_id, status, details from descope_raw._sync_runs where (details->>'phase') = 'done' "
        "order by finished_at desc limit 1",
    )
    return {"run_id": run_id, "status": status, **json.loads(details)}


def inferred_deleted(db, confirmed_sweep_id: str | None = None) -> set[str]:
    """dbt's `int_users_deleted` on `db` (dbt-duckdb keeps its connection: query nothing read-only after)."""
    extra = ["--vars", json.dumps({"confirm_deletions_sweep_id": confirmed_sweep_id})] if confirmed_sweep_id else []
    outcome = run_dbt("run", target="local", duckdb_path=db, select=["+int_users_deleted"], extra_args=extra)
    assert outcome.success, outcome
    con = duckdb.connect(str(db))  # the configuration of the dbt-duckdb connection this process holds
    try:
        return {
            user_id for (user_id,) in con.execute("select user_id from descope_staging.int_users_deleted").fetchall()
        }
    finally:
        con.close()


def test_a_sweep_that_could_not_read_a_dense_second_is_not_accepted_though_its_counts_balance(simulator, tmp_path):
    sim = simulator(world=World(seed=3, users=20, bulk_import=0))
    dense = int(time.time()) - 1000
    dense_ids = [f"Udense{i}" for i in range(10)]
    for uid in dense_ids:
        sim.world.put_user({"userId": uid, "createdTime": dense, "email": f"{uid.lower()}@example.com"})
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=4)
    assert str(users_run(settings).status) == "success"  # every user landed, the first sweep accepted

    earlier = sorted(uid for uid, u in sim.world.truth()["users"].items() if u.get("createdTime", dense) < dense)[:2]
    deleted: list[str] = []

    def delete_two_read_users_when_the_sweep_reaches_the_dense_second(phase, endpoint, request, world):
        lo, hi = request.get("fromCreatedTime"), request.get("toCreatedTime")
        one_second = lo is not None and hi is not None and hi - lo == 1000 and (lo + 1) // 1000 == dense
        if phase == "before" and endpoint == "user_search" and one_second and not deleted:
            deleted.extend(world.delete_user(uid, emit_event=False)["userId"] for uid in earlier)

    sim.max_offset = 4  # paging from either end now reaches 8 of the dense second's 10
    sim.on_request = delete_two_read_users_when_the_sweep_reaches_the_dense_second
    stream = users_run(settings_for(sim, db, users_page_size=4, full_refresh=True))
    assert deleted == earlier and len(deleted) == 2

    end = sweep_end(db)
    read = {
        uid
        for (uid,) in query(db, "select user_id from descope_raw.users where _batch_id = ?", [f"{end['run_id']}:users"])
    }
    unread = set(dense_ids) - read
    assert len(unread) == 2 and unread <= set(sim.world.truth()["users"])  # live in Descope, not read by the sweep
    # the situation the rule exists for: the two deleted users, read before their deletion, stand in for
    # the two unread ones, and the counts balance
    assert end["users_seen"] + end["quarantined"] == end["source_total"] == 28

    sweep_id = stream.details["sweep_id"]
    # Confirming it changes nothing: only a sweep that reconciled can be confirmed, for status, for
    # the extractor (it sweeps again) and for dbt.
    for flags in ([], ["--confirm-deletions-sweep-id", sweep_id]):
        result, _, streams = status_of(db, *flags)
        assert result.returncode == 8 and streams["users"]["checks"] == ["incomplete", "deletions_not_applied"]
    sim.on_request = None
    again = users_run(settings_for(sim, db, users_page_size=4, confirm_deletions_sweep_id=sweep_id))
    assert again.details["mode"] == "full" and str(again.status) == "incomplete"

    assert inferred_deleted(db) == set(), "deletions were inferred from a sweep that did not read a dense second"
    assert inferred_deleted(db, confirmed_sweep_id=sweep_id) == set(), "a confirmed unreconciled sweep deleted"
    assert str(stream.status) == "incomplete" and stream.details["reconciled"] is False
    assert end["status"] == "incomplete" and end["reconciled"] is False and end["held"] is False
    assert end["unproved"] and "paging reached only 8" in end["unproved"][0]


def _swept_then_silently_deleted(simulator, tmp_path, removed: int):
    """200 users swept once, then `removed` of them deleted in Descope without an event, and a sweep."""
    sim = simulator(world=World(seed=5, users=200, bulk_import=0))
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    first = users_run(settings)
    assert str(first.status) == "success" and first.details["users_seen"] == 200
    gone = {sim.world.delete_user(emit_event=False)["userId"] for _ in range(removed)}
    return users_run(settings), db, gone


def test_a_sweep_removing_exactly_the_max_delete_fraction_is_accepted_and_applied(simulator, tmp_path):
    stream, db, gone = _swept_then_silently_deleted(simulator, tmp_path, removed=20)  # 0.1 of 200, exactly
    assert str(stream.status) == "success", stream.message
    assert stream.details["sweep_reason"] == "Descope counts 180 users, the warehouse holds 200 live"
    end = sweep_end(db)
    assert (end["status"], end["held"], end["would_remove"], end["live_before"]) == ("success", False, 20, 200)
    assert inferred_deleted(db) == gone


def test_a_sweep_removing_one_more_than_the_max_delete_fraction_is_held(simulator, tmp_path):
    stream, db, _ = _swept_then_silently_deleted(simulator, tmp_path, removed=21)
    assert str(stream.status) == "incomplete"
    end = sweep_end(db)
    assert (end["status"], end["held"], end["would_remove"], end["live_before"]) == ("incomplete", True, 21, 200)
    assert "would remove 21 of 200 live users" in stream.message
    assert inferred_deleted(db) == set()


def test_a_sweep_falls_due_only_once_the_accepted_one_is_more_than_reconcile_days_old(simulator, tmp_path):
    """Exactly `reconcile_days` after the accepted sweep finished: incremental; a millisecond later: a sweep."""
    clock = [1_800_000_000.0]
    sim = simulator(world=World(seed=3, users=30, bulk_import=0, now=lambda: clock[0]))
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, reconcile_days=1)

    def extract_at(moment):
        clock[0] = to_ms(moment) / 1000
        return run_extract(settings, streams=["users"], progress=SilentProgress(), now=lambda: moment).streams[0]

    def ticking():  # the first sweep's rows each get a time of their own
        clock[0] += 0.001
        return from_ms(round(clock[0] * 1000))

    assert run_extract(settings, streams=["users"], progress=SilentProgress(), now=ticking).status == "success"
    [(accepted_at,)] = query(
        db, "select finished_at from descope_raw._sync_runs where status = 'success' and mode = 'full'"
    )
    on_the_day = extract_at(accepted_at + timedelta(days=1))
    assert on_the_day.details["mode"] == "incremental", on_the_day.details.get("sweep_reason")
    later = extract_at(accepted_at + timedelta(days=1, milliseconds=1))
    assert later.details["sweep_reason"] == "the last reconciled sweep is 1 days old"
    # on a clock standing still every user lands at the very instant its sweep started: read by it
    assert str(later.status) == "success" and later.details["users_seen"] == 30
