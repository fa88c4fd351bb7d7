"""Crafted landing rows in a scratch DuckDB file, `dbt build` in-process, assertions on the marts.

Rows go through the extractor's own landing writer (`DuckDBLandingWriter`), so they have exactly
the columns and types the extractor lands; dbt runs through `descope_sync.transform.run_dbt`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from descope_sync.contract import RunMode, RunStatus
from descope_sync.landing.base import SyncRun
from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.timeutil import to_ms, utcnow
from descope_sync.transform import DbtOutcome, project_dir, run_dbt, target_dir

# Recent enough that no audit-retention warning fires, whole seconds (epoch seconds round-trip).
NOW = utcnow().replace(microsecond=0)
MARTS = ("users", "users_clean", "user_logins")


class Landing:
    """Appends crafted rows to the landing tables of one DuckDB file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with DuckDBLandingWriter(path) as writer:
            writer.ensure_tables()

    def users(self, *payloads: dict[str, Any], extracted_at: datetime, batch: str = "users-batch") -> None:
        rows = [
            {
                "user_id": p["userId"],
                "modified_at": None,
                "payload": p,
                "_batch_id": batch,
                "_extracted_at": extracted_at,
            }
            for p in payloads
        ]
        with DuckDBLandingWriter(self.path) as writer:
            writer.append("users", rows)

    def events(self, *events: dict[str, Any], extracted_at: datetime, batch: str = "audit-batch") -> None:
        rows = [
            {
                "event_id": ev["ID"],
                "action": ev["action"],
                "user_id": ev.get("userId"),
                "occurred_at": datetime(1970, 1, 1) + timedelta(milliseconds=int(ev["occurred"])),
                "remote_address": ev.get("remoteAddress"),
                "payload": ev,
                "_batch_id": batch,
                "_extracted_at": extracted_at,
            }
            for ev in events
        ]
        with DuckDBLandingWriter(self.path) as writer:
            writer.append("audit_events", rows)

    def rows(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        with DuckDBLandingWriter(self.path) as writer:
            writer.append(table, rows)

    def run(self, **fields: Any) -> None:
        fields.setdefault("run_id", f"run-{fields['stream']}-{fields['started_at']:%H%M%S%f}")
        fields["status"] = RunStatus(fields["status"])
        fields["mode"] = RunMode(fields.get("mode", "incremental"))
        with DuckDBLandingWriter(self.path) as writer:
            writer.record_run(SyncRun(**fields))

    def sweep_end(
        self,
        sweep_id: str,
        started_at: datetime,
        finished_at: datetime,
        status: str,
        *,
        reconciled: bool,
        held: bool = False,
        would_remove: int = 0,
        live_before: int = 0,
        users_seen: int = 0,
        reason: str | None = None,
    ) -> None:
        """The terminal row of a users full sweep, as the contract describes it."""
        self.run(
            stream="users",
            status=status,
            mode="full",
            started_at=finished_at - timedelta(seconds=1),
            finished_at=finished_at,
            cursor_to=finished_at,
            sweep_id=sweep_id,
            sweep_started_at=started_at,
            details={
                "reconciled": reconciled,
                "held": held,
                "would_remove": would_remove,
                "live_before": live_before,
                "source_total": users_seen,
                "users_seen": users_seen,
                "reason": reason,
            },
        )

    def audit_run(self, status: str = "success", *, cursor_to: datetime = NOW, **fields: Any) -> None:
        self.run(
            stream="audit_events",
            status=status,
            started_at=fields.pop("started_at", cursor_to),
            finished_at=fields.pop("finished_at", cursor_to),
            cursor_from=fields.pop("cursor_from", cursor_to - timedelta(hours=1)),
            cursor_to=cursor_to,
            **fields,
        )


def user(user_id: str, **fields: Any) -> dict[str, Any]:
    """A Descope user object; booleans left out, as protobuf JSON leaves out false."""
    return {"userId": user_id, "status": "enabled", "createdTime": 1_700_000_000, **fields}


def event(
    event_id: str, action: str, user_id: str | None, occurred_at: datetime, remote_address: str | None = None, **fields
) -> dict[str, Any]:
    """A Descope audit event (no userId key at all when user_id is None)."""
    ev = {"ID": event_id, "action": action, "occurred": str(to_ms(occurred_at)), "method": "otp", **fields}
    if user_id is not None:
        ev["userId"] = user_id
    if remote_address is not None:
        ev["remoteAddress"] = remote_address
    return ev


def build(path: Path, dbt_vars: dict[str, Any] | None = None) -> DbtOutcome:
    extra = ["--vars", json.dumps(dbt_vars)] if dbt_vars else []
    return run_dbt("build", target="local", duckdb_path=path, extra_args=extra)


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path))  # same configuration as the dbt-duckdb connection this process may hold
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def failing_rows(path: Path, test_name: str) -> list[dict[str, Any]]:
    """The rows a singular test returned in the last build (its compiled SQL, run again)."""
    compiled = target_dir(project_dir()) / "compiled" / "descope_sync" / "tests" / "dbt" / f"{test_name}.sql"
    con = duckdb.connect(str(path))  # same configuration as the dbt-duckdb connection this process may hold
    try:
        cursor = con.execute(compiled.read_text())
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def failed_nodes(outcome: DbtOutcome) -> list[str]:
    return [line.split(":", 1)[0] for line in outcome.failures]


def assert_marts_built(outcome: DbtOutcome) -> None:
    """Every model ran and nothing was skipped (a failing test did not stop a mart)."""
    assert not [key for key in outcome.counts if key.endswith(":skipped")], outcome.counts
    n_models = len(list((project_dir() / "dbt_project").rglob("*.sql")))
    assert outcome.counts["model:success"] == n_models, outcome.counts


@pytest.fixture
def landing(tmp_path: Path) -> Iterator[Landing]:
    yield Landing(tmp_path / "warehouse.duckdb")
