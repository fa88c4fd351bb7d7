"""The LandingWriter interface and the landing tables' columns (the data contract's section 2).

Writers append and never update or delete. Rows cross this boundary as dicts keyed by column
name: timestamps as naive UTC datetimes, `payload` as the decoded JSON value (written back out
unchanged), everything else as plain Python scalars.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # logical type: string, timestamp, json, double, integer, boolean


def _columns(spec: str) -> tuple[Column, ...]:
    return tuple(Column(*item.split(":")) for item in spec.split())


LANDING_TABLES: dict[str, tuple[Column, ...]] = {
    "users": _columns("user_id:string modified_at:timestamp payload:json _batch_id:string _extracted_at:timestamp"),
    "audit_events": _columns(
        "event_id:string action:string user_id:string occurred_at:timestamp remote_address:string "
        "payload:json _batch_id:string _extracted_at:timestamp"
    ),
    "ip_locations": _columns(
        "ip:string city:string region:string region_code:string country_code:string "
        "country_name:string continent_code:string latitude:double longitude:double "
        "accuracy_radius_km:integer time_zone:string is_found:boolean not_found_reason:string "
        "database_type:string database_built_at:timestamp _looked_up_at:timestamp _batch_id:string"
    ),
    "_sync_runs": _columns(
        "run_id:string stream:string status:string started_at:timestamp finished_at:timestamp "
        "cursor_from:timestamp cursor_to:timestamp rows_loaded:integer error:string mode:string"
    ),
    "_quarantine": _columns("stream:string reason:string payload:json _batch_id:string _extracted_at:timestamp"),
}

# Statuses whose cursor_to counts as landed (see docs/design.md).
CURSOR_STATUSES = ("success", "partial")


@dataclass
class SyncRun:
    """One row of `_sync_runs`: what a stream landed, written after the rows it covers."""

    run_id: str
    stream: str
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    cursor_from: datetime | None = None
    cursor_to: datetime | None = None
    rows_loaded: int = 0
    error: str | None = None
    mode: str = "incremental"

    def as_row(self) -> dict[str, Any]:
        return dict(self.__dict__)


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
