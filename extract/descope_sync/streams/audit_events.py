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
# A newest-first server that ignores `page` is read by time windows aimed at this many answers' worth of events
# (a whole number of answers each walk, and what a budget stop loses); one holding more is narrowed first.
WINDOW_ANSWERS = 3.85
MAX_WALK_ANSWERS = 8
MAX_ANSWER = 1000  # the most events Descope serves in one answer
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
        self.asked_exactly = False  # how the last request asked `from`: its total counts that range
        # The scan reads [frm, hi): the window's end, or a full millisecond whose events are landed but
        # not claimed while the events older than it are read; `waiting` holds the ends to come back to,
        # each with the events known to lie between that millisecond and it.
        self.hi = end
        self.waiting: list[tuple[int, tuple[int, bool], tuple[int, int]]] = []
        # The last full millisecond claimed, and how many events it holds (read by offset pages).
        self.claimed: tuple[int, int] | None = None
        # Whether the server has shown it honours `page` / `size` (None: not shown either way yet).
        self.paging: bool | None = None
        self.sizing: bool | None = None
        self.quarantined: set[str] = set()  # records quarantined by this run (a re-read one is not again)

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
            # `{}` states no total: it proves nothing either way and is handled as such (the cursor stays).
            if answer.total < min_total and not (answer.omitted and not answer.items):
                raise MalformedAnswer(
                    f"'total' {answer.total} is below the {min_total} events known to remain in the window"
                )
            self._check_anchor(answer, lo, hi, page == 0)

        answer = self.ctx.client.search_audit(body, check=check)
        self.asked_exactly = self.from_inclusive
        if len(answer.items) > size:
            # More events than asked: the server ignores `size` and serves a fixed number an answer.
            if self.sizing is not False:
                log.info("audit_events: Descope ignores 'size' and serves %d events an answer", len(answer.items))
            self.sizing = False
            if not answer.fits:
                self.page_size = len(answer.items)
        if not self.from_inclusive and any(_occurred(e) == asked_from for e in answer.items):
            self.from_inclusive = True
        if page == 0 and 0 < len(answer.items) < min(size, answer.total) and len(answer.items) < self.page_size:
            # Fewer events than asked while more match: the server serves at most this many a page (the
            # simulator 1000, whatever `size` says). Offsets of later pages count in pages of this size.
            self.page_size = len(answer.items)
            log.info("audit_events: Descope serves %d events a page; asking for that many", self.page_size)
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
        elif _descending(occs) and page_is_first:  # the newest events: all of them newer than its oldest
            covers = min(occs) < a
        elif _descending(occs):  # newest first: a later page holds a slice of time
            covers = min(occs) <= a < max(occs)
        elif len(set(occs)) <= 1:  # one millisecond: the oldest of the range or its newest, nothing tells
            covers = False
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
        """Land events that occurred in [in_range_from, hi) not landed at the edge, then commit `cursor_to`
        (None: land without claiming anything)."""
        extracted_at = self.ctx.now()
        rows, bad = [], []
        for event in events:
            row, reason = to_landing_row(event, self.ctx.batch_id, extracted_at)
            if row is None:
                if _key(event) in self.quarantined:  # read again (a tie re-read, a window walked back)
                    continue
                self.quarantined.add(_key(event))
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
            if occurred < in_range_from or occurred >= self.hi or row["event_id"] in self.edge_ids:
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
    def _known(self, count: int) -> tuple[int, bool]:
        """`count` events known to remain in a range, as counted by the last answer (how it asked `from`)."""
        return max(0, count), self.asked_exactly

    def _floor(self, known: tuple[int, bool]) -> int:
        """The least total the next answer may give: the events known to remain, if it counts the same range."""
        count, exactly = known
        # Events within minutes of the retention edge may expire between two requests: no chain there.
        near_edge = self.frm < to_ms(self.ctx.now() - timedelta(days=AUDIT_RETENTION_DAYS) + EXPIRY_SLACK)
        return 0 if near_edge or exactly != self.from_inclusive else count

    def _unproved_empty(self) -> None:
        """`{}`: protobuf's "nothing", or an outage. Without an anchor nothing tells them apart, so the
        range is not claimed: the next run asks again. The run's last checkpoint stands (a run that
        landed nothing records one without a cursor)."""
        self.result.details["unproved_empty_answer"] = True
        self.result.message = (
            "audit_events: Descope answered an empty search without saying so ({}); nothing proves the "
            "window empty, so the cursor stays where it was"
        )
        if not self.result.pages:
            self._land([], None, in_range_from=self.frm)

    def _empty_since_claim(self) -> bool:
        """Whether [frm, hi), answered `{}`, is proved empty all the same: right after a full millisecond
        was claimed, one explicit answer counting that millisecond and [frm, hi) together, and no more
        events than it holds, proves it (`{}` is how a protobuf-style server says "nothing")."""
        if self.claimed is None or self.claimed[0] + 1 != self.frm:
            return False
        ms, count = self.claimed
        # Whether or not it also counts the millisecond before `ms`, its range holds [ms, hi).
        answer = self._request(ms, self.hi, size=1)
        return not answer.omitted and answer.total <= count

    def read(self) -> None:
        answer = self._request(self.frm, self.hi)
        while True:
            occs = [o for o in map(_occurred, answer.items) if o is not None]
            if answer.fits:
                if not answer.items and answer.omitted and not self._empty_since_claim():
                    self._unproved_empty()
                    return
                self._land(answer.items, from_ms(self.hi), in_range_from=self.frm)
            elif _descending(occs):
                if not self._read_newest_first(answer):
                    return
            else:
                self.ctx.deadline.check()
                in_range = [o for o in occs if o >= self.frm]
                if not in_range:
                    if self.from_inclusive and occs:  # a page of the millisecond before ours: ask exactly now
                        answer = self._request(self.frm, self.hi)
                        continue
                    raise MalformedAnswer("an audit page without one event in the window it was asked for")
                last = max(in_range)
                if min(in_range) == last:
                    known = self._read_full_millisecond(last, answer)
                else:
                    self._land(answer.items, from_ms(last), in_range_from=self.frm)
                    known = self._known(answer.total - _older_than(answer.items, last))
                    self._advance(last, answer.items)
                answer = self._request(self.frm, self.hi, min_total=self._floor(known))
                continue
            # [frm, hi) is read: claim the full millisecond at `hi` and read on to where it was found.
            if not self.waiting:
                return
            ms = self.hi
            self.hi, known, self.claimed = self.waiting.pop()
            self._land([], from_ms(ms + 1), in_range_from=ms)  # its events landed when it was read
            self._advance(ms + 1, [])
            answer = self._request(self.frm, self.hi, min_total=self._floor(known))

    def _read_full_millisecond(self, ms: int, first: Page) -> tuple[int, bool]:
        """Page 0 of [frm, hi) holds millisecond `ms` only: the range's oldest events if the server honours
        oldestFirst, its newest if it does not; the page cannot tell which. Read `ms` by offset pages, then
        count [frm, ms] in one answer: if it counts no event not seen, `ms` was the oldest and is claimed;
        else its events are landed unclaimed and [frm, ms) is read first. Returns what is known to remain."""
        window = (first.total, self.asked_exactly)
        events = self._read_dense(ms)
        dense = (ms, sum(1 for e in events if _occurred(e) == ms))
        if ms == self.frm:  # nothing in the range is older
            self.claimed = dense
            self._land(events, from_ms(ms + 1), in_range_from=self.frm)
            self._advance(ms + 1, events)
            return self._after(window, len(events), self.asked_exactly)
        probe = self._request(self.frm, ms + 1)
        asked_from = self.frm if self.asked_exactly else self.frm - 1
        in_hand = {_key(e): e for e in [*events, *probe.items]}  # records without a usable time: quarantined
        counted = [e for e in in_hand.values() if asked_from <= (_occurred(e) or ms) <= ms]
        if probe.total <= len(counted):  # every event of [frm, ms] is in hand: `ms` was the oldest
            self.claimed = dense
            self._land(list(in_hand.values()), from_ms(ms + 1), in_range_from=self.frm)
            self._advance(ms + 1, list(in_hand.values()))
            return self._after(window, probe.total, self.asked_exactly)
        # Events older than `ms` remain (a newest-first server): they come first; the cursor stays before them.
        self._land([e for e in events if _occurred(e) in (ms, None)], None, in_range_from=self.frm)
        self.waiting.append((self.hi, self._after(window, probe.total, self.asked_exactly), dense))
        self.hi = ms
        # Only the older events in hand are surely there: events of `ms` may have arrived since they were read.
        return self._known(sum(1 for e in counted if (_occurred(e) or ms) < ms))

    def _after(self, window: tuple[int, bool], below: int, exactly: bool) -> tuple[int, bool]:
        """What is known to remain of a range counted `window` past `below` events at its start, counted (or
        seen) since, asking `from` `exactly` or not: a lower bound, since events only arrive. Nothing is known
        when the two asked `from` differently (one counts the millisecond before the range, one not)."""
        count, asked_exactly = window
        if exactly != asked_exactly:
            return 0, self.from_inclusive
        return max(0, count - below), asked_exactly

    def _read_dense(self, ms: int) -> list[Any]:
        """Every event of millisecond `ms` (and of the one before, if asked), by offset pages, proved by a
        pass that finds nothing new; the caller lands them."""
        seen: dict[str, Any] = {}
        counted = 0
        size = self.page_size if self.paging is not False else max(self.page_size, MAX_ANSWER)
        for _ in range(MAX_DENSE_PASSES):
            fresh, page, first_keys = 0, 0, None
            while True:
                self.ctx.deadline.check()
                answer = self._request(ms, ms + 1, page=page, size=size)
                keys = [_key(e) for e in answer.items]
                if page == 0:
                    if self.paging is not False or not answer.fits:
                        size = min(size, self.page_size)  # a capped page 0 (offset 0 either way) sets the size
                    first_keys = keys
                elif keys and keys == first_keys:  # page k answered with page 0's events: `page` is ignored
                    self.paging = False
                    if len(seen) < answer.total and size < MAX_ANSWER and self.sizing is not False:
                        size = MAX_ANSWER  # the most one answer may hold, in one page
                        break
                    if len(seen) < answer.total:
                        raise UnprovedRead(
                            f"Descope counts {answer.total} audit events in the one millisecond "
                            f"{from_ms(ms).isoformat(sep=' ')} UTC, more than one answer holds ({len(keys)}), and "
                            "ignores 'page': they cannot all be read; the cursor stays before it"
                        )
                    break
                counted = answer.total
                for key, event in zip(keys, answer.items, strict=True):
                    if key not in seen:
                        seen[key] = event
                        fresh += 1
                if len(answer.items) < size or not answer.items:
                    break
                page += 1
            if fresh == 0 and len(seen) >= counted:
                if self.anchor_ms == ms and self.anchor_id in seen:
                    self.anchor_ms = None
                return list(seen.values())
        raise UnprovedRead(
            f"Descope counts {counted} audit events around {from_ms(ms).isoformat(sep=' ')} UTC (one millisecond) "
            f"but offset paging reached only {len(seen)}; the cursor stays before it"
        )

    def _read_newest_first(self, first: Page) -> bool:
        """The server ignores oldestFirst: land the tail page (the oldest events) again and again, up to `hi`.

        The tail page's index follows from `total`; an answer whose `total` is not the one the page
        was chosen by (events indexed late, or the first sight of an inclusive `from`) is discarded
        and the tail chosen again. Every answer must count the events known to remain. Returns whether
        [frm, hi) was read to `hi` (not when the last page answered `{}`).
        """
        self.result.details["newest_first"] = True
        if self.paging is False:
            return self._read_by_windows(first.total)
        total = first.total
        known = self._known(total)
        newest = _key(first.items[0])  # on any page but page 0 only if the server ignores `page`
        shifts = 0
        while True:
            self.ctx.deadline.check()
            if total <= self.page_size:
                answer = self._request(self.frm, self.hi, min_total=self._floor(known))
                if answer.fits:
                    if not answer.items and answer.omitted and not self._empty_since_claim():
                        self._unproved_empty()
                        return False
                    self._land(answer.items, from_ms(self.hi), in_range_from=self.frm)
                    return True
                # Not the last page after all (events indexed late, or a page cap learned just now).
                total = answer.total
                known = self._known(total)
                continue
            pages = math.ceil(total / self.page_size)
            # Balanced pages make the tail nearly full; a server ignoring `size` pages by what it serves.
            size = math.ceil(total / pages) if self.sizing is not False else self.page_size
            last_page = pages - 1
            answer = self._request(self.frm, self.hi, page=last_page, size=size, min_total=self._floor(known))
            if len(answer.items) > size:  # `size` ignored (learned just now): choose the tail again
                continue
            if any(_key(e) == newest for e in answer.items):
                return self._page_ignored(answer)
            if answer.total != total:
                total = answer.total
                known = self._known(total)
                shifts += 1
                if shifts > MAX_TOTAL_SHIFTS:
                    raise UnprovedRead("the audit window kept changing under a newest-first server; try again later")
                continue
            shifts = 0
            if self.paging is None and len(answer.items) != total - last_page * size:
                return self._page_ignored(answer)
            self.paging = True
            if len(answer.items) != total - last_page * size:
                raise UnprovedRead(
                    f"page {last_page} of {total} events held {len(answer.items)}; cannot prove the tail was read"
                )
            occs = [o for o in map(_occurred, answer.items) if o is not None]
            in_range = [o for o in occs if o >= self.frm]
            if not in_range:
                if self.from_inclusive and occs:  # the tail was the millisecond before ours: ask exactly now
                    total = self._request(self.frm, self.hi).total
                    known = self._known(total)
                    continue
                raise UnprovedRead("the tail page of a newest-first answer holds no event in the window")
            newest = max(in_range)
            if min(in_range) == newest:  # the oldest millisecond fills the tail page: nothing older remains
                tail = (total, self.asked_exactly)
                events = self._read_dense(newest)
                self.claimed = (newest, sum(1 for e in events if _occurred(e) == newest))
                self._land(events, from_ms(newest + 1), in_range_from=self.frm)
                self._advance(newest + 1, events)
                seen = {_key(e) for e in [*events, *answer.items] if (_occurred(e) or newest) <= newest}
                known = self._after(tail, len(seen), self.asked_exactly)
                total = self._request(self.frm, self.hi, min_total=self._floor(known)).total
                known = self._known(total)
                continue
            self._land(answer.items, from_ms(newest), in_range_from=self.frm)
            # Everything older than the page's newest event is in this page (it is the tail).
            total -= _older_than(answer.items, newest)
            known = self._known(total)
            self._advance(newest, answer.items)

    # ------------------------------------------------------------------ from and to alone
    def _page_ignored(self, answer: Page) -> bool:
        self.paging = False
        log.info("audit_events: Descope ignores 'page'; reading by time windows, newest first")
        return self._read_by_windows(answer.total)

    def _read_by_windows(self, counted: int) -> bool:
        """[frm, hi) on a newest-first server, asking only `from` and `to`: windows [frm, end) sized from the
        density the last `total` showed to hold a few answers, each walked back from its end (every answer holds
        the window's events newer than its oldest) and landed and committed once the walk reaches `frm`.
        `counted`: the events last counted in [frm, hi). Returns whether it read to `hi` (not on `{}`)."""
        self.result.details["windows"] = True
        span = max(1, self.hi - self.frm)
        while self.frm < self.hi:
            self.ctx.deadline.check()
            width = max(1, min(span * 8, int(span * self.page_size * WINDOW_ANSWERS / max(counted, 1))))
            end = min(self.hi, self.frm + width)
            walked = self._walk_window(end)
            if walked is None:
                return False
            span, counted = width, walked
        return True

    def _walk_window(self, end: int) -> int | None:
        """Read [frm, end) newest first and land it, committing `end`; returns how many events it held. A window
        holding too many answers' worth is not walked: returns its total (the caller narrows it), frm unmoved.
        None on an unproved `{}`."""
        answer = self._request(self.frm, end)
        if not answer.fits and answer.total > self.page_size * MAX_WALK_ANSWERS and end - self.frm > 1:
            return answer.total
        held: dict[str, Any] = {}  # every event of [top, end)
        top = end
        while not answer.fits:
            self.ctx.deadline.check()
            occs = [o for o in map(_occurred, answer.items) if o is not None]
            if not occs or occs != sorted(occs, reverse=True):
                raise UnprovedRead("an audit answer that is not newest first from a server that was; nothing is proved")
            oldest = occs[-1]
            if oldest < self.frm:  # it reaches the millisecond before ours: all of [frm, top) is in it
                break
            newer = [e for e in answer.items if _occurred(e) is None or _occurred(e) > oldest]  # (untimed: quarantined)
            held.update((_key(e), e) for e in newer)
            if occs[0] > oldest:
                known = self._known(answer.total - len(newer))
                top = oldest + 1  # ties at `oldest` are read again, and kept once by id
                answer = self._request(self.frm, top, min_total=self._floor(known))
                continue
            # Every event it could time is of `oldest`, the newest millisecond left: read it whole, then older ones.
            answer = self._whole_millisecond(oldest, answer, held)
            top = oldest
        if not answer.items and answer.omitted and not held:
            proved = self._proved_empty_before(end)
            if proved is not None:
                self._land([], from_ms(proved), in_range_from=self.frm)
                self._advance(proved, [])
                return 0
            if not self._empty_since_claim():
                self._unproved_empty()
                return None
        events = [*held.values(), *answer.items]
        self._land(events, from_ms(end), in_range_from=self.frm)
        self._advance(end, [])
        return len(events)

    def _proved_empty_before(self, end: int) -> int | None:
        """A window [frm, end) answered `{}` (protobuf's "nothing"): two explicit answers, [frm, hi) and then
        [end, hi), that count the same prove it empty. Returns how far (`end`, or `end - 1` while `from` may be
        read inclusively: both then count the millisecond before), or None when nothing is proved."""
        whole = self._request(self.frm, self.hi)
        exactly = self.asked_exactly
        rest = self._request(end, self.hi)
        if whole.omitted or rest.omitted or self.asked_exactly != exactly or rest.total < whole.total:
            return None
        proved = end if exactly else end - 1
        return proved if proved > self.frm else None

    def _whole_millisecond(self, ms: int, answer: Page, held: dict[str, Any]) -> Page:
        """`answer` (of [frm, top), newest first) holds only events of `ms`, the newest left: put all of `ms` in
        `held` and return the answer for [frm, ms). `ms` holds what the two totals differ by; more than one
        answer holds needs `page` to read, else it cannot be proved."""
        at_ms = {_key(e): e for e in answer.items if _occurred(e) == ms}
        while True:
            exactly = self.asked_exactly
            if ms == self.frm and exactly:  # nothing in [frm, frm)
                older = Page([], 0, False, 0)
                break
            older = self._request(self.frm, ms)
            if self.asked_exactly == exactly:
                break
            # `from` was learned inclusive between the two: count [frm, ms] again the same way
            answer = self._request(self.frm, ms + 1)
            at_ms.update((_key(e), e) for e in answer.items if _occurred(e) == ms)
        if answer.total - older.total > len(at_ms):  # more than in hand: offset pages, or one larger answer
            at_ms.update((_key(e), e) for e in self._read_dense(ms) if _occurred(e) == ms)
        held.update(at_ms)
        return older


def _key(event: Any) -> str:
    return event_id(event) if isinstance(event, dict) else repr(event)


def _older_than(events: list[Any], ms: int) -> int:
    """How many of `events` the next range, from `ms`, no longer counts: those older than `ms`, and those whose
    time cannot be read (the server counts them where it files them: taking them out errs low, which is safe)."""
    return sum(1 for e in events if (_occurred(e) or -1) < ms)


def _descending(occs: list[int]) -> bool:
    return len(occs) > 1 and occs[0] > occs[-1] and occs == sorted(occs, reverse=True)


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds // 60} minutes"
