"""`descope-sync status`: is every stream landing, and was anything lost? Read from the warehouse alone.

For each stream, from `_sync_runs` through the LandingWriter interface (`last_run`, `latest_cursor`):
its last run (status, when, error), its last `success` and how long ago, its cursor and the lag
behind now, and the newest `data_loss` row nobody acknowledged (acknowledged: finished at or before
DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH, the same rule as dbt's `assert_no_audit_data_loss`;
the newest row is enough, since every older one finished earlier).

Each problem is one line, of one kind (`Check`); the command exits with the code of the worst kind
found (`PRECEDENCE`, worst first):
- data_loss (4): audit events lost for good, not acknowledged.
- failed (7): the stream's last run failed (any of its rows): a problem now, not once it goes stale.
- deletions_not_applied (8), users only: the last finished sweep was held by the deletion valve
  (and not confirmed, DESCOPE_CONFIRM_DELETIONS_SWEEP_ID) or did not prove its count; or no sweep
  was accepted within reconcile_days plus the maximum age (the sweep that falls due starts at the
  next scheduled run). Until one is accepted, dbt removes nobody deleted in Descope.
- incomplete (5): the stream's last run finished without proving what it read.
- clock_skew (9): a row is stamped (`started_at`, `finished_at`, `cursor_to`) later than now plus
  CLOCK_SKEW_TOLERANCE_SECONDS: the clock that wrote it runs ahead, and no age read from it can be
  trusted (a success stamped in the future would never go stale).
- stale (6): no `success` younger than the maximum age (26 hours by default: a daily schedule plus
  two hours of slack).
It needs no Descope credentials and writes nothing (DuckDB is opened read-only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from descope_sync.contract import STREAMS, RunMode, RunStatus
from descope_sync.errors import ConfigError
from descope_sync.landing.base import LandingWriter, SyncRun
from descope_sync.sweeps import last_accepted_sweep
from descope_sync.timeutil import utcnow

DEFAULT_MAX_AGE_SECONDS = 26 * 3600
DEFAULT_RECONCILE_DAYS = 7.0
ACKNOWLEDGE_ENV = "DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH"
# A row stamped up to this far ahead of the clock reading it is ordinary drift between two machines.
CLOCK_SKEW_TOLERANCE_SECONDS = 300
USERS = "users"


class Check(StrEnum):
    """The kinds of problem `status` reports; see the module docstring."""

    DATA_LOSS = "data_loss"
    FAILED = "failed"
    DELETIONS_NOT_APPLIED = "deletions_not_applied"
    INCOMPLETE = "incomplete"
    CLOCK_SKEW = "clock_skew"
    STALE = "stale"


# Worst first: the command exits with the code of the first kind found.
PRECEDENCE: tuple[Check, ...] = (
    Check.DATA_LOSS,
    Check.FAILED,
    Check.DELETIONS_NOT_APPLIED,
    Check.INCOMPLETE,
    Check.CLOCK_SKEW,
    Check.STALE,
)
EXIT_HEALTHY = 0
EXIT_CODES: dict[Check, int] = {
    Check.DATA_LOSS: 4,
    Check.INCOMPLETE: 5,
    Check.STALE: 6,
    Check.FAILED: 7,
    Check.DELETIONS_NOT_APPLIED: 8,
    Check.CLOCK_SKEW: 9,
}


@dataclass(frozen=True)
class Problem:
    check: Check
    text: str  # one line, starting with the stream's name


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
    last_run_status: RunStatus | None = None  # the newest row's (an unknown status counts as failed)
    sweep: SweepStatus | None = None  # users only
    future_row: SyncRun | None = None  # a row stamped later than now allows
    findings: list[Problem] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [p.text for p in self.findings]

    @property
    def checks(self) -> list[Check]:
        return [p.check for p in self.findings]

    def as_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "last_run": _run_dict(self.last_run),
            "last_run_status": str(self.last_run_status) if self.last_run_status else None,
            "last_success_at": _iso(_finished(self.last_success)) if self.last_success else None,
            "last_success_age_seconds": _round(self.last_success_age_seconds),
            "cursor": _iso(self.cursor),
            "lag_seconds": _round(self.lag_seconds),
            "stale": self.stale,
            "data_loss": _run_dict(self.data_loss),
            **({"sweep": self.sweep.as_dict()} if self.sweep is not None else {}),
            "clock_skew": _run_dict(self.future_row),
            "checks": [str(c) for c in self.checks],
            "problems": self.problems,
        }


@dataclass
class SweepStatus:
    """The users stream's deletion sweeps: the last that finished, and the last accepted."""

    last_finished: SyncRun | None
    accepted: SyncRun | None
    open: bool  # a sweep is under way (its newest row is a checkpoint)
    accepted_age_seconds: float | None
    max_age_seconds: float  # reconcile_days plus the schedule's slack

    def as_dict(self) -> dict[str, Any]:
        last = self.last_finished
        return {
            "last_finished": _sweep_dict(last),
            "accepted": _sweep_dict(self.accepted),
            "accepted_age_seconds": _round(self.accepted_age_seconds),
            "max_age_seconds": self.max_age_seconds,
            "open": self.open,
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
    def checks(self) -> set[Check]:
        return {check for s in self.streams for check in s.checks}

    @property
    def worst(self) -> Check | None:
        found = self.checks
        return next((check for check in PRECEDENCE if check in found), None)

    @property
    def exit_code(self) -> int:
        worst = self.worst
        return EXIT_HEALTHY if worst is None else EXIT_CODES[worst]

    @property
    def healthy(self) -> bool:
        return self.worst is None

    @property
    def problems(self) -> list[str]:
        return [problem for s in self.streams for problem in s.problems]

    def as_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "checked_at": _iso(self.checked_at),
            "exit_code": self.exit_code,
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
    success_at = _finished(success) if success is not None else None
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
    status.findings = _findings(status, now)
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
    finished = _naive(
        writer.last_run(USERS, statuses=[RunStatus.SUCCESS, RunStatus.INCOMPLETE], mode=RunMode.FULL, in_sweep=True)
    )
    accepted = _naive(last_accepted_sweep(writer, confirmed))
    accepted_age = (now - _finished(accepted)).total_seconds() if accepted is not None else None
    return SweepStatus(
        last_finished=finished,
        accepted=accepted,
        open=newest is not None and newest.status == RunStatus.PARTIAL,
        accepted_age_seconds=accepted_age,
        max_age_seconds=reconcile_days * 86_400 + max_age_seconds,
    )


def _findings(s: StreamStatus, now: datetime) -> list[Problem]:
    found: list[Problem] = []
    name = s.stream
    if s.data_loss is not None:
        loss = s.data_loss
        found.append(
            Problem(
                Check.DATA_LOSS,
                f"{name}: DATA LOSS not acknowledged: events between {_text(loss.cursor_from)} and "
                f"{_text(loss.cursor_to)} were never read (recorded at {_text(loss.finished_at)}); once known, "
                f"acknowledge with {ACKNOWLEDGE_ENV}='{_text(loss.finished_at)}'",
            )
        )
    last = s.last_run
    if last is not None and s.last_run_status in (RunStatus.FAILED, RunStatus.INCOMPLETE):
        check = Check.FAILED if s.last_run_status == RunStatus.FAILED else Check.INCOMPLETE
        error = _last_error(s)
        found.append(
            Problem(
                check,
                f"{name}: the last run ({last.run_id}, {_text(_finished(last))}) ended {s.last_run_status}"
                + (f": {error}" if error else ""),
            )
        )
    if s.sweep is not None:
        found += _sweep_findings(s.sweep)
    if s.future_row is not None:
        row = s.future_row
        ahead = (max(t for t in (row.started_at, row.finished_at) if t is not None) - now).total_seconds()
        found.append(
            Problem(
                Check.CLOCK_SKEW,
                f"{name}: a {row.status} row (run {row.run_id}) is stamped {_duration(ahead)} in the future "
                f"(finished_at {_text(row.finished_at)}): the clock that wrote it runs ahead, so no age read "
                "from it can be trusted",
            )
        )
    if s.stale:
        if s.last_success is None:
            found.append(Problem(Check.STALE, f"{name}: no successful run recorded"))
        else:
            found.append(
                Problem(
                    Check.STALE,
                    f"{name}: last success {_text(_finished(s.last_success))}, "
                    f"{_duration(s.last_success_age_seconds)} ago",
                )
            )
    return found


def _sweep_findings(sweep: SweepStatus) -> list[Problem]:
    """Why users deleted in Descope may still be in the marts."""
    last = sweep.last_finished
    accepted = sweep.accepted
    newer = last is not None and (accepted is None or _finished(last) > _finished(accepted))
    if last is not None and newer and last.status != RunStatus.SUCCESS:
        details = last.details or {}
        if details.get("held"):
            why = (
                f"it would remove {details.get('would_remove')} of {details.get('live_before')} live users; "
                f"if that is right, confirm it with DESCOPE_CONFIRM_DELETIONS_SWEEP_ID={last.sweep_id}"
            )
            verb = "was held back by the deletion valve"
        else:
            why = " ".join((last.error or details.get("reason") or "it proved no deletion").split())[:300]
            verb = "was not accepted"
        return [
            Problem(
                Check.DELETIONS_NOT_APPLIED,
                f"{USERS}: sweep {last.sweep_id} ({_text(_finished(last))}) {verb}: {why}; "
                "until a sweep is accepted, users deleted in Descope stay in the marts",
            )
        ]
    if sweep.accepted is None:
        if sweep.open:
            return []  # the first sweep is under way; staleness says if it never ends
        return [
            Problem(
                Check.DELETIONS_NOT_APPLIED,
                f"{USERS}: no users sweep was ever accepted: users deleted in Descope stay in the marts",
            )
        ]
    if sweep.accepted_age_seconds is not None and sweep.accepted_age_seconds > sweep.max_age_seconds:
        return [
            Problem(
                Check.DELETIONS_NOT_APPLIED,
                f"{USERS}: the last accepted sweep ({sweep.accepted.sweep_id}) finished "
                f"{_duration(sweep.accepted_age_seconds)} ago, more than the reconcile window plus the maximum "
                f"age ({_duration(sweep.max_age_seconds)}): users deleted in Descope since may still be in the marts",
            )
        ]
    return []


def _last_error(s: StreamStatus) -> str:
    last = s.last_run
    text = last.error if last is not None and last.status == s.last_run_status else None
    return " ".join((text or "").split())[:300]


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


def render(status: WarehouseStatus) -> str:
    """The human form: one line per stream, then each problem."""
    lines = [
        f"status: {'healthy' if status.healthy else 'UNHEALTHY'} "
        f"(checked {_text(status.checked_at)} UTC, max age {_duration(status.max_age_seconds)})"
    ]
    for s in status.streams:
        last = s.last_run
        last_text = f"{s.last_run_status} at {_text(_finished(last))}" if last else "never ran"
        success = f"{_duration(s.last_success_age_seconds)} ago" if s.last_success else "never"
        cursor = f"{_text(s.cursor)} (lag {_duration(s.lag_seconds)})" if s.cursor else "none"
        lines.append(f"  {s.stream:<13} last run {last_text}; last success {success}; cursor {cursor}")
        if last is not None and last.status in (RunStatus.FAILED, RunStatus.INCOMPLETE) and last.error:
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


def _sweep_dict(run: SyncRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    details = run.details or {}
    keys = ("reconciled", "held", "would_remove", "live_before", "unproved")
    return {
        "sweep_id": run.sweep_id,
        "status": str(run.status),
        "finished_at": _iso(run.finished_at),
        **{key: details.get(key) for key in keys},
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
