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
- A millisecond holding more events than a page: offset pages over that millisecond, re-read
  until a pass finds nothing new and every counted event was seen, else it is unproved.

Nothing advances on an unproved claim. Every answer's `total` must account for the events known
to remain (a chain from page to page); an answer covering the time of the last event landed
before this run (the anchor) must contain it, so a server answering `{}` or cutting pages short
moves no cursor. An empty answer that omits its list and total (protobuf style) proves nothing
without an anchor: it is accepted, but the cursor stays where it was.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Any

from descope_sync.contract import AUDIT_RETENTION_DAYS, RunStatus, event_id
from descope_sync.descope import Page
from descope_sync.errors import BudgetExhausted, MalformedAnswer, UnprovedRead
from descope_sync.landing.base import AuditAnchor
from descope_sync.streams.base import StreamContext
from descope_sync.streams.result import StreamResult
from descope_sync.timeutil import from_ms, parse_epoch_ms, to_ms

log = logging.getLogger(__name__)

STREAM = "audit_events"
# Keep clear of the retention edge: the server's clock and ours differ a little.
RETENTION_MARGIN = timedelta(minutes=2)
# Events this close to the retention edge may expire between two requests (a rate-limit wait), so a
# page's total may drop by what expired: the chain of totals is not checked there.
EXPIRY_SLACK = timedelta(minutes=10)
MAX_DENSE_PASSES = 5
MAX_TOTAL_SHIFTS = 8  # consecutive answers whose total moved under us before we give up


def to_landing_row(event: Any, batch_id: str, extracted_at: datetime) -> tuple[dict[str, Any] | None, str | None]:
    """A landing row, or None and the reason the record goes to quarantine."""
    if not isinstance(event, dict):
        return None, "not an object"
    occurred_ms = parse_epoch_ms(event.get("occurred"))
    if occurred_ms is None:
        return None, "audit event without a usable 'occurred'"
    user_id = event.get("userId")
    remote = event.get("remoteAddress")
    action = event.get("action")
    return {
        "event_id": event_id(event),
        "action": action if isinstance(action, str) else None,
        "user_id": user_id if isinstance(user_id, str) and user_id else None,
        "occurred_at": from_ms(occurred_ms),
        "remote_address": remote if isinstance(remote, str) else None,
        "payload": event,
        "_batch_id": batch_id,
        "_extracted_at": extracted_at,
    }, None


def _occurred(event: Any) -> int | None:
    return parse_epoch_ms(event.get("occurred")) if isinstance(event, dict) else None


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
    scan = _AuditScan(ctx, started_at, to_ms(start), to_ms(end), anchor, actions, result)
    try:
        if start < end:
            scan.read()
    except BudgetExhausted as exc:
        position = result.cursor_to or start
        behind = started_at - position
        result.status = RunStatus.PARTIAL
        result.message = (
            f"audit_events stopped: {exc}; progress is committed up to {position.isoformat(sep=' ')} UTC, "
            f"{_human(behind)} behind; the next run continues from there"
        )
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


