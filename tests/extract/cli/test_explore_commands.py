"""`descope-sync runs` and `descope-sync sql`: they read the local warehouse and never change it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import duckdb

from descope_sync.catalog import STREAMS
from tests.conftest import query
from tests.extract.cli.commands import land, run_cli


def _piped(args, stdin: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_")}
    return subprocess.run(
        [sys.executable, "-m", "descope_sync.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_runs_shows_each_stream_s_runs_newest_first_with_what_they_landed(simulator, tmp_path):
    sim = simulator(users=40)
    db = tmp_path / "w.duckdb"
    first = land(sim, db)
    second = land(sim, db)
    assert first.status == second.status == "success"
    before = _digest(db)

    result = run_cli(["runs", "--json", "--duckdb-path", str(db)], {}, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    runs = json.loads(result.stdout)
    assert [r["stream"] for r in runs] == [stream for stream in STREAMS for _ in range(2)]
    for stream in STREAMS:
        newest, older = [r for r in runs if r["stream"] == stream]
        assert newest["started_at"] > older["started_at"]
        assert newest["status"] == older["status"] == "success"
        for run in (newest, older):
            [(landed,)] = query(
                db, f"select count(*) from descope_raw.{stream} where _batch_id = ?", [f"{run['run_id']}:{stream}"]
            )
            assert run["rows"] == landed, (stream, run)
            [(cursor,)] = query(
                db,
                "select max(cursor_to) from descope_raw._sync_runs where stream = ? and run_id = ?",
                [stream, run["run_id"]],
            )
            assert run["cursor"] == (cursor.isoformat(sep=" ") if cursor else None)
            assert run["duration_seconds"] >= 0
    assert (
        sum(r["rows"] for r in runs if r["stream"] == "users")
        == query(db, "select count(*) from descope_raw.users")[0][0]
    )

    one = json.loads(run_cli(["--json", "runs", "--limit", "1", "--duckdb-path", str(db)], {}, timeout=60).stdout)
    assert [r["run_id"] for r in one] == [r["run_id"] for r in runs[::2]]

    human = run_cli(["runs", "--duckdb-path", str(db)], {}, timeout=60)
    assert human.returncode == 0 and human.stdout.splitlines()[0].split()[:3] == ["stream", "started", "(UTC)"]
    assert _digest(db) == before  # read-only


def test_runs_of_an_empty_warehouse_says_so(tmp_path):
    db = tmp_path / "w.duckdb"
    duckdb.connect(str(db)).close()
    result = run_cli(["runs", "--duckdb-path", str(db)], {}, timeout=60)
    assert result.returncode == 0 and "no runs recorded yet" in result.stdout


def test_sql_answers_from_the_marts_by_their_plain_names(simulator, tmp_path):
    sim = simulator(users=30)
    db = tmp_path / "w.duckdb"
    land(sim, db)
    result = run_cli(["sql", "--json", "select count(*) as n from users", "--duckdb-path", str(db)], {}, timeout=60)
    assert result.returncode == 0, result.stderr
    # no marts in a warehouse dbt never built: `users` is the landing table, found through the search path
    assert json.loads(result.stdout) == {"n": query(db, "select count(*) from descope_raw.users")[0][0]}

    table = run_cli(["sql", "select 42 as answer", "--duckdb-path", str(db)], {}, timeout=60)
    assert "answer" in table.stdout and "42" in table.stdout


def test_sql_cannot_change_the_warehouse(simulator, tmp_path):
    sim = simulator(users=30)
    db = tmp_path / "w.duckdb"
    land(sim, db)
    before = _digest(db)
    for statement in ("delete from descope_raw.users", "drop table descope_raw._sync_runs", "create table t (a int)"):
        result = run_cli(["sql", statement, "--duckdb-path", str(db)], {}, timeout=60)
        assert result.returncode == 1, statement
        assert "read-only" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    piped = _piped(["sql", "--duckdb-path", str(db)], "select 1 as one; delete from descope_raw.users;\n")
    assert piped.returncode == 1 and "one" in piped.stdout and "read-only" in piped.stdout
    assert _digest(db) == before


def test_sql_on_a_missing_warehouse_is_one_line_and_creates_nothing(tmp_path):
    db = tmp_path / "nothing-here.duckdb"
    result = run_cli(["sql", "select 1", "--duckdb-path", str(db)], {}, timeout=60)
    assert result.returncode == 1 and result.stderr.startswith("descope-sync: error: no warehouse at")
    assert not db.exists()
