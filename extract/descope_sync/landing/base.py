"""The LandingWriter interface and the landing tables' columns (the data contract's section 2).

Writers append and never update or delete. Rows cross this boundary as dicts keyed by column
name: timestamps as naive UTC datetimes, `payload` as the decoded JSON value (written back out
unchanged), everything else as plain Python scalars.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from descope_sync.contract import CURSOR_STATUSES, LANDING_TABLES, Column, RunMode, RunStatus

__all__ = ["CURSOR_STATUSES", "LANDING_TABLES", "Column", "LandingWriter", "SyncRun", "to_ndjson_line"]


@dataclass(kw_only=True)
class SyncRun:
    """One row of `_sync_runs`: what a stream landed, written after the rows it covers."""

    run_id: str
    stream: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None = None
    cursor_from: datetime | None = None
    cursor_to: datetime | None = None
    rows_loaded: int = 0
    error: str | None = None
    mode: RunMode = RunMode.INCREMENTAL
    sweep_id: str | None = None
    sweep_started_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        row = dict(self.__dict__)
        row["status"] = str(self.status)
        row["mode"] = str(self.mode)
        row["details"] = self.details or None
        return row


def to_ndjson_line(row: Mapping[str, Any], columns: Sequence[Column]) -> str:
    """One row as a JSON line with every column, timestamps in ISO form (UTC, no offset)."""
    out: dict[str, Any] = {}
    for col in columns:
        value = row.get(col.name)
        if isinstance(value, datetime):
            value = value.isoformat(sep=" ")
        out[col.name] = value
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


class LandingWriter(ABC):
    """Append-only access to the landing tables and the run state kept beside them."""

    @abstractmethod
    def ensure_tables(self) -> None:
        """Create the landing schema and tables when missing (never alters existing rows)."""

    @abstractmethod
    def append(self, table: str, rows: Sequence[Mapping[str, Any]], run: SyncRun | None = None) -> int:
        """Append `rows` to `table`; then, if given, append `run` to `_sync_runs`.

        `run` is written only once the rows are committed (in one transaction where the
        warehouse allows it), so a cursor never covers data that is not there.
        """

    @abstractmethod
    def record_run(self, run: SyncRun) -> None:
        """Append one `_sync_runs` row on its own (failures, gaps, empty intervals)."""

    @abstractmethod
    def latest_cursor(self, stream: str) -> datetime | None:
        """How far `stream` has landed: the greatest committed `cursor_to`, or None."""

    @abstractmethod
    def ips_without_location(
        self, database_type: str, database_built_at: datetime, chunk_size: int
    ) -> Iterator[list[str]]:
        """Distinct `audit_events.remote_address` values with no `ip_locations` row for this database build."""

    @abstractmethod
    def count(self, table: str) -> int:
        """Rows in a landing table (for summaries and tests)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def __enter__(self) -> LandingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
