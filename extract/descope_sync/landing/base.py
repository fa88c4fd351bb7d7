"""The LandingWriter interface: append-only landing tables and the run state kept beside them.

Writers append and never update or delete. Rows cross this boundary as dicts keyed by column
name: timestamps as naive UTC datetimes, `payload` as the decoded JSON value (written back out
unchanged), everything else as plain Python scalars.

What no record may do is block a stream, so the encoding here (shared by every writer) is total:
a string holding a lone UTF-16 surrogate (valid in JSON, not encodable in UTF-8) is stored with
that code unit spelled out as the six characters `\\udXXX`; a row larger than `MAX_ROW_BYTES`
goes to `_quarantine` as a truncated preview; rows are loaded in chunks of at most `CHUNK_BYTES`
so a writer's memory cap holds whatever a page brings.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from descope_sync.catalog import LANDING_TABLES, TABLES, Column
from descope_sync.contract import CURSOR_STATUSES, RunMode, RunStatus

__all__ = [
    "CHUNK_BYTES",
    "CURSOR_STATUSES",
    "LANDING_TABLES",
    "MAX_ROW_BYTES",
    "Appended",
    "Column",
    "LandingWriter",
    "SyncRun",
    "encode_row",
]

MAX_ROW_BYTES = 16 * 1024 * 1024
CHUNK_BYTES = 8 * 1024 * 1024
_PREVIEW_CHARS = 64 * 1024
_SURROGATE = re.compile("[\ud800-\udfff]")


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


@dataclass(frozen=True)
class Appended:
    """What one `append` did: rows landed in the table, rows diverted to `_quarantine`."""

    landed: int
    quarantined: int = 0


def _json_line(row: Mapping[str, Any], columns: Sequence[Column]) -> str:
    out: dict[str, Any] = {}
    for col in columns:
        value = row.get(col.name)
        if isinstance(value, datetime):
            value = value.isoformat(sep=" ")
        out[col.name] = value
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def encode_row(row: Mapping[str, Any], columns: Sequence[Column]) -> bytes:
    """One row as a UTF-8 JSON line with every column; timestamps in ISO form (UTC, no offset).

    A lone surrogate cannot be encoded in UTF-8: it is written as the text `\\udXXX` instead.
    """
    line = _json_line(row, columns)
    try:
        return line.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(lambda m: f"\\\\u{ord(m.group()):04x}", line).encode("utf-8")


def _oversize_quarantine_row(table: str, row: Mapping[str, Any], line: bytes) -> dict[str, Any]:
    key = TABLES[table].key
    return {
        "stream": table,
        "reason": (
            f"record of {len(line) / 1024 / 1024:.1f} MB is larger than the "
            f"{MAX_ROW_BYTES // 1024 // 1024} MB a landing row may hold"
        ),
        "payload": {
            "key": row.get(key) if key else None,
            "bytes": len(line),
            "preview": line[:_PREVIEW_CHARS].decode("utf-8", errors="replace"),
        },
        "_batch_id": row.get("_batch_id"),
        "_extracted_at": row.get("_extracted_at") or row.get("_looked_up_at"),
    }


def chunk_lines(lines: Iterable[bytes], limit: int = CHUNK_BYTES) -> Iterator[list[bytes]]:
    """Consecutive lines grouped so each group holds at most `limit` bytes (or one larger line)."""
    chunk: list[bytes] = []
    size = 0
    for line in lines:
        if chunk and size + len(line) > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        yield chunk


class LandingWriter(ABC):
    """Append-only access to the landing tables and the run state kept beside them."""

    # The run's Deadline (descope.Deadline), set by the pipeline: a writer that waits on a remote
    # warehouse (BigQuery's jobs) waits no longer than it. None: no budget.
    deadline: Any = None

    @abstractmethod
    def ensure_tables(self) -> None:
        """Create the landing schema and tables when missing (never alters existing rows)."""

    def append(self, table: str, rows: Sequence[Mapping[str, Any]], run: SyncRun | None = None) -> Appended:
        """Append `rows` to `table`; then, if given, append `run` to `_sync_runs`.

        `run` is written only with or after the rows (in one transaction where the warehouse
        allows it), so a cursor never covers data that is not there. Rows too large to land go
        to `_quarantine` in the same commit.
        """
        if table not in LANDING_TABLES:
            raise ValueError(f"unknown landing table {table!r}")
        columns = LANDING_TABLES[table]
        lines: list[bytes] = []
        oversize: list[bytes] = []
        for row in rows:
            line = encode_row(row, columns)
            if len(line) > MAX_ROW_BYTES:
                oversize.append(encode_row(_oversize_quarantine_row(table, row, line), LANDING_TABLES["_quarantine"]))
            else:
                lines.append(line)
        batches: dict[str, list[bytes]] = {}
        if lines:
            batches[table] = lines
        if oversize:
            batches["_quarantine"] = oversize
        if run is not None:
            batches.setdefault("_sync_runs", []).append(encode_row(run.as_row(), LANDING_TABLES["_sync_runs"]))
        if batches:
            self._commit(batches)
        return Appended(len(lines), len(oversize))

    def record_run(self, run: SyncRun) -> None:
        """Append one `_sync_runs` row on its own (failures, gaps, empty intervals)."""
        self.append("_sync_runs", [], run)

    @abstractmethod
    def _commit(self, batches: Mapping[str, list[bytes]]) -> None:
        """Load encoded JSON lines into their tables, atomically where the warehouse allows it;
        `_sync_runs` (the cursor) last, never before the data it covers."""

    @abstractmethod
    def latest_cursor(self, stream: str) -> datetime | None:
        """How far `stream` has landed: the greatest `cursor_to` of rows in CURSOR_STATUSES, or None."""

    @abstractmethod
    def runs(
        self,
        stream: str,
        *,
        statuses: Sequence[str] | None = None,
        mode: str | None = None,
        sweep_id: str | None = None,
        in_sweep: bool = False,
        limit: int | None = None,
    ) -> list[SyncRun]:
        """The `_sync_runs` rows of `stream` matching the filters (`in_sweep`: rows that belong to a
        sweep), newest first by `finished_at` (unfinished last), then `started_at`; at most `limit`."""

    def last_run(
        self,
        stream: str,
        *,
        statuses: Sequence[str] | None = None,
        mode: str | None = None,
        sweep_id: str | None = None,
        in_sweep: bool = False,
    ) -> SyncRun | None:
        """The most recent `_sync_runs` row of `stream` matching the filters, by `finished_at`."""
        found = self.runs(stream, statuses=statuses, mode=mode, sweep_id=sweep_id, in_sweep=in_sweep, limit=1)
        return found[0] if found else None

    @abstractmethod
    def live_user_count(self, extracted_since: datetime | None) -> int:
        """Distinct landed users extracted at or after `extracted_since` (every user when None), less
        those a deletion event names (landing/live_users.py; docs/design.md, "Deleted users")."""

    @abstractmethod
    def latest_audit_event(self, at_or_before: datetime, actions: Sequence[str] | None = None) -> AuditAnchor | None:
        """The newest landed audit event that occurred at or before `at_or_before` (of `actions`
        when given): an event any later answer covering its time must contain."""

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


@dataclass(frozen=True)
class AuditAnchor:
    event_id: str
    occurred_at: datetime
