"""`descope-sync status`: is every stream landing, and was anything lost? Read from the warehouse alone.

For each stream, from `_sync_runs` through the LandingWriter interface (`last_run`, `latest_cursor`):
its last run (status, when, error), its last `success` and how long ago, its cursor and the lag
behind now, and the newest `data_loss` row nobody acknowledged (acknowledged: finished at or before
DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH, the same rule as dbt's `assert_no_audit_data_loss`;
the newest row is enough, since every older one finished earlier).

Unhealthy, and the command exits non-zero, when a stream has no `success` younger than the maximum
age (26 hours by default: a daily schedule plus two hours of slack) or lost data. It needs no Descope
credentials and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from descope_sync.contract import STREAMS, RunStatus
from descope_sync.errors import ConfigError
from descope_sync.landing.base import LandingWriter, SyncRun
from descope_sync.timeutil import utcnow

DEFAULT_MAX_AGE_SECONDS = 26 * 3600
ACKNOWLEDGE_ENV = "DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH"


@dataclass
class StreamStatus:
    stream: str
    last_run: SyncRun | None
    last_success: SyncRun | None
    cursor: datetime | None
    lag_seconds: float | None
    last_success_age_seconds: float | None
    stale: bool
    data_loss: SyncRun | None  # the newest data_loss row not acknowledged

    @property
    def problems(self) -> list[str]:
        found: list[str] = []
        if self.data_loss is not None:
            loss = self.data_loss
            found.append(
                f"{self.stream}: DATA LOSS not acknowledged: events between {_text(loss.cursor_from)} and "
                f"{_text(loss.cursor_to)} were never read (recorded at {_text(loss.finished_at)}); once known, "
                f"acknowledge with {ACKNOWLEDGE_ENV}='{_text(loss.finished_at)}'"
            )
        if self.stale:
            if self.last_success is None:
                found.append(f"{self.stream}: no successful run recorded")
            else:
                found.append(
                    f"{self.stream}: last success {_text(_finished(self.last_success))}, "
                    f"{_duration(self.last_success_age_seconds)} ago"
                )
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "last_run": _run_dict(self.last_run),
            "last_success_at": _iso(_finished(self.last_success)) if self.last_success else None,
            "last_success_age_seconds": _round(self.last_success_age_seconds),
            "cursor": _iso(self.cursor),
            "lag_seconds": _round(self.lag_seconds),
            "stale": self.stale,
            "data_loss": _run_dict(self.data_loss),
            "problems": self.problems,
        }


@dataclass
class WarehouseStatus:
    checked_at: datetime
    max_age_seconds: float
    acknowledged_through: datetime | None
    streams: list[StreamStatus] = field(default_factory=list)

    @property
    def data_lost(self) -> bool:
        return any(s.data_loss is not None for s in self.streams)

    @property
    def stale(self) -> bool:
        return any(s.stale for s in self.streams)

    @property
    def healthy(self) -> bool:
        return not (self.data_lost or self.stale)

    @property
    def problems(self) -> list[str]:
        return [problem for s in self.streams for problem in s.problems]

    def as_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "checked_at": _iso(self.checked_at),
            "max_age_seconds": self.max_age_seconds,
            "acknowledged_data_loss_through": _iso(self.acknowledged_through),
            "streams": [s.as_dict() for s in self.streams],
            "problems": self.problems,
        }


def stream_status(
    writer: LandingWriter,
    stream: str,
    *,
    now: datetime,
    max_age_seconds: float,
    acknowledged_through: datetime | None = None,
) -> StreamStatus:
    """One stream's state, from the writer's interface methods only."""
    last = _naive(writer.last_run(stream))
    success = _naive(writer.last_run(stream, statuses=[RunStatus.SUCCESS]))
    cursor = _utc(writer.latest_cursor(stream))
    loss = _naive(writer.last_run(stream, statuses=[RunStatus.DATA_LOSS]))
    acknowledged = (
        loss is not None
        and acknowledged_through is not None
        and loss.finished_at is not None
        and loss.finished_at <= acknowledged_through
    )
    if acknowledged:
        loss = None
    success_at = _finished(success) if success is not None else None
    age = (now - success_at).total_seconds() if success_at is not None else None
    return StreamStatus(
        stream=stream,
        last_run=last,
        last_success=success,
        cursor=cursor,
        lag_seconds=(now - cursor).total_seconds() if cursor is not None else None,
        last_success_age_seconds=age,
        stale=age is None or age > max_age_seconds,
        data_loss=loss,
    )


def read_status(
    writer: LandingWriter,
    *,
    max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
    acknowledged_through: datetime | None = None,
    streams: Sequence[str] = STREAMS,
    now: Callable[[], datetime] = utcnow,
) -> WarehouseStatus:
    checked_at = now()
    status = WarehouseStatus(checked_at, max_age_seconds, acknowledged_through)
    for stream in streams:
        status.streams.append(
            stream_status(
                writer,
                stream,
                now=checked_at,
                max_age_seconds=max_age_seconds,
                acknowledged_through=acknowledged_through,
            )
        )
    return status


def acknowledged_through(value: str | None, label: str = ACKNOWLEDGE_ENV) -> datetime | None:
    """A UTC timestamp ('2024-05-01 12:00:00', ISO 8601; an offset is converted to UTC); None when empty."""
    if value is None or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"{label} must be a UTC timestamp such as '2024-05-01 12:00:00'") from None
    return _utc(parsed)


def render(status: WarehouseStatus) -> str:
    """The human form: one line per stream, then each problem."""
    lines = [
        f"status: {'healthy' if status.healthy else 'UNHEALTHY'} "
        f"(checked {_text(status.checked_at)} UTC, max age {_duration(status.max_age_seconds)})"
    ]
    for s in status.streams:
        last = s.last_run
        last_text = f"{last.status} at {_text(_finished(last))}" if last else "never ran"
        success = f"{_duration(s.last_success_age_seconds)} ago" if s.last_success else "never"
        cursor = f"{_text(s.cursor)} (lag {_duration(s.lag_seconds)})" if s.cursor else "none"
        lines.append(f"  {s.stream:<13} last run {last_text}; last success {success}; cursor {cursor}")
        if last is not None and last.status == RunStatus.FAILED and last.error:
            lines.append(f"    last error: {' '.join(last.error.split())[:300]}")
    lines += [f"  problem: {problem}" for problem in status.problems]
    return "\n".join(lines)


def _utc(value: datetime | None) -> datetime | None:
    """Naive UTC, as the warehouse contract says (a writer may hand back an aware UTC time)."""
    if value is not None and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _naive(run: SyncRun | None) -> SyncRun | None:
    if run is not None:
        for name in ("started_at", "finished_at", "cursor_from", "cursor_to", "sweep_started_at"):
            setattr(run, name, _utc(getattr(run, name)))
    return run


def _finished(run: SyncRun) -> datetime:
    return run.finished_at or run.started_at


def _run_dict(run: SyncRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "run_id": run.run_id,
        "status": str(run.status),
        "mode": str(run.mode),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "cursor_from": _iso(run.cursor_from),
        "cursor_to": _iso(run.cursor_to),
        "rows_loaded": run.rows_loaded,
        "error": run.error,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(sep=" ") if value is not None else None


def _text(value: datetime | None) -> str:
    return value.isoformat(sep=" ", timespec="seconds") if value is not None else "?"


def _round(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if seconds < 120:
        return f"{sign}{seconds:.0f}s"
    if seconds < 7200:
        return f"{sign}{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{sign}{seconds / 3600:.1f}h"
    return f"{sign}{seconds / 86400:.1f}d"
