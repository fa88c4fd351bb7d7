"""How `status` writes times, durations and rows: in its lines and in its JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from descope_sync.landing.base import SyncRun


def run_dict(run: SyncRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "run_id": run.run_id,
        "status": str(run.status),
        "mode": str(run.mode),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "cursor_from": iso(run.cursor_from),
        "cursor_to": iso(run.cursor_to),
        "rows_loaded": run.rows_loaded,
        "error": run.error,
    }


def sweep_dict(run: SyncRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    details = run.details or {}
    keys = ("reconciled", "held", "would_remove", "live_before", "unproved")
    return {
        "sweep_id": run.sweep_id,
        "status": str(run.status),
        "finished_at": iso(run.finished_at),
        **{key: details.get(key) for key in keys},
    }


def iso(value: datetime | None) -> str | None:
    return value.isoformat(sep=" ") if value is not None else None


def text(value: datetime | None) -> str:
    return value.isoformat(sep=" ", timespec="seconds") if value is not None else "?"


def rounded(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def duration(seconds: float | None) -> str:
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