class _AuditScan:
    """Reads `[frm, end)` page by page, landing and committing as it goes."""

    def __init__(
        self,
        ctx: StreamContext,
        started_at: datetime,
        frm: int,
        end: int,
        anchor: AuditAnchor | None,
        actions: list[str] | None,
        result: StreamResult,
    ) -> None:
        self.ctx = ctx
        self.started_at = started_at
        self.frm = frm
        self.end = end
        self.anchor_ms = to_ms(anchor.occurred_at) if anchor else None
        self.anchor_id = anchor.event_id if anchor else None
        self.actions = actions
        self.result = result
        self.page_size = ctx.settings.audit_page_size
        self.edge_ids: set[str] = set()  # ids at the millisecond `frm` already landed by this run
        # `from` may be exclusive (every SDK) or inclusive (the simulator's default reading): requests ask
        # from a millisecond early until an answer shows an event at that millisecond, then exactly.
        self.from_inclusive = False

    # ------------------------------------------------------------------ requests
    def _request(self, lo: int, hi: int, *, page: int = 0, size: int | None = None, min_total: int = 0) -> Page:
        """One page of events in [lo, hi) (and perhaps the millisecond before `lo` or at `hi`)."""
        size = size or self.page_size
        asked_from = lo if self.from_inclusive else lo - 1
        body: dict[str, Any] = {"from": asked_from, "to": hi, "size": size, "page": page, "oldestFirst": True}
        if self.actions:
            body["actions"] = self.actions

        def check(answer: Page) -> None:
            if page == 0 and answer.total and not answer.items:
                raise MalformedAnswer(f"page 0 is empty but 'total' is {answer.total}")
            if answer.total < min_total:
                raise MalformedAnswer(
                    f"'total' {answer.total} is below the {min_total} events known to remain in the window"
                )
            self._check_anchor(answer, lo, hi, page == 0)

        answer = self.ctx.client.search_audit(body, check=check)
        if not self.from_inclusive and any(_occurred(e) == asked_from for e in answer.items):
            self.from_inclusive = True
        if answer.size_bytes > self.ctx.settings.max_page_bytes and self.page_size > 1:
            # The page is already in memory and lands in byte-bounded chunks; ask for less from now on.
            self.page_size = max(1, self.page_size // 2)
            log.info("audit_events: a %d-byte page; asking for %d events per page", answer.size_bytes, self.page_size)
        return answer

    def _check_anchor(self, answer: Page, lo: int, hi: int, page_is_first: bool) -> None:
        """An answer that covers the anchor's time must contain the anchor."""
        a = self.anchor_ms
        if a is None or not lo <= a < hi:
            return
        occs = [o for o in map(_occurred, answer.items) if o is not None]
        if answer.fits:
            covers = True
        elif _descending(occs):  # newest first: a page holds a slice of time
            covers = min(occs) <= a < max(occs)
        else:  # oldest first: page 0 holds everything older than its last event
            covers = bool(occs) and a < max(occs) and page_is_first
        if not covers:
            return
        if any(isinstance(e, dict) and event_id(e) == self.anchor_id for e in answer.items):
            self.anchor_ms = None  # seen: proved once
            return
        raise MalformedAnswer(
            f"the answer for {from_ms(lo).isoformat(sep=' ')}..{from_ms(hi).isoformat(sep=' ')} UTC lacks an event "
            "landed by an earlier run (Descope answered less than it holds)"
        )

    # ------------------------------------------------------------------ landing
    def _land(self, events: list[Any], cursor_to: datetime | None, *, in_range_from: int) -> None:
        """Land events that occurred in [in_range_from, end) not landed at the edge, then commit `cursor_to`."""
        extracted_at = self.ctx.now()
        rows, bad = [], []
        for event in events:
            row, reason = to_landing_row(event, self.ctx.batch_id, extracted_at)
            if row is None:
                bad.append(
                    {
                        "stream": STREAM,
                        "reason": reason,
                        "payload": event,
                        "_batch_id": self.ctx.batch_id,
                        "_extracted_at": extracted_at,
                    }
                )
                continue
            occurred = to_ms(row["occurred_at"])
            if occurred < in_range_from or occurred >= self.end or row["event_id"] in self.edge_ids:
                continue
            rows.append(row)
        if bad:
            appended = self.ctx.writer.append("_quarantine", bad)
            self.result.rows_quarantined += appended.landed
            log.warning("audit_events: quarantined %d malformed event(s)", len(bad))
        if cursor_to is not None and self.anchor_ms is not None and to_ms(cursor_to) > self.anchor_ms:
            raise UnprovedRead(
                "Descope's answers skipped an audit event landed by an earlier run; the cursor stays where it was"
            )
        status = RunStatus.SUCCESS if cursor_to is not None and to_ms(cursor_to) >= self.end else RunStatus.PARTIAL
        appended = self.ctx.writer.append(
            STREAM,
            rows,
            run=self.ctx.run_row(
                status,
                self.started_at,
                cursor_from=from_ms(in_range_from),
                cursor_to=cursor_to,
                rows_loaded=len(rows),
            ),
        )
        self.result.rows_loaded += appended.landed
        self.result.rows_quarantined += appended.quarantined
        self.result.pages += 1
        if cursor_to is not None:
            self.result.cursor_to = cursor_to
        self.ctx.progress.page(STREAM, appended.landed)

    def _advance(self, new_frm: int, events: list[Any]) -> None:
        if new_frm != self.frm:
            self.edge_ids = set()
        self.edge_ids |= {event_id(e) for e in events if _occurred(e) == new_frm}
        self.frm = new_frm

    # ------------------------------------------------------------------ reading
    def read(self) -> None:
        answer = self._request(self.frm, self.end)
        while True:
            occs = [o for o in map(_occurred, answer.items) if o is not None]
            if answer.fits:
                if not answer.items and answer.omitted:
                    # `{}`: protobuf's "nothing", or an outage. Without an anchor nothing tells them
                    # apart, so the window is not claimed: the next run asks again.
                    self.result.details["unproved_empty_answer"] = True
                    self.result.message = (
                        "audit_events: Descope answered an empty search without saying so ({}); nothing proves the "
                        "window empty, so the cursor stays where it was"
                    )
                    self._land([], None, in_range_from=self.frm)
                    return
                self._land(answer.items, from_ms(self.end), in_range_from=self.frm)
                return
            if _descending(occs):
                self._read_newest_first(answer)
                return
            self.ctx.deadline.check()
            in_range = [o for o in occs if o >= self.frm]
            if not in_range:
                if self.from_inclusive and occs:  # a page of the millisecond before ours: ask exactly now
                    answer = self._request(self.frm, self.end)
                    continue
                raise MalformedAnswer("an audit page without one event in the window it was asked for")
            last = max(in_range)
            if min(in_range) == last:
                # The oldest events in the window share one millisecond and fill the page.
                self._read_dense(last)
                answer = self._request(self.frm, self.end)
                continue
            self._land(answer.items, from_ms(last), in_range_from=self.frm)
            remaining = answer.total - sum(1 for o in occs if o < last)
            self._advance(last, answer.items)
            # Events within minutes of the retention edge may expire between two requests: no chain there.
            near_edge = self.frm < to_ms(self.ctx.now() - timedelta(days=AUDIT_RETENTION_DAYS) + EXPIRY_SLACK)
            answer = self._request(self.frm, self.end, min_total=0 if near_edge else remaining)

    def _read_dense(self, ms: int) -> None:
        """Every event of millisecond `ms`, by offset pages, proved by a pass that finds nothing new."""
        seen: dict[str, Any] = {}
        counted = 0
        size = self.page_size
        for _ in range(MAX_DENSE_PASSES):
            fresh, page = 0, 0
            while True:
                self.ctx.deadline.check()
                answer = self._request(ms, ms + 1, page=page, size=size)
                counted = answer.total
                for event in answer.items:
                    key = event_id(event) if isinstance(event, dict) else repr(event)
                    if key not in seen:
                        seen[key] = event
                        fresh += 1
                if len(answer.items) < size or not answer.items:
                    break
                page += 1
            if fresh == 0 and len(seen) >= counted:
                if self.anchor_ms == ms and self.anchor_id in seen:
                    self.anchor_ms = None
                events = list(seen.values())
                self._land(events, from_ms(ms + 1), in_range_from=self.frm)
                self._advance(ms + 1, events)
                return
        raise UnprovedRead(
            f"Descope counts {counted} audit events around {from_ms(ms).isoformat(sep=' ')} UTC (one millisecond) "
            f"but offset paging reached only {len(seen)}; the cursor stays before it"
        )

    def _read_newest_first(self, first: Page) -> None:
        """The server ignores oldestFirst: land the tail page (the oldest events) again and again.

        The tail page's index follows from `total`; an answer whose `total` is not the one the page
        was chosen by (events indexed late, or the first sight of an inclusive `from`) is discarded
        and the tail chosen again.
        """
        self.result.details["newest_first"] = True
        total = first.total
        shifts = 0
        while True:
            self.ctx.deadline.check()
            if total <= self.page_size:
                answer = self._request(self.frm, self.end)
                if answer.fits:
                    if answer.items or not answer.omitted:
                        self._land(answer.items, from_ms(self.end), in_range_from=self.frm)
                    return
                total = answer.total
                continue
            pages = math.ceil(total / self.page_size)
            size = math.ceil(total / pages)
            last_page = pages - 1
            answer = self._request(self.frm, self.end, page=last_page, size=size)
            if answer.total != total:
                total = answer.total
                shifts += 1
                if shifts > MAX_TOTAL_SHIFTS:
                    raise UnprovedRead("the audit window kept changing under a newest-first server; try again later")
                continue
            shifts = 0
            if len(answer.items) != total - last_page * size:
                raise UnprovedRead(
                    f"page {last_page} of {total} events held {len(answer.items)}; cannot prove the tail was read"
                )
            occs = [o for o in map(_occurred, answer.items) if o is not None]
            in_range = [o for o in occs if o >= self.frm]
            if not in_range:
                if self.from_inclusive and occs:  # the tail was the millisecond before ours: ask exactly now
                    total = self._request(self.frm, self.end).total
                    continue
                raise UnprovedRead("the tail page of a newest-first answer holds no event in the window")
            newest = max(in_range)
            if min(in_range) == newest:
                self._read_dense(newest)
                total = self._request(self.frm, self.end).total
                continue
            self._land(answer.items, from_ms(newest), in_range_from=self.frm)
            # Everything older than the page's newest event is in this page (it is the tail).
            total -= sum(1 for o in occs if o < newest)
            self._advance(newest, answer.items)


def _descending(occs: list[int]) -> bool:
    return len(occs) > 1 and occs[0] > occs[-1] and occs == sorted(occs, reverse=True)


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds // 60} minutes"
