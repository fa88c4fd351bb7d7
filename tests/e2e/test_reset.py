"""`descope-sync reset --stream S`: asks first, then the stream's cursor starts over and the next run
re-reads it; landing keeps every row and the marts hold each user and login once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cursor, query
from tests.e2e.test_end_to_end import descope_sync

CONFIRM = "descope-sync: error: this changes the warehouse and needs confirmation: run it in a terminal or add --yes"


def resets(db: Path) -> int:
    return query(db, "select count(*) from descope_raw._sync_runs where status = 'reset'")[0][0]


def reset_at_a_terminal(db: Path, stream: str, answer: str) -> tuple[int, str]:
    """`descope-sync reset` with a terminal on stdin, answering `answer` to its question."""
    import pty

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "descope_sync.cli", "reset", "--stream", stream, "--duckdb-path", str(db)],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    os.close(follower)
    os.write(leader, (answer + "\n").encode())
    out, _ = proc.communicate(timeout=60)
    os.close(leader)
    return proc.returncode, out


@pytest.fixture
def landed(simulator, tmp_path):
    sim = simulator(users=50)
    db = tmp_path / "warehouse.duckdb"
    first = descope_sync(["run"], sim, db)
    assert first.returncode == 0, first.stdout + first.stderr
    return sim, db


def test_reset_asks_first_and_changes_nothing_unless_told_yes(landed):
    sim, db = landed
    before = cursor(db, "audit_events")
    assert before is not None
    refused = descope_sync(["reset", "--stream", "audit_events"], sim, db, timeout=60)
    assert refused.returncode == 1
    assert refused.stderr.strip() == CONFIRM
    assert resets(db) == 0

    code, out = reset_at_a_terminal(db, "audit_events", "no")
    assert code == 1
    assert f"reset audit_events: its cursor ({before.isoformat(sep=' ')} UTC) starts over" in out
    assert out.rstrip().endswith("Nothing changed.")
    assert (resets(db), cursor(db, "audit_events")) == (0, before)

    code, out = reset_at_a_terminal(db, "audit_events", "yes")
    assert code == 0, out
    assert out.rstrip().endswith("audit_events reset: the next run re-reads it from the start")
    assert (resets(db), cursor(db, "audit_events")) == (1, None)
    assert cursor(db, "users") is not None  # only the stream named


def test_after_a_reset_the_next_run_rereads_from_the_start_and_no_mart_row_doubles(landed):
    sim, db = landed
    marts = {
        table: query(db, f"select count(*), count(distinct {key}) from descope_data_v2.{table}")[0]
        for table, key in (("users", "user_id"), ("user_logins", "event_id"))
    }
    assert all(total == distinct > 0 for total, distinct in marts.values())
    landed_before = {t: query(db, f"select count(*) from descope_raw.{t}")[0][0] for t in ("users", "audit_events")}

    for stream in ("audit_events", "users"):
        done = descope_sync(["reset", "--stream", stream, "--yes"], sim, db, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert cursor(db, stream) is None
    again = descope_sync(["run"], sim, db)
    assert again.returncode == 0, again.stdout + again.stderr

    landed_after = {t: query(db, f"select count(*) from descope_raw.{t}")[0][0] for t in ("users", "audit_events")}
    # Every user and every audit event was read again (append-only: the old rows stay).
    assert landed_after["users"] >= 2 * landed_before["users"]
    assert landed_after["audit_events"] >= 2 * landed_before["audit_events"]
    assert cursor(db, "audit_events") is not None and cursor(db, "users") is not None
    for table, (total, _distinct) in marts.items():
        key = "user_id" if table == "users" else "event_id"
        assert query(db, f"select count(*), count(distinct {key}) from descope_data_v2.{table}")[0] == (total, total)
