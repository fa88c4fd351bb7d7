"""`descope-sync runs`: the recent runs of each stream, from `_sync_runs` (read-only).

A stream's run is every `_sync_runs` row with its `run_id`: checkpoints (`partial`) while it works,
then the row it ended with. Its status is its last row's; its rows are the landing rows stamped
with its batch (`<run_id>:<stream>`), which counts a users sweep too (its checkpoints record none);
its cursor is the furthest `cursor_to` it committed. Requests are not recorded per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from descope_sync.catalog import STREAM_SPECS
from descope_sync.contract import STREAMS

LANDED_IN = {spec.name: spec.table.name for spec in STREAM_SPECS}  # stream -> its landing table


@dataclass(frozen=True)
class StreamRun:
    stream: str
    run_id: str
    status: str
    mode: str
    started_at: datetime
    finished_at: datetime | None
    rows: int
    cursor: datetime | None
    error: str | None

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return max(0.0, (self.finished_at - self.started_at).total_seconds())

    def as_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "run_id": self.run_id,
            "status": self.status,
            "mode": self.mode,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "duration_seconds": None if self.seconds is None else round(self.seconds, 3),
            "rows": self.rows,
            "cursor": _iso(self.cursor),
            "error": self.error,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(sep=" ") if value is not None else None


def recent_runs(
    con: duckdb.DuckDBPyConnection, per_stream: int = 5, streams: Sequence[str] = STREAMS, schema: str = "descope_raw"
) -> list[StreamRun]:
    """The newest `per_stream` runs of each of `streams`, newest first, in the order of `streams`."""
    tables = {
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [schema]
        ).fetchall()
    }
    if "_sync_runs" not in tables:
        return []
    landed = " union all ".join(
        f'select _batch_id, count(*) as n from "{schema}"."{table}" group by _batch_id'
        for table in LANDED_IN.values()
        if table in tables
    )
    rows = con.execute(
        f"""
        with runs as (
            select
                stream,
                run_id,
                arg_max(status, coalesce(finished_at, started_at)) as status,
                arg_max(mode, coalesce(finished_at, started_at)) as mode,
                min(started_at) as started_at,
                max(finished_at) as finished_at,
                sum(rows_loaded) as recorded,
                max(cursor_to) filter (where status <> 'failed') as cursor,
                arg_max(error, coalesce(finished_at, started_at)) filter (where error is not null) as error
            from "{schema}"._sync_runs
            where stream in (select unnest(?::varchar[]))
            group by stream, run_id
            qualify row_number() over (partition by stream order by min(started_at) desc) <= ?
        ),
        landed as ({landed or "select null::varchar as _batch_id, 0 as n"})
        select
            runs.stream, run_id, status, mode, started_at, finished_at,
            greatest(coalesce(recorded, 0), coalesce(landed.n, 0)) as rows, cursor, error
        from runs
        left join landed on landed._batch_id = runs.run_id || ':' || runs.stream
        """,
        [list(streams), per_stream],
    ).fetchall()
    order = {name: i for i, name in enumerate(streams)}
    found = [StreamRun(*row) for row in rows]
    return sorted(found, key=lambda r: (order[r.stream], -r.started_at.timestamp()))


def render(runs: Sequence[StreamRun]) -> str:
    if not runs:
        return "no runs recorded yet: descope-sync run (or extract) records one per stream"
    header = ("stream", "started (UTC)", "status", "mode", "rows", "duration", "cursor (UTC)", "run")
    table = [header] + [
        (
            r.stream,
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.status,
            r.mode,
            f"{r.rows:,}",
            "running?" if r.seconds is None else _duration(r.seconds),
            r.cursor.strftime("%Y-%m-%d %H:%M:%S") if r.cursor else "-",
            r.run_id[:8],
        )
        for r in runs
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    right = {4, 5}
    lines = [
        "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    ]
    lines += [f"  {r.stream} {r.run_id[:8]}: {' '.join(r.error.split())[:300]}" for r in runs if r.error]
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
