"""When a users sweep is due, and the accepted sweep a run measures the warehouse against
(docs/design.md, "users", step 4)."""

from __future__ import annotations

from datetime import datetime, timedelta

from descope_sync.contract import RunMode, RunStatus
from descope_sync.landing.base import SyncRun
from descope_sync.streams.base import StreamContext
from descope_sync.streams.users.session import STREAM, Session
from descope_sync.sweeps import is_held_sweep


def _finished(row: SyncRun) -> datetime:
    return row.finished_at or row.started_at


def sweep_reason(
    ctx: StreamContext,
    session: Session,
    cursor: datetime | None,
    accepted: SyncRun | None,
    confirmed: str | None,
    collapsed: bool,
) -> str | None:
    """Why this run sweeps, or None when no sweep is due."""
    writer, settings = ctx.writer, ctx.settings
    latest = writer.last_run(STREAM, mode=RunMode.FULL, in_sweep=True)
    if latest is not None and latest.status == RunStatus.PARTIAL:
        return "continuing the open sweep"
    if settings.full_refresh:
        return "--full-refresh"
    if cursor is None or accepted is None:
        return "no reconciled sweep yet"
    if latest is not None and is_held_sweep(latest, confirmed):
        return "the last sweep was held back by the deletion safety valve"
    age = ctx.now() - _finished(accepted)
    if age > timedelta(days=settings.reconcile_days):
        return f"the last reconciled sweep is {age.days} days old"
    if collapsed:
        return "Descope's count collapsed"
    return _count_differs(ctx, session, accepted)


def _count_differs(ctx: StreamContext, session: Session, accepted: SyncRun) -> str | None:
    """Deletions nobody told us about: Descope's count against the live users the warehouse holds."""
    unlandable = int(accepted.details.get("quarantined", 0))
    # After a quiet pass (one request, nobody modified since the run began) the run's first count
    # still holds; otherwise count again, after what the pass landed.
    total = session.profile.total if session.quiet else session.count().total
    live = ctx.writer.live_user_count(accepted.sweep_started_at)
    if total != live + unlandable:
        return f"Descope counts {total} users, the warehouse holds {live} live"
    return None
