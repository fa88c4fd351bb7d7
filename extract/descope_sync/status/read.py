"""Each stream's state, read from `_sync_runs` through the LandingWriter interface only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from descope_sync.contract import STREAMS, RunMode, RunStatus
from descope_sync.errors import ConfigError
from descope_sync.landing.base import LandingWriter, SyncRun
from descope_sync.status.checks import (
    ACKNOWLEDGE_ENV,
    CLOCK_SKEW_TOLERANCE_SECONDS,
    DEFAULT_MAX_AGE_SECONDS,
    DEFAULT_RECONCILE_DAYS,
)
from descope_sync.status.findings import findings
from descope_sync.status.model import USERS, StreamStatus, SweepStatus, WarehouseStatus, finished
from descope_sync.sweeps import last_accepted_sweep
from descope_sync.timeutil import utcnow


def stream_status(
    writer: LandingWriter,
    stream: str,
    *,
    now: datetime,
    max_age_seconds: float,
    acknowledged_through: datetime | None = None,
    reconcile_days: float = DEFAULT_RECONCILE_DAYS,
    confirmed_sweep_id: str | None = None,
) -> StreamStatus:
    """One stream's state and its problems, from the writer's interface methods only."""
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
    success_at = finished(success) if success is not None else None
    age = (now - success_at).total_seconds() if success_at is not None else None
    status = StreamStatus(
        stream=stream,
        last_run=last,
        last_success=success,
        cursor=cursor,
        lag_seconds=(now - cursor).total_seconds() if cursor is not None else None,
        last_success_age_seconds=age,
        stale=age is None or age > max_age_seconds,
        data_loss=loss,
        last_run_status=_last_run_status(last),
    )
    if stream == USERS and last is not None:
        status.sweep = _sweep_status(writer, now, max_age_seconds, reconcile_days, confirmed_sweep_id)
    limit = now + timedelta(seconds=CLOCK_SKEW_TOLERANCE_SECONDS)
    status.future_row = next((run for run in (last, success) if run is not None and _stamped_after(run, limit)), None)
    status.findings = findings(status, now)
    return status


def _last_run_status(last: SyncRun | None) -> RunStatus | None:
    """The status of the stream's newest row: a run ends with its worst (a failure row, a sweep's
    end, an unproved pass), or with the checkpoint it reached."""
    if last is None:
        return None
    return RunStatus(last.status) if last.status in set(RunStatus) else RunStatus.FAILED


def _sweep_status(
    writer: LandingWriter, now: datetime, max_age_seconds: float, reconcile_days: float, confirmed: str | None
) -> SweepStatus:
    """The same rules the users stream keeps (descope_sync/sweeps.py)."""
    newest = _naive(writer.last_run(USERS, mode=RunMode.FULL, in_sweep=True))
    last_finished = _naive(
        writer.last_run(USERS, statuses=[RunStatus.SUCCESS, RunStatus.INCOMPLETE], mode=RunMode.FULL, in_sweep=True)
    )
    accepted = _naive(last_accepted_sweep(writer, confirmed))
    accepted_age = (now - finished(accepted)).total_seconds() if accepted is not None else None
    return SweepStatus(
        last_finished=last_finished,
        accepted=accepted,
        open=newest is not None and newest.status == RunStatus.PARTIAL,
        accepted_age_seconds=accepted_age,
        max_age_seconds=reconcile_days * 86_400 + max_age_seconds,
    )


def _stamped_after(run: SyncRun, limit: datetime) -> bool:
    return any(t is not None and t > limit for t in (run.started_at, run.finished_at, run.cursor_to))


def read_status(
    writer: LandingWriter,
    *,
    max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
    acknowledged_through: datetime | None = None,
    streams: Sequence[str] = STREAMS,
    now: Callable[[], datetime] = utcnow,
    reconcile_days: float = DEFAULT_RECONCILE_DAYS,
    confirmed_sweep_id: str | None = None,
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
                reconcile_days=reconcile_days,
                confirmed_sweep_id=confirmed_sweep_id,
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
