"""`descope-sync run` as a user runs it, on bad days: outages, poisonous records, silent deletions, a busy file."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from descope_sim import World
from tests.conftest import query
from tests.e2e.test_end_to_end import descope_sync


def mart_users(db) -> set[str]:
    return {r[0] for r in query(db, "select user_id from descope_data_v2.users")}


def test_an_outage_answering_empty_objects_deletes_nobody_and_fails_the_run(simulator, tmp_path):
    sim = simulator(users=300)
    db = tmp_path / "warehouse.duckdb"
    assert descope_sync(["run"], sim, db).returncode == 0
    before = mart_users(db)
    assert len(before) == len(sim.world.truth()["users"])

    sim.answer_fault = {"user_search": "empty_object", "audit_search": "empty_object"}
    result = descope_sync(["run", "--full-refresh"], sim, db)
    output = result.stdout + result.stderr
    assert result.returncode in (1, 5), output
    assert mart_users(db) == before, "users were deleted on the word of an empty answer"


def test_records_that_cannot_be_encoded_are_huge_or_absurdly_dated_do_not_block_a_run(simulator, tmp_path):
    sim = simulator(world=World(seed=12, users=80))
    blob = "z" * (1024 * 1024)
    poison = {
        "U2surrogate": {"userId": "U2surrogate", "name": "Ana \ud800 Souza", "createdTime": 1_700_000_000},
        "U2farfuture": {"userId": "U2farfuture", "name": "Far", "createdTime": 99999999999999},
        "U2undated": {"userId": "U2undated", "name": "No time"},
    }
    for user in poison.values():
        sim.world.put_user(user)
    for i in range(40):  # one page of 1 MB records
        sim.world.put_user({"userId": f"U2big{i:02d}", "createdTime": 1_600_000_000, "customAttributes": {"b": blob}})
    db = tmp_path / "warehouse.duckdb"
    for _ in range(2):  # and again: what landed once must not break the next run either
        result = descope_sync(["run"], sim, db)
        assert result.returncode == 0, result.stdout + result.stderr
    rows = dict(query(db, "select user_id, created_time from descope_data_v2.users"))
    assert set(poison) | {f"U2big{i:02d}" for i in range(40)} <= set(rows)
    assert rows["U2farfuture"] is None and rows["U2undated"] is None
    name = query(db, "select display_name from descope_data_v2.users where user_id = 'U2surrogate'")[0][0]
    assert name == "Ana \\ud800 Souza"
    assert "assert_user_times_convertible" in result.stdout  # dbt warns about the absurd time


def test_a_user_deleted_without_any_audit_event_leaves_the_users_mart(simulator, tmp_path):
    sim = simulator(users=200)
    db = tmp_path / "warehouse.duckdb"
    assert descope_sync(["run"], sim, db).returncode == 0
    gone = {sim.world.delete_user(emit_event=False)["userId"] for _ in range(3)}
    bulk = [uid for uid in sorted(mart_users(db) - gone)[:4]]
    sim.world.delete_users(bulk, event="bulk")
    result = descope_sync(["run"], sim, db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert mart_users(db) == set(sim.world.truth()["users"])
    assert not (gone | set(bulk)) & mart_users(db)


def test_a_second_run_on_a_busy_warehouse_says_so_in_one_line_and_records_nothing(simulator, tmp_path):
    sim = simulator(users=50)
    db = tmp_path / "warehouse.duckdb"
    assert descope_sync(["extract"], sim, db).returncode == 0
    runs_before = query(db, "select count(*) from descope_raw._sync_runs")[0][0]
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"import duckdb, sys\ncon = duckdb.connect({str(db)!r})\nprint(1, flush=True)\nsys.stdin.read()"
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        holder.stdout.readline()
        result = descope_sync(["extract"], sim, db)
    finally:
        holder.communicate("")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "another process" in errors[0] and "Traceback" not in result.stderr
    assert query(db, "select count(*) from descope_raw._sync_runs")[0][0] == runs_before
