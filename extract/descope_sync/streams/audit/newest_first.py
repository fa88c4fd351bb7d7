"""Newest-first audit servers (ignoring `oldestFirst`): the tail page by `page` while the server shows it
honours it, else time windows read with `from` and `to` alone, each walked back from its end."""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from typing import Any

from descope_sync.contract import AUDIT_RETENTION_DAYS
from descope_sync.descope import Page
from descope_sync.errors import UnprovedRead
from descope_sync.streams.audit.rows import event_key, occurred_ms, older_than
from descope_sync.timeutil import from_ms, to_ms

log = logging.getLogger("descope_sync.streams.audit_events")

# A newest-first server that ignores `page` is read by time windows aimed at this many answers' worth of events
# (a whole number of answers each walk, and what a budget stop loses); one holding more is narrowed first.
WINDOW_ANSWERS = 3.85
MAX_WALK_ANSWERS = 8
MAX_ANSWER = 1000  # the most events Descope serves in one answer
MAX_TOTAL_SHIFTS = 8  # consecutive answers whose total moved under us before we give up


class NewestFirstReading:
    """The newest-first readers of :class:`.scan.AuditScan` (its state and requests)."""

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
        newest = event_key(first.items[0])  # on any page but page 0 only if the server ignores `page`
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
            if any(event_key(e) == newest for e in answer.items):
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
            occs = [o for o in map(occurred_ms, answer.items) if o is not None]
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
                self.claimed = (newest, sum(1 for e in events if occurred_ms(e) == newest))
                self._land(events, from_ms(newest + 1), in_range_from=self.frm)
                self._advance(newest + 1, events)
                seen = {event_key(e) for e in [*events, *answer.items] if (occurred_ms(e) or newest) <= newest}
                known = self._after(tail, len(seen), self.asked_exactly)
                total = self._request(self.frm, self.hi, min_total=self._floor(known)).total
                known = self._known(total)
                continue
            self._land(answer.items, from_ms(newest), in_range_from=self.frm)
            # Everything older than the page's newest event is in this page (it is the tail).
            total -= older_than(answer.items, newest)
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
        counted, exactly = answer.total, self.asked_exactly
        while not answer.fits:
            self.ctx.deadline.check()
            occs = [o for o in map(occurred_ms, answer.items) if o is not None]
            if not occs or occs != sorted(occs, reverse=True):
                raise UnprovedRead("an audit answer that is not newest first from a server that was; nothing is proved")
            oldest = occs[-1]
            if oldest < self.frm:  # it reaches the millisecond before ours: all of [frm, top) is in it
                break
            newer = [
                e for e in answer.items if occurred_ms(e) is None or occurred_ms(e) > oldest
            ]  # (untimed: quarantined)
            held.update((event_key(e), e) for e in newer)
            if occs[0] > oldest:
                known = self._known(answer.total - len(newer))
                top = oldest + 1  # ties at `oldest` are read again, and kept once by id
                answer = self._request(self.frm, top, min_total=self._floor(known))
                continue
            # Every event it could time is of `oldest`, the newest millisecond left: read it whole, then older ones.
            try:
                answer = self._whole_millisecond(oldest, answer, held)
            except UnprovedRead:
                if oldest > self.frm:  # land what is older first: the cursor reaches the millisecond it cannot read
                    self._walk_window(oldest)
                raise
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
        events = list({**held, **{event_key(e): e for e in answer.items}}.values())
        if len(events) < counted and self.asked_exactly == exactly and not self._expired(self.frm):
            # Events only arrive (none can have expired since the window starts inside the retention): the walk
            # must have found every event its first answer counted.
            raise UnprovedRead(
                f"a walk over {from_ms(self.frm).isoformat(sep=' ')}..{from_ms(end).isoformat(sep=' ')} UTC found "
                f"{len(events)} of the {counted} audit events its first answer counted; the cursor stays before it"
            )
        self._land(events, from_ms(end), in_range_from=self.frm)
        self._advance(end, [])
        return len(events)

    def _expired(self, ms: int) -> bool:
        """Whether events at `ms` may have left Descope's retention by now."""
        return ms < to_ms(self.ctx.now() - timedelta(days=AUDIT_RETENTION_DAYS))

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
        at_ms = {event_key(e): e for e in answer.items if occurred_ms(e) == ms}
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
            at_ms.update((event_key(e), e) for e in answer.items if occurred_ms(e) == ms)
        if answer.total - older.total > len(at_ms):  # more than in hand: offset pages, or one larger answer
            at_ms.update((event_key(e), e) for e in self._read_dense(ms) if occurred_ms(e) == ms)
        held.update(at_ms)
        return older
