"""The audit_events stream: `POST /v1/mgmt/audit/search` into `descope_raw.audit_events`.

Reads `[start, end)` where `end` is now minus a settle margin (events are indexed a little after
they occur) and `start` is the cursor minus an overlap, clamped to the 30-day retention (an older
cursor is recorded as a `data_loss` interval and reported loudly). The cursor `cursor_to = T`
means every event that occurred before `T` is landed; it commits with every landed page, so a
stopped run resumes at its last page.

Correct whatever Descope's answers mean where its sources disagree:
- `from` inclusive or exclusive: every request asks from one millisecond before the first one it
  needs, and events before it are dropped (already landed).
- `oldestFirst` honoured: keyset pages, each from the last millisecond landed (ties re-read and
  skipped by event id). Ignored (newest first): the oldest events are the tail page, whose index
  follows from `total`; pages are balanced so the tail page is nearly full.
- `page` and `size` are used only while the server shows it honours them (the official SDKs send neither).
  A newest-first server ignoring `page` is read with `from` and `to` alone: time windows sized from the
  density `total` shows, each walked back from its end and committed when the walk reaches its start
  (:mod:`.audit.newest_first`).
- A millisecond holding more events than a page: offset pages over that millisecond, re-read
  until a pass finds nothing new and every counted event was seen, else it is unproved. A page 0
  all of one millisecond does not tell the order: it is the range's oldest (honoured) or its newest
  (ignored). After it is read, one answer counts the range up to it: if it counts no event not in
  hand the millisecond is claimed, else its events land unclaimed and the older ones are read first.
- The page size: a page 0 shorter than both the size asked and its total shows the most the server
  serves a page (the simulator 1000); that many are asked for from then on.

Nothing advances on an unproved claim. Every answer's `total` must account for the events known
to remain (a chain from page to page, newest first too); an answer covering the time of the last
event landed before this run (the anchor) must contain it, so a server answering `{}` or cutting
pages short moves no cursor. An empty answer that omits its list and total (protobuf style) states
no total and proves nothing without an anchor: it is accepted, the run says so, and the cursor stays
where it was; except right after a full millisecond is claimed, where one explicit answer counting
it and the rest together, no more than its events, proves the rest empty.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from descope_sync.contract import AUDIT_RETENTION_DAYS, RunStatus, event_id
from descope_sync.errors import BudgetExhausted, UnprovedRead
from descope_sync.streams.audit.backlog import DESCOPE_AUDIT_SEARCHES_PER_MINUTE, backlog_estimate, human
from descope_sync.streams.audit.rows import STREAM, to_landing_row
from descope_sync.streams.audit.scan import AuditScan
from descope_sync.streams.base import StreamContext
from descope_sync.streams.result import StreamResult
from descope_sync.timeutil import to_ms

__all__ = ["DESCOPE_AUDIT_SEARCHES_PER_MINUTE", "RETENTION_MARGIN", "STREAM", "event_id", "run", "to_landing_row"]

log = logging.getLogger(__name__)
# Keep clear of the retention edge: the server's clock and ours differ a little.
RETENTION_MARGIN = timedelta(minutes=2)


def run(ctx: StreamContext) -> StreamResult:
    settings = ctx.settings
    started_at = ctx.now()
    end = started_at - timedelta(seconds=settings.audit_settle_seconds)
    edge = started_at - timedelta(days=AUDIT_RETENTION_DAYS) + RETENTION_MARGIN
    actions = list(settings.audit_actions) if settings.audit_actions else None
    cursor = ctx.writer.latest_cursor(STREAM)
    result = StreamResult(STREAM, details={"lost_interval": None})

    lost = cursor is not None and cursor < edge
    if lost:
        message = (
            f"audit events between {cursor.isoformat(sep=' ')} and {edge.isoformat(sep=' ')} UTC are older than "
            f"Descope's {AUDIT_RETENTION_DAYS}-day retention and were never read: that history is lost"
        )
        ctx.writer.record_run(
            ctx.run_row(
                RunStatus.DATA_LOSS,
                started_at,
                cursor_from=cursor,
                cursor_to=edge,
                error=message,
            )
        )
        log.warning("DATA LOSS: %s", message)
        ctx.progress.note("WARNING DATA LOSS: " + message)
        result.details["lost_interval"] = [cursor.isoformat(), edge.isoformat()]
        cursor = edge

    start = edge if cursor is None else max(edge, cursor - timedelta(seconds=settings.audit_overlap_seconds))
    anchor = None
    if cursor is not None:
        found = ctx.writer.latest_audit_event(min(cursor, end), actions)
        if found is not None and found.occurred_at >= edge:
            anchor = found
            start = min(start, found.occurred_at)
    result.cursor_from = start
    scan = AuditScan(ctx, started_at, to_ms(start), to_ms(end), anchor, actions, result)
    try:
        if start < end:
            scan.read()
    except BudgetExhausted as exc:
        position = result.cursor_to or start
        behind = started_at - position
        result.status = RunStatus.PARTIAL
        result.message = (
            f"audit_events stopped: {exc}; progress is committed up to {position.isoformat(sep=' ')} UTC, "
            f"{human(behind)} behind; the next run continues from there"
        )
        if scan.remaining:
            left = max(0, scan.remaining - (scan.result.rows_loaded - scan.loaded_at_last_count))
            result.message += f" ({backlog_estimate(left, scan.page_size, behind)})"
        result.details["behind_seconds"] = int(behind.total_seconds())
        ctx.progress.note(result.message)
    except UnprovedRead as exc:
        result.status = RunStatus.INCOMPLETE
        result.message = f"audit_events: {exc}"
        ctx.writer.record_run(
            ctx.run_row(
                RunStatus.INCOMPLETE,
                started_at,
                cursor_from=start,
                error=result.message,
            )
        )
    if lost and result.status in (RunStatus.SUCCESS, RunStatus.PARTIAL):
        result.status = RunStatus.DATA_LOSS
        lost_note = "audit events older than the retention were lost for good (DATA LOSS above)"
        result.message = f"{lost_note}; {result.message}" if result.message else lost_note
    if result.status in (RunStatus.SUCCESS, RunStatus.DATA_LOSS):
        ctx.progress.done(STREAM)
    return result
