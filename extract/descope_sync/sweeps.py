"""Users full sweeps in `_sync_runs`: which row ends a sweep, and which sweep is accepted or held.

The extractor's reading of the rules dbt writes as `stg_descope__sync_runs.is_sweep_end`,
`is_accepted_sweep` and `is_held_sweep` (tests/transform/test_sweep_rules.py holds the two equal
over the same rows). docs/design.md, "Deleted users", says why.
"""

from __future__ import annotations

from typing import Any

from descope_sync.contract import RunMode, RunStatus
from descope_sync.landing.base import LandingWriter, SyncRun

USERS = "users"
# The statuses of the one row that ends a sweep (its checkpoints are `partial`).
SWEEP_END_STATUSES: tuple[RunStatus, ...] = (RunStatus.SUCCESS, RunStatus.INCOMPLETE)


def _json_bool(value: Any) -> bool | None:
    """A `details` flag as dbt's json_bool reads it: JSON true/false or 'true'/'false' in any case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _flag(run: SyncRun, name: str) -> bool | None:
    return _json_bool(run.details.get(name)) if isinstance(run.details, dict) else None


def _confirms(run: SyncRun, confirmed_sweep_id: str | None) -> bool:
    confirmed = (confirmed_sweep_id or "").strip()
    return bool(confirmed) and run.sweep_id == confirmed


def is_sweep_end(run: SyncRun) -> bool:
    """The one row that ends a users full sweep. Full runs written before sweeps had ids say nothing
    about which users were live when."""
    return (
        run.stream == USERS
        and run.mode == RunMode.FULL
        and run.status in SWEEP_END_STATUSES
        and run.sweep_id is not None
    )


def is_accepted_sweep(run: SyncRun, confirmed_sweep_id: str | None) -> bool:
    """The sweep may delete the users it did not read: its end is `success` (reconciled and not held;
    details that say otherwise are not trusted, a row without details keeps its meaning), or it
    reconciled and `confirmed_sweep_id` names it."""
    if not is_sweep_end(run) or run.sweep_started_at is None:
        return False
    reconciled = _flag(run, "reconciled")
    if run.status == RunStatus.SUCCESS and reconciled is not False and _flag(run, "held") is not True:
        return True
    return _confirms(run, confirmed_sweep_id) and reconciled is True


def is_held_sweep(run: SyncRun, confirmed_sweep_id: str | None) -> bool:
    """The sweep's end was held by the deletion safety valve, and nobody confirmed it."""
    return is_sweep_end(run) and _flag(run, "held") is True and not _confirms(run, confirmed_sweep_id)


def last_accepted_sweep(writer: LandingWriter, confirmed_sweep_id: str | None) -> SyncRun | None:
    """The end of the accepted sweep that started last (the one whose start dbt deletes by)."""
    ends = writer.runs(USERS, statuses=list(SWEEP_END_STATUSES), mode=RunMode.FULL, in_sweep=True)
    accepted = [run for run in ends if is_accepted_sweep(run, confirmed_sweep_id)]
    return max(accepted, key=lambda run: (run.sweep_started_at, run.finished_at or run.started_at), default=None)
