"""Reading `[frm, end)` of audit search: requests, the proofs every answer must pass, landing, keyset pages
(oldest first) and full milliseconds; newest-first servers are read by :mod:`.newest_first`."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Any

from descope_sync.contract import AUDIT_RETENTION_DAYS, RunStatus, event_id
from descope_sync.descope import Page
from descope_sync.errors import MalformedAnswer, UnprovedRead
from descope_sync.landing.base import AuditAnchor
from descope_sync.streams.audit.backlog import DESCOPE_AUDIT_SEARCHES_PER_MINUTE, backlog_estimate
from descope_sync.streams.audit.dense import DenseMillisecondReading
from descope_sync.streams.audit.newest_first import NewestFirstReading
from descope_sync.streams.audit.rows import STREAM, descending, event_key, occurred_ms, older_than, to_landing_row
from descope_sync.streams.base import StreamContext
from descope_sync.streams.result import StreamResult
from descope_sync.timeutil import from_ms, to_ms

log = logging.getLogger("descope_sync.streams.audit_events")

# Events this close to the retention edge may expire between two requests (a rate-limit wait), so a
# page's total may drop by what expired: the chain of totals is not checked there.
EXPIRY_SLACK = timedelta(minutes=10)


class AuditScan(NewestFirstReading, DenseMillisecondReading):
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
        self.backlog_said = False  # the backlog's expected duration is logged once
        self.remaining: int | None = None  # events left in the window, as the last answer counted them
        self.loaded_at_last_count = 0  # rows landed when it counted them

    def _expect(self, remaining: int) -> None:
        """Progress: `remaining` events left in the window; the first time, how long they take at Descope's limits."""
        self.remaining = remaining
        self.loaded_at_last_count = self.result.rows_loaded
        self.ctx.progress.expect(STREAM, self.result.rows_loaded + remaining)
        if self.backlog_said:
            return
        self.backlog_said = True
        searches = math.ceil(remaining / max(1, self.page_size))
        if searches > DESCOPE_AUDIT_SEARCHES_PER_MINUTE:  # more than a minute of reading: say how long
            log.info(
                "audit_events: %s", backlog_estimate(remaining, self.page_size, self.started_at - from_ms(self.frm))
            )

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
        if page == 0 and (lo, hi) == (self.frm, self.end) and not answer.omitted:
            self._expect(answer.total)
        self.asked_exactly = self.from_inclusive
        if len(answer.items) > size:
            # More events than asked: the server ignores `size` and serves a fixed number an answer.
            if self.sizing is not False:
                log.info("audit_events: Descope ignores 'size' and serves %d events an answer", len(answer.items))
            self.sizing = False
            if not answer.fits:
                self.page_size = len(answer.items)
        if not self.from_inclusive and any(occurred_ms(e) == asked_from for e in answer.items):
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
        occs = [o for o in map(occurred_ms, answer.items) if o is not None]
        if answer.fits:
            covers = True
        elif descending(occs) and page_is_first:  # the newest events: all of them newer than its oldest
            covers = min(occs) < a
        elif descending(occs):  # newest first: a later page holds a slice of time
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
                if event_key(event) in self.quarantined:  # read again (a tie re-read, a window walked back)
                    continue
                self.quarantined.add(event_key(event))
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
        self.edge_ids |= {event_id(e) for e in events if occurred_ms(e) == new_frm}
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
            occs = [o for o in map(occurred_ms, answer.items) if o is not None]
            if answer.fits:
                if not answer.items and answer.omitted and not self._empty_since_claim():
                    self._unproved_empty()
                    return
                self._land(answer.items, from_ms(self.hi), in_range_from=self.frm)
            elif descending(occs):
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
                    known = self._known(answer.total - older_than(answer.items, last))
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
        dense = (ms, sum(1 for e in events if occurred_ms(e) == ms))
        if ms == self.frm:  # nothing in the range is older
            self.claimed = dense
            self._land(events, from_ms(ms + 1), in_range_from=self.frm)
            self._advance(ms + 1, events)
            return self._after(window, len(events), self.asked_exactly)
        probe = self._request(self.frm, ms + 1)
        asked_from = self.frm if self.asked_exactly else self.frm - 1
        in_hand = {event_key(e): e for e in [*events, *probe.items]}  # records without a usable time: quarantined
        counted = [e for e in in_hand.values() if asked_from <= (occurred_ms(e) or ms) <= ms]
        if probe.total <= len(counted):  # every event of [frm, ms] is in hand: `ms` was the oldest
            self.claimed = dense
            self._land(list(in_hand.values()), from_ms(ms + 1), in_range_from=self.frm)
            self._advance(ms + 1, list(in_hand.values()))
            return self._after(window, probe.total, self.asked_exactly)
        # Events older than `ms` remain (a newest-first server): they come first; the cursor stays before them.
        self._land([e for e in events if occurred_ms(e) in (ms, None)], None, in_range_from=self.frm)
        self.waiting.append((self.hi, self._after(window, probe.total, self.asked_exactly), dense))
        self.hi = ms
        # Only the older events in hand are surely there: events of `ms` may have arrived since they were read.
        return self._known(sum(1 for e in counted if (occurred_ms(e) or ms) < ms))

    def _after(self, window: tuple[int, bool], below: int, exactly: bool) -> tuple[int, bool]:
        """What is known to remain of a range counted `window` past `below` events at its start, counted (or
        seen) since, asking `from` `exactly` or not: a lower bound, since events only arrive. Nothing is known
        when the two asked `from` differently (one counts the millisecond before the range, one not)."""
        count, asked_exactly = window
        if exactly != asked_exactly:
            return 0, self.from_inclusive
        return max(0, count - below), asked_exactly
