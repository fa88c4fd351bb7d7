"""The users stream: `POST /v2/mgmt/user/search` into `descope_raw.users` (docs/design.md, "users").

`run` is what the registry calls; the modules beside it each own one part: `profile` (the server's
profile), `session` (requests and landing), `reader` (windows and keyset), `dense_seconds`,
`incremental` (the modified pass), `due` (when a sweep is due) and `sweep` (sweep and acceptance).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from descope_sync.contract import RunStatus
from descope_sync.errors import BudgetExhausted, UnprovedRead
from descope_sync.streams.base import StreamContext
from descope_sync.streams.result import StreamResult
from descope_sync.streams.users import profile as server_profile
from descope_sync.streams.users.due import sweep_reason
from descope_sync.streams.users.incremental import incremental_run
from descope_sync.streams.users.profile import ProfileContradicted, recall
from descope_sync.streams.users.session import STREAM, Session
from descope_sync.streams.users.sweep import sweep
from descope_sync.sweeps import last_accepted_sweep

log = logging.getLogger(__name__)

__all__ = ["STREAM", "run"]


def run(ctx: StreamContext) -> StreamResult:
    started_at = ctx.now()
    session = Session(ctx, started_at)
    result = StreamResult(STREAM, details={})
    try:
        collapsed = _run_passes_once_reprobed(ctx, session, result, started_at)
    except BudgetExhausted as exc:
        result.status = RunStatus.PARTIAL
        result.message = f"users stopped: {exc}; progress is committed and the next run continues from there"
        ctx.progress.note(result.message)
    except UnprovedRead as exc:
        result.status = RunStatus.INCOMPLETE
        result.message = f"users: {exc}; the cursor stays before it"
        ctx.writer.record_run(
            ctx.run_row(RunStatus.INCOMPLETE, started_at, rows_loaded=session.rows_loaded, error=result.message)
        )
    else:
        if collapsed and result.status == RunStatus.SUCCESS:
            result.status = RunStatus.INCOMPLETE
    _fill(result, session)
    if result.status == RunStatus.SUCCESS:
        ctx.progress.done(STREAM)
    return result


def _run_passes_once_reprobed(ctx: StreamContext, session: Session, result: StreamResult, started_at: datetime) -> bool:
    """The run's passes on the remembered profile; on a contradiction, probe and start over."""
    cursor = ctx.writer.latest_cursor(STREAM)
    confirmed = ctx.settings.confirm_deletions_sweep_id
    last_success = ctx.writer.last_run(STREAM, statuses=[RunStatus.SUCCESS])
    remembered = recall(last_success.details if last_success else None, started_at)
    try:
        return _run_passes(ctx, session, result, cursor, confirmed, remembered)
    except ProfileContradicted as exc:
        # Raised before the contradicting answer landed or moved anything: probe and start over.
        log.warning("users: %s; the remembered server profile is wrong, probing again", exc)
        result.details["profile_contradicted"] = str(exc)
        return _run_passes(ctx, session, result, cursor, confirmed, None)


def _run_passes(
    ctx: StreamContext,
    session: Session,
    result: StreamResult,
    cursor: datetime | None,
    confirmed: str | None,
    remembered: dict[str, Any] | None,
) -> bool:
    """The count, the incremental pass and, when due, the sweep; True when Descope's count collapsed."""
    profile = server_profile.start(session, remembered)
    result.details.update(source_total=profile.total, filter_unit=profile.unit, profile_probed=profile.fresh)
    accepted = last_accepted_sweep(ctx.writer, confirmed)
    accepted_start = accepted.sweep_started_at if accepted else None
    collapsed = _collapsed(ctx, result, profile.total, ctx.writer.live_user_count(accepted_start))
    if cursor is not None and not collapsed:
        incremental_run(ctx, session, result, cursor)
    reason = sweep_reason(ctx, session, cursor, accepted, confirmed, collapsed)
    if reason is not None:
        result.details["mode"] = "full"
        result.details["sweep_reason"] = reason
        if not session.profile.fresh:
            server_profile.probe(session)  # a sweep is long and decides deletions: never on a remembered reading
        ctx.progress.expect(STREAM, session.rows_loaded + session.profile.total)  # a sweep reads every user
        sweep(ctx, session, result, accepted_start, collapsed)
    return collapsed


def _collapsed(ctx: StreamContext, result: StreamResult, source_total: int, live: int) -> bool:
    """Descope counts far fewer users than the warehouse holds live: nothing it says is proof."""
    collapsed = live > 0 and source_total < (1 - ctx.settings.max_delete_fraction) * live
    result.details["warehouse_live_users"] = live
    if collapsed:
        result.message = (
            f"users: Descope reports {source_total} users but the warehouse holds {live} live: an outage, "
            "a wrong project ID, or a mass deletion; the cursor does not move and nobody is deleted"
        )
        log.warning(result.message)
    return collapsed


def _fill(result: StreamResult, session: Session) -> None:
    result.rows_loaded = session.rows_loaded
    result.rows_quarantined = session.rows_quarantined
    result.pages = session.pages
    result.details.update(
        windows=session.windows,
        probes_discarded=session.probes_discarded,
        dense_windows=session.dense_windows,
        effective_page_size=session.page_size,
    )
