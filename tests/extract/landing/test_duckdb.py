"""The DuckDB writer (`landing/duckdb.py`): rows and their checkpoint commit together, and a second process on the
file gets one clear error."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from descope_sync.contract import RunStatus
from descope_sync.errors import WarehouseLocked
from descope_sync.landing.base import SyncRun
from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.timeutil import utcnow
from tests.conftest import query
from tests.extract.landing.conftest import NOW, user_row


def test_rows_and_their_checkpoint_commit_together_or_not_at_all(writer, monkeypatch):
    run = SyncRun(run_id="r", stream="users", status=RunStatus.PARTIAL, started_at=NOW, finished_at=NOW, cursor_to=NOW)

    def killed(table, *_args):
        raise RuntimeError(f"killed while writing {table}, after the rows and before the cursor")

    original_load, original_insert = writer._load, writer._insert_line
    monkeypatch.setattr(writer, "_load", lambda t, lines: killed(t) if t == "_sync_runs" else original_load(t, lines))
    monkeypatch.setattr(
        writer, "_insert_line", lambda t, line: killed(t) if t == "_sync_runs" else original_insert(t, line)
    )
    with pytest.raises(RuntimeError):
        writer.append("users", [user_row("U1")], run=run)
    assert writer.count("users") == 0 and writer.count("_sync_runs") == 0


def test_a_second_process_on_the_same_file_gets_one_clear_error_and_nothing_is_written(tmp_path):
    path = tmp_path / "w.duckdb"
    with DuckDBLandingWriter(path) as w:
        w.ensure_tables()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys, time
                con = duckdb.connect({str(path)!r})
                print("holding", flush=True)
                sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(WarehouseLocked) as caught:
            DuckDBLandingWriter(path)
        assert str(caught.value) == (
            f"another process (PID {holder.pid}) is using {path}: a concurrent descope-sync run or a DuckDB "
            "client; nothing was read or recorded, run again once it has finished"
        )
    finally:
        holder.communicate("")
    assert query(path, "select count(*) from descope_raw._sync_runs")[0][0] == 0


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
