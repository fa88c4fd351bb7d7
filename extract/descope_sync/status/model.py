"""What `status` found: per stream, for the users sweeps, and for the whole warehouse."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from descope_sync.contract import RunStatus
from descope_sync.landing.base import SyncRun
from descope_sync.status.checks import EXIT_CODES, EXIT_HEALTHY, PRECEDENCE, Check, Problem
from descope_sync.status.formats import iso, rounded, run_dict, sweep_dict

USERS = "users"


def finished(run: SyncRun) -> datetime:
    return run.finished_at or run.started_at


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
            "last_run": run_dict(self.last_run),
            "last_run_status": str(self.last_run_status) if self.last_run_status else None,
            "last_success_at": iso(finished(self.last_success)) if self.last_success else None,
            "last_success_age_seconds": rounded(self.last_success_age_seconds),
            "cursor": iso(self.cursor),
            "lag_seconds": rounded(self.lag_seconds),
            "stale": self.stale,
            "data_loss": run_dict(self.data_loss),
            **({"sweep": self.sweep.as_dict()} if self.sweep is not None else {}),
            "clock_skew": run_dict(self.future_row),
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
            "last_finished": sweep_dict(last),
            "accepted": sweep_dict(self.accepted),
            "accepted_age_seconds": rounded(self.accepted_age_seconds),
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
            "checked_at": iso(self.checked_at),
            "exit_code": self.exit_code,
            "max_age_seconds": self.max_age_seconds,
            "acknowledged_data_loss_through": iso(self.acknowledged_through),
            "streams": [s.as_dict() for s in self.streams],
            "problems": self.problems,
        }
