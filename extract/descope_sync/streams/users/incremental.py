"""The modified pass: everyone modified since a second, then tail passes until one brings nothing new
(docs/design.md, "users", step 3); and the incremental run built on it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from descope_sync.contract import RunMode, RunStatus
from descope_sync.descope import Page
from descope_sync.landing.base import SyncRun
from descope_sync.streams.base import StreamContext
from descope_sync.streams.result import StreamResult
from descope_sync.streams.users.reader import open_scan, scan
from descope_sync.streams.users.records import MAX_EPOCH_S, at, epoch_s, field
from descope_sync.streams.users.session import Session
from descope_sync.timeutil import from_epoch_seconds

TAIL_MARGIN_S = 5
MAX_TAIL_PASSES = 10
MODIFIED = "modifiedTime"

# checkpoint(cursor_to, position): the row committed with a window; everything modified up to
# `cursor_to` (epoch s) is landed.
PassCheckpoint = Callable[[int | None, int], SyncRun]


def incremental_run(ctx: StreamContext, session: Session, result: StreamResult, cursor: datetime) -> None:
    """The modified pass from the cursor (less the overlap), ending in a `success` row."""
    started_at = session.started_at
    result.details["mode"] = "incremental"
    watermark = modified_pass(
        session,
        epoch_s(cursor) - ctx.settings.users_overlap_seconds,
        checkpoint=lambda cursor_to, _pos: incremental_row(ctx, started_at, cursor, cursor_to),
    )
    result.cursor_from = cursor
    result.cursor_to = at(watermark)
    row = incremental_row(ctx, started_at, cursor, watermark, RunStatus.SUCCESS)
    row.details = {"profile": session.profile.remembered()}
    ctx.writer.record_run(row)
    result.details["tail_passes"] = session.tail_passes


def incremental_row(
    ctx: StreamContext,
    started_at: datetime,
    cursor_from: datetime,
    cursor_to_s: int | None,
    status: RunStatus = RunStatus.PARTIAL,
) -> SyncRun:
    return ctx.run_row(
        status,
        started_at,
        mode=RunMode.INCREMENTAL,
        cursor_from=cursor_from,
        cursor_to=at(cursor_to_s) if cursor_to_s is not None else None,
    )


def modified_pass(session: Session, lo: int, *, checkpoint: PassCheckpoint) -> int:
    """Every user modified from `lo` (epoch s) on, then tail passes; returns the watermark it proved."""
    now_s = epoch_s(session.ctx.now())
    session.recent_from_s = epoch_s(session.started_at) - TAIL_MARGIN_S
    hi = now_s + 2

    def window_checkpoint(window_hi: int, _without_id: int) -> SyncRun:
        # A window ending in the future proves nothing past now.
        return checkpoint(min(window_hi, epoch_s(session.ctx.now()) - 1), window_hi)

    # One request up to the end of year 9999 first: in a quiet tenant it is itself the pass that
    # brings nothing new. Under a remembered profile its proof starts at the witness request.
    profile = session.profile
    pass_started = now_s if profile is None or profile.fresh else min(now_s, session.started_s)
    answer = session.window_search(MODIFIED, lo, MAX_EPOCH_S, limit=session.page_size, page=0)
    if not answer.fits:
        session.probes_discarded += 1
        scan(session, MODIFIED, lo, hi, checkpoint=window_checkpoint)
    elif _quiet_first_request(session, answer, checkpoint(pass_started - 1, hi)):
        return pass_started - 1
    return _tail_passes(session, now_s)


def _quiet_first_request(session: Session, answer: Page, row: SyncRun) -> bool:
    """Land the first request's page with `row`; True when it brought nothing new (no tail pass)."""
    session.windows += 1
    fresh, _ = session.land(answer.items, run=row)
    if fresh:
        return False
    session.tail_passes = 0
    # Quiet: nobody at all (landed before or not) modified since just before the run began.
    session.quiet = not any(session.is_recent(from_epoch_seconds(field(u, MODIFIED))) for u in answer.items)
    return True


def _tail_passes(session: Session, now_s: int) -> int:
    """Open-ended passes from just before the run began until one brings nothing new (at most
    MAX_TAIL_PASSES); returns the second before the last one began, a safe watermark."""
    tail_lo = session.recent_from_s - 1
    passes = 0
    pass_started = now_s
    for passes in range(1, MAX_TAIL_PASSES + 1):  # noqa: B007 - reported below
        pass_started = epoch_s(session.ctx.now())
        fresh, _ = open_scan(session, MODIFIED, tail_lo, only_unseen=True)
        if fresh == 0:
            break
    session.tail_passes = passes
    return pass_started - 1
