"""The users stream: `POST /v2/mgmt/user/search` into `descope_raw.users`.

Offset paging over a result set that changes while it is read can skip records, so this stream
reads time windows: a window is accepted only when one page holds all of it (`len == total`),
otherwise it shrinks in proportion to `total`. Each accepted window lands with a checkpoint in the
same commit, so a run stopped by its budget keeps its progress.

One run:
1. **Count** (one one-row request, newest first): Descope's user count and the newest user. The
   server's profile (filter unit, empty-value style, sort honoured) is remembered from earlier
   runs, else probed (`users_profile`); an answer that contradicts a remembered profile makes the
   run probe and start over before anything lands on it.
2. **Incremental pass** over `modifiedTime` from the cursor minus an overlap, then tail passes
   from just before the run started until a pass brings nothing new (a first request that fits
   and brings nothing new is that pass). Skipped when the source
   reports far fewer users than the warehouse holds live (an outage answering `{}`, a wrong
   project): nothing it says can move the cursor.
3. **Full sweep** when one is open, on the first run, with `--full-refresh`, when the last
   accepted sweep is older than `reconcile_days` or was not accepted, or when Descope's count
   differs from the live users the warehouse holds (deletions nobody told us about). The sweep
   walks `createdTime` from 1 s to now (oldest first, each page proved by the next request's count,
   where filters are milliseconds; else windows), then one open-ended window, checkpointing its
   position (`partial`, with a sweep id) after each window so budget-limited runs finish it.
   Then a final incremental pass, and the **reconciliation**: the users landed since the sweep
   began (less those deleted by events, plus records quarantined for lacking an id) must
   account for Descope's count; users the windows cannot reach (no or non-positive
   `createdTime`) are read by an unfiltered pass. A record without an id counts once, by the part
   of the sweep whose `createdTime` range holds it (a window, the open window up to year 9999,
   else the unfiltered pass), in the checkpoint that commits that part. A sweep is accepted (`success`) only when it
   reconciles, proved every dense second, and would not remove more than `max_delete_fraction`
   of the live users (unless that sweep id is confirmed); otherwise it is `incomplete` and dbt
   infers no deletion from it.

Window edges are whole seconds, sent so that they mean the same under every reading of the API
(`from` exclusive or inclusive, `to` inclusive or exclusive, milliseconds or seconds): a window
may return a neighbouring second's users too, which are landed as harmless duplicates.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from descope_sync.contract import RunMode, RunStatus
from descope_sync.descope import Page
from descope_sync.errors import BudgetExhausted, MalformedAnswer, UnprovedRead
from descope_sync.landing.base import SyncRun
from descope_sync.streams.base import StreamContext
from descope_sync.streams.result import StreamResult
from descope_sync.streams.users_profile import (
    NEWEST_FIRST,
    ProfileContradicted,
    ServerProfile,
    check_answer,
    modified_s,
    recall,
)
from descope_sync.sweeps import is_held_sweep, last_accepted_sweep
from descope_sync.timeutil import EPOCH, from_epoch_seconds

log = logging.getLogger(__name__)

STREAM = "users"
TAIL_MARGIN_S = 5
MAX_TAIL_PASSES = 10
MAX_DENSE_PASSES = 5
MAX_EPOCH_S = 253_402_300_799  # 9999-12-31 23:59:59
# Aim windows at this share of a page: high enough to stay near one request per page, low enough
# that random clustering rarely overflows a window (a miss costs one discarded request).
FILL = 0.9
TEN_YEARS_S = 10 * 366 * 86_400
OLDEST_FIRST = [{"field": "createdTime", "desc": False}]


def _epoch_s(value: datetime) -> int:
    return (value - EPOCH) // timedelta(seconds=1)


def _fingerprint(user: Any) -> str:
    return hashlib.sha1(json.dumps(user, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class _SweepState:
    sweep_id: str
    started_at: datetime
    phase: str = "windows"  # windows -> finish
    position: int = 0  # createdTime (epoch s) up to which windows are read
    quarantined: int = 0  # records without a userId seen by the sweep
    unproved: list[str] = field(default_factory=list)  # seconds no paging could prove
    unfiltered_page: int = 0

    def details(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "position": self.position,
            "quarantined": self.quarantined,
            "unproved": self.unproved,
            "unfiltered_page": self.unfiltered_page,
        }

    @classmethod
    def from_row(cls, row: SyncRun) -> _SweepState:
        d = row.details or {}
        return cls(
            sweep_id=row.sweep_id or "",
            started_at=row.sweep_started_at or row.started_at,
            phase=str(d.get("phase", "windows")),
            position=int(d.get("position", 0)),
            quarantined=int(d.get("quarantined", 0)),
            unproved=list(d.get("unproved", [])),
            unfiltered_page=int(d.get("unfiltered_page", 0)),
        )


class _Reader:
    """Requests, landing and counters shared by every pass of one run."""

    def __init__(self, ctx: StreamContext, started_at: datetime) -> None:
        self.ctx = ctx
        self.started_at = started_at
        self.page_size = ctx.settings.users_page_size
        self.profile: ServerProfile | None = None
        self.rows_loaded = 0
        self.rows_quarantined = 0
        self.pages = 0
        self.windows = 0
        self.probes_discarded = 0
        self.dense_windows = 0
        self.tail_passes = 0
        self.recent_from_s: int | None = None
        self.started_s = _epoch_s(started_at)
        self.quiet = False  # the last modified pass was one request, and nobody was modified since the run began
        self.recent_seen: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ requests
    def search(self, body: dict[str, Any], window: tuple[str, int, int | None] | None = None) -> Page:
        """One user search; `window` (field, lo, hi in whole seconds) is what its filter selects."""
        body = {"withTestUser": True, **body}
        profile = self.profile
        answer = self.ctx.client.search_users(
            body,
            require_explicit=bool(profile and profile.fresh and profile.explicit_empty),
            check=_first_page_not_empty if body.get("page", 0) == 0 else None,
        )
        if profile is not None:
            check_answer(profile, *(window or ("", 0, None)), answer)
            if not answer.omitted and answer.total == 0:
                profile.explicit_empty = True  # proved now: from here on an answer lacking them is malformed
        if answer.size_bytes > self.ctx.settings.max_page_bytes and self.page_size > 1:
            # The page is in memory already and lands in byte-bounded chunks; ask for less from now on.
            self.page_size = max(1, self.page_size // 2)
            log.info("users: a %d-byte page; asking for %d users per page", answer.size_bytes, self.page_size)
        return answer

    def window_search(self, field_name: str, lo: int, hi: int | None, **body: Any) -> Page:
        """A search for users whose `field_name` lies in whole seconds [lo, hi] (hi None: no end)."""
        return self.search({**body, **self.bounds(field_name, lo, hi)}, (field_name, lo, hi))

    def count(self, bounds: dict[str, Any] | None = None) -> Page:
        return self.search({"limit": 1, "page": 0, **(bounds or {})})

    def bounds(self, field_name: str, lo: int | None, hi: int | None) -> dict[str, Any]:
        """Filter bounds that select whole seconds [lo, hi] under every reading of the API."""
        prefix = "Modified" if field_name == "modifiedTime" else "Created"
        unit = self.profile.unit if self.profile else "ms"
        body: dict[str, Any] = {}
        if lo is not None:
            body[f"from{prefix}Time"] = lo * 1000 - 1 if unit == "ms" else lo - 1
        if hi is not None:
            body[f"to{prefix}Time"] = hi * 1000 + 999 if unit == "ms" else hi + 1
        return body

    def start(self, remembered: dict[str, Any] | None) -> ServerProfile:
        """Descope's count and the newest user in one request; a probe unless `remembered` holds."""
        self.started_s = _epoch_s(self.ctx.now())
        newest = self.search({"limit": 1, "page": 0, "sort": NEWEST_FIRST})
        if remembered is None:
            return self.probe(newest)
        self.profile = ServerProfile(
            total=newest.total, fresh=False, witness_modified_s=_newest_modified(newest), **remembered
        )
        return self.profile

    def probe(self, newest: Page | None = None) -> ServerProfile:
        self.profile = None
        self.started_s = _epoch_s(self.ctx.now())
        everyone = newest or self.search({"limit": 1, "page": 0, "sort": NEWEST_FIRST})
        now_s = _epoch_s(self.ctx.now())
        # `toCreatedTime = now in seconds` selects everyone when filters are seconds, and only users
        # created in January 1970 when they are milliseconds.
        early = self.count({"toCreatedTime": now_s})
        unit = "s" if everyone.total > 0 and early.total * 2 > everyone.total else "ms"
        answers = [everyone, early]
        if unit == "s":
            answers.append(self.count({"fromCreatedTime": now_s + TEN_YEARS_S}))
        self.profile = ServerProfile(everyone.total, unit, False, probed_at=self.ctx.now())
        # Sort is honoured when nobody was modified after the user a newest-first search returned.
        witness = _newest_modified(everyone)
        if witness is not None and everyone.total > 1:
            later = self.count(self.bounds("modifiedTime", witness + 1, None))
            answers.append(later)
            self.profile.sort_honoured = later.total == 0
        self.profile.explicit_empty = any(not a.omitted and a.total == 0 for a in answers)
        return self.profile

    # ------------------------------------------------------------------ landing
    def _is_recent(self, modified_at: datetime | None) -> bool:
        return self.recent_from_s is not None and modified_at is not None and _epoch_s(modified_at) > self.recent_from_s

    def land(self, users: list[Any], run: SyncRun | None = None, only_unseen: bool = False) -> tuple[int, int]:
        """Append a page (and its checkpoint); returns (rows new to this run's recent set, quarantined)."""
        extracted_at = self.ctx.now()
        rows, quarantined, fresh = [], [], 0
        for user in users:
            user_id = user.get("userId") if isinstance(user, dict) else None
            if not isinstance(user_id, str) or not user_id:
                quarantined.append(
                    {
                        "stream": STREAM,
                        "reason": "user record without a userId" if isinstance(user, dict) else "not an object",
                        "payload": user,
                        "_batch_id": self.ctx.batch_id,
                        "_extracted_at": extracted_at,
                    }
                )
                continue
            modified_at = from_epoch_seconds(user.get("modifiedTime"))
            if self._is_recent(modified_at):
                key = (user_id, _fingerprint(user))
                if key in self.recent_seen:
                    if only_unseen:
                        continue
                else:
                    self.recent_seen.add(key)
                    fresh += 1
            rows.append(
                {
                    "user_id": user_id,
                    "modified_at": modified_at,
                    "payload": user,
                    "_batch_id": self.ctx.batch_id,
                    "_extracted_at": extracted_at,
                }
            )
        if quarantined:
            self.ctx.writer.append("_quarantine", quarantined)
            self.rows_quarantined += len(quarantined)
            log.warning("users: quarantined %d record(s) without a userId", len(quarantined))
        if rows or run is not None:
            appended = self.ctx.writer.append(STREAM, rows, run=run)
            self.rows_loaded += appended.landed
            self.rows_quarantined += appended.quarantined
        self.pages += 1
        self.ctx.progress.page(STREAM, len(rows))
        return fresh, len(quarantined)

    # ------------------------------------------------------------------ keyset
    def keyset_scan(
        self,
        lo: int,
        hi: int,
        *,
        checkpoint: Callable[[int, int], SyncRun | None],
        on_unproved: Callable[[str], None] | None,
    ) -> int:
        """Users whose createdTime lies in whole seconds [lo, hi], read oldest first; returns the
        records without an id counted (as `scan` counts them, which it falls back to).

        A page that does not hold all of [cursor, hi] ends at some second `cut`; the next request
        reads [cut, hi], and [cursor, cut - 1] is accepted only when the page holds as many distinct
        users of it as the two totals say it has (`total` of [cursor, hi] less `total` of [cut, hi]).
        Whether the server honoured the sort decides only how often that proof holds: a page that is
        not in createdTime order, or a proof that fails, hands the rest to `scan`'s windows.
        """
        field_name, quarantined, cursor = "createdTime", 0, lo
        if lo > hi:
            return 0
        answer = self._oldest_first(cursor, hi)
        while True:
            self.ctx.deadline.check()
            if answer.fits:
                q = _without_id_in(answer.items, field_name, cursor, hi)
                self.land(answer.items, run=checkpoint(hi, q))
                self.windows += 1
                return quarantined + q
            if 0 < len(answer.items) < self.page_size:
                log.info(
                    "users: the server returned %d of %d rows per page; using that page size",
                    len(answer.items),
                    self.page_size,
                )
                self.page_size = len(answer.items)
            cut = _keyset_cut(answer.items, field_name)
            if cut is not None and cut <= cursor:  # one second fills the page: its window, then offset pages
                _, q = self.scan(
                    field_name, cursor, cursor, checkpoint=checkpoint, on_unproved=on_unproved, crowded=True
                )
                quarantined, cursor = quarantined + q, cursor + 1
                if cursor > hi:
                    return quarantined
                answer = self._oldest_first(cursor, hi)
                continue
            following = self._oldest_first(cut, hi) if cut is not None else None
            if following is None or len(_keys_in(answer.items, cursor, cut - 1)) != answer.total - following.total:
                log.info("users: createdTime keyset unproved at %d; reading windows from there", cursor)
                self.probes_discarded += 1
                _, q = self.scan(field_name, cursor, hi, checkpoint=checkpoint, on_unproved=on_unproved)
                return quarantined + q
            # The users of the second `cut` come again with the next page: land each once.
            accepted = [u for u in answer.items if not _in_seconds(_field(u, field_name), cut, MAX_EPOCH_S)]
            q = _without_id_in(accepted, field_name, cursor, cut - 1)
            self.land(accepted, run=checkpoint(cut - 1, q))
            self.windows += 1
            quarantined, cursor, answer = quarantined + q, cut, following

    def _oldest_first(self, lo: int, hi: int) -> Page:
        return self.window_search("createdTime", lo, hi, limit=self.page_size, page=0, sort=OLDEST_FIRST)

    # ------------------------------------------------------------------ windows
    def scan(
        self,
        field_name: str,
        lo: int,
        hi: int,
        *,
        checkpoint: Callable[[int, int], SyncRun | None] = lambda _hi, _q: None,
        on_unproved: Callable[[str], None] | None = None,
        only_unseen: bool = False,
        crowded: bool = False,
    ) -> tuple[int, int]:
        """Read every user whose `field_name` lies in whole seconds [lo, hi]; (fresh, without an id).
        `crowded`: [lo, hi] is known to hold more users than a page, so no count sizes the first window.

        After each accepted window [a, b] lands, `checkpoint(b, q)` is committed with it: `q`
        counts the records without a userId whose `field_name` lies in [a, b]. A neighbouring
        second's records that come along (see the module docstring) are landed but counted only
        by their own window, so each is counted once. A second that no paging can prove calls
        `on_unproved(why)`, or raises UnprovedRead.
        """
        fresh = quarantined = 0
        if lo > hi:
            return 0, 0
        span = hi - lo + 1
        # Count first with a one-row page, so the first window is sized from the real density
        # instead of a full page fetched only to learn that it overflows.
        width = span
        if not crowded:
            first = self.window_search(field_name, lo, hi, limit=1, page=0)
            if first.total == 0:
                self.land([], run=checkpoint(hi, 0))
                return 0, 0
            if first.total > FILL * self.page_size:
                width = max(1, int(span * FILL * self.page_size / first.total))
        cursor = lo
        while cursor <= hi:
            self.ctx.deadline.check()
            window_hi = min(hi, cursor + width - 1)
            limit = self.page_size
            answer = self.window_search(field_name, cursor, window_hi, limit=limit, page=0)
            if answer.fits:
                q = _without_id_in(answer.items, field_name, cursor, window_hi)
                f, _ = self.land(answer.items, run=checkpoint(window_hi, q), only_unseen=only_unseen)
                fresh, quarantined = fresh + f, quarantined + q
                self.windows += 1
                cursor = window_hi + 1
                grow = FILL * self.page_size / max(answer.total, 1)
                width = max(1, int(min(max(width, width * grow), width * 4, span)))
                continue
            self.probes_discarded += 1
            if 0 < len(answer.items) < limit:
                log.info(
                    "users: the server returned %d of %d rows per page; using that page size", len(answer.items), limit
                )
                self.page_size = len(answer.items)
            if window_hi == cursor:
                f, q = self._dense(field_name, cursor, checkpoint, on_unproved, only_unseen)
                fresh, quarantined = fresh + f, quarantined + q
                cursor += 1
                continue
            width = max(1, int((window_hi - cursor + 1) * FILL * self.page_size / answer.total))
        return fresh, quarantined

    def _dense(
        self,
        field_name: str,
        second: int,
        checkpoint: Callable[[int, int], SyncRun | None],
        on_unproved: Callable[[str], None] | None,
        only_unseen: bool,
    ) -> tuple[int, int]:
        """More users in one second than a page holds: offset pages, proved by a pass over which the
        count held still and every counted user was seen, else re-read until a pass finds nothing new.

        Offsets past a server's cap are reached from the other end (sorted descending). Each record
        is landed once (records without an id are told apart by their content); those without an
        id in this second are counted in the checkpoint, as in `scan`.
        """
        self.dense_windows += 1
        bounds = self.bounds(field_name, second, second)
        seen: set[str] = set()
        fresh = quarantined = counted = 0
        size = self.page_size

        def read_pass(order: tuple[dict[str, Any], ...]) -> tuple[int, set[int]]:
            nonlocal fresh, quarantined, counted
            new, totals, page = 0, set(), 0
            while True:
                self.ctx.deadline.check()
                body: dict[str, Any] = {"limit": size, "page": page, **bounds}
                if order:
                    body["sort"] = list(order)
                answer = self.search(body, (field_name, second, second))
                counted = answer.total
                totals.add(answer.total)
                unseen = [u for u in answer.items if _key(u) not in seen]
                seen.update(_key(u) for u in unseen)
                if unseen:
                    f, _ = self.land(unseen, only_unseen=only_unseen)
                    fresh, quarantined = fresh + f, quarantined + _without_id_in(unseen, field_name, second, second)
                new += len(unseen)
                if len(answer.items) < size:
                    return new, totals
                page += 1

        for attempt in range(MAX_DENSE_PASSES):
            new, totals = read_pass(())
            if len(seen) < counted:  # offsets capped (or shifted): come from the other end too
                more, other = read_pass(({"field": field_name, "desc": True},))
                new, totals = new + more, totals | other
            # Users only leave a past second (a change moves them to now), and leaving changes the
            # count: a pass over which the count held still and that saw everyone skipped nobody.
            settled = len(totals) == 1 and second < _epoch_s(self.ctx.now()) - 1
            if len(seen) >= counted and ((new == 0 and attempt > 0) or settled):
                self.land([], run=checkpoint(second, quarantined))
                return fresh, quarantined
        why = (
            f"Descope counts {counted} users with {field_name} in the second "
            f"{(EPOCH + timedelta(seconds=second)).isoformat(sep=' ')} UTC but paging reached only {len(seen)}"
        )
        if on_unproved is None:
            raise UnprovedRead(why)
        on_unproved(why)
        self.land([], run=checkpoint(second, quarantined))
        return fresh, quarantined

    # ------------------------------------------------------------------ modified passes
    def modified_pass(self, lo: int, *, checkpoint: Callable[[int | None, int], SyncRun]) -> int:
        """Every user modified from `lo` (epoch s) on, then tail passes until one brings nothing new.

        `checkpoint(cursor_to, position)` builds the row committed with each window: everything
        modified up to `cursor_to` (epoch s) is landed. Returns the watermark the pass proved.
        """
        now_s = _epoch_s(self.ctx.now())
        self.recent_from_s = _epoch_s(self.started_at) - TAIL_MARGIN_S
        hi = now_s + 2

        def window_checkpoint(window_hi: int, _without_id: int) -> SyncRun:
            # A window ending in the future proves nothing past now.
            return checkpoint(min(window_hi, _epoch_s(self.ctx.now()) - 1), window_hi)

        # One request up to the end of year 9999 first: in a quiet tenant it reads everything, and
        # when it brings nobody modified since the run began it is itself the pass that brings nothing
        # new, so no tail pass follows. Under a remembered profile its proof starts at the witness
        # request (see users_profile.check_answer).
        pass_started = now_s if self.profile is None or self.profile.fresh else min(now_s, self.started_s)
        answer = self.window_search("modifiedTime", lo, MAX_EPOCH_S, limit=self.page_size, page=0)
        if answer.fits:
            self.windows += 1
            fresh, _ = self.land(answer.items, run=checkpoint(pass_started - 1, hi))
            if fresh == 0:
                self.tail_passes = 0
                # Quiet: nobody at all (landed before or not) modified since just before the run began.
                self.quiet = not any(
                    self._is_recent(from_epoch_seconds(_field(u, "modifiedTime"))) for u in answer.items
                )
                return pass_started - 1
        else:
            self.probes_discarded += 1
            self.scan("modifiedTime", lo, hi, checkpoint=window_checkpoint)
        # Tail: whatever changed while we paged, until a whole pass brings nothing new. Open-ended on
        # purpose: a change applied while a pass waits out a retry still lands in its answer.
        tail_lo = self.recent_from_s - 1
        passes = 0
        pass_started = now_s
        for passes in range(1, MAX_TAIL_PASSES + 1):  # noqa: B007 - reported below
            pass_started = _epoch_s(self.ctx.now())
            fresh, _ = self.open_scan("modifiedTime", tail_lo, only_unseen=True)
            if fresh == 0:
                break
        self.tail_passes = passes
        # Everything modified before the last pass began was visible to it: a safe watermark even
        # when the source never stops changing (the next run re-reads from here minus the overlap).
        return pass_started - 1

    def open_scan(self, field_name: str, lo: int, *, only_unseen: bool = False) -> tuple[int, int]:
        """[lo, end of time): one open-ended request when it fits, else bounded windows up to the end
        of year 9999 (what lies past it only an unfiltered pass reads).

        Returns (fresh, records without an id whose `field_name` lies in [lo, MAX_EPOCH_S]): the same
        range whether the request fit or not, so a caller knows which records it counted.
        """
        answer = self.window_search(field_name, lo, None, limit=self.page_size, page=0)
        if answer.fits:
            fresh, _ = self.land(answer.items, only_unseen=only_unseen)
            return fresh, _without_id_in(answer.items, field_name, lo, MAX_EPOCH_S)
        now_s = _epoch_s(self.ctx.now()) + 2
        fresh, quarantined = self.scan(field_name, lo, max(now_s, lo), only_unseen=only_unseen)
        if now_s < MAX_EPOCH_S:
            f, q = self.scan(field_name, now_s + 1, MAX_EPOCH_S, only_unseen=only_unseen)
            fresh, quarantined = fresh + f, quarantined + q
        return fresh, quarantined

    # ------------------------------------------------------------------ unfiltered pass
    def unfiltered_pass(self, state: _SweepState, windows: tuple[int, int], checkpoint: Callable[[], SyncRun]) -> None:
        """Offset pages over every user, landing those the sweep's createdTime `windows` did not read.

        Records without an id are counted only when their createdTime is no whole second in
        [1, MAX_EPOCH_S]: the windows and the open window counted the others. Each page's count
        goes into the checkpoint committed with it; a record a shifted offset brings twice in one
        run is counted once.
        """
        lo, hi = windows
        counted: set[str] = set()
        while True:
            self.ctx.deadline.check()
            answer = self.search({"limit": self.page_size, "page": state.unfiltered_page})
            if not answer.items:
                break
            outside = [u for u in answer.items if not _in_seconds(_field(u, "createdTime"), lo, hi)]
            for user in outside:
                if not _has_id(user) and not _in_seconds(_field(user, "createdTime"), 1, MAX_EPOCH_S):
                    key = _key(user)
                    if key not in counted:
                        counted.add(key)
                        state.quarantined += 1
            state.unfiltered_page += 1
            self.land(outside, run=checkpoint())
            if len(answer.items) < self.page_size:
                break


def _key(user: Any) -> str:
    """A user's id; for a record without one, its content."""
    return user["userId"] if _has_id(user) else "?" + _fingerprint(user)


def _has_id(user: Any) -> bool:
    """What `_Reader.land` lands; anything else it quarantines."""
    return isinstance(user, dict) and isinstance(user.get("userId"), str) and user["userId"] != ""


def _field(user: Any, name: str) -> Any:
    return user.get(name) if isinstance(user, dict) else None


def _in_seconds(value: Any, lo: int, hi: int) -> bool:
    """`value` is an integer time (epoch s) in [lo, hi]."""
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _without_id_in(users: list[Any], field_name: str, lo: int, hi: int) -> int:
    """How many of `users` lack a userId and have `field_name` in whole seconds [lo, hi]."""
    return sum(1 for u in users if not _has_id(u) and _in_seconds(_field(u, field_name), lo, hi))


def _keyset_cut(users: list[Any], field_name: str) -> int | None:
    """The last user's `field_name` (epoch s) when every user has one and they are in order, else None."""
    values = [_field(u, field_name) for u in users]
    if not values or not all(_in_seconds(v, 1, MAX_EPOCH_S) for v in values):
        return None
    return values[-1] if all(a <= b for a, b in itertools.pairwise(values)) else None


def _keys_in(users: list[Any], lo: int, hi: int) -> set[str]:
    """The distinct users (records without an id told apart by content) with createdTime in [lo, hi]."""
    return {_key(u) for u in users if _in_seconds(_field(u, "createdTime"), lo, hi)}


def _newest_modified(answer: Page) -> int | None:
    return modified_s(answer.items[0]) if answer.items else None


def _first_page_not_empty(answer: Page) -> None:
    if answer.total and not answer.items:
        raise MalformedAnswer(f"page 0 is empty but 'total' is {answer.total}")


# ---------------------------------------------------------------------- the run
def run(ctx: StreamContext) -> StreamResult:
    settings = ctx.settings
    writer = ctx.writer
    started_at = ctx.now()
    reader = _Reader(ctx, started_at)
    result = StreamResult(STREAM, details={})
    cursor = writer.latest_cursor(STREAM)
    confirmed = settings.confirm_deletions_sweep_id
    last_success = writer.last_run(STREAM, statuses=[RunStatus.SUCCESS])
    remembered = recall(last_success.details if last_success else None, started_at)
    collapsed = False
    try:
        try:
            collapsed = _run_passes(ctx, reader, result, cursor, confirmed, remembered)
        except ProfileContradicted as exc:
            # Raised before the contradicting answer landed or moved anything: probe and start over.
            log.warning("users: %s; the remembered server profile is wrong, probing again", exc)
            result.details["profile_contradicted"] = str(exc)
            collapsed = _run_passes(ctx, reader, result, cursor, confirmed, None)
    except BudgetExhausted as exc:
        result.status = RunStatus.PARTIAL
        result.message = f"users stopped: {exc}; progress is committed and the next run continues from there"
        ctx.progress.note(result.message)
    except UnprovedRead as exc:
        result.status = RunStatus.INCOMPLETE
        result.message = f"users: {exc}; the cursor stays before it"
        writer.record_run(
            ctx.run_row(
                RunStatus.INCOMPLETE,
                started_at,
                rows_loaded=reader.rows_loaded,
                error=result.message,
            )
        )
    else:
        if collapsed and result.status == RunStatus.SUCCESS:
            result.status = RunStatus.INCOMPLETE
    _fill(result, reader)
    if result.status == RunStatus.SUCCESS:
        ctx.progress.done(STREAM)
    return result


def _run_passes(
    ctx: StreamContext,
    reader: _Reader,
    result: StreamResult,
    cursor: datetime | None,
    confirmed: str | None,
    remembered: dict[str, Any] | None,
) -> bool:
    """The count, the incremental pass and, when due, the sweep; True when Descope's count collapsed."""
    settings, writer, started_at = ctx.settings, ctx.writer, reader.started_at
    profile = reader.start(remembered)
    result.details.update(source_total=profile.total, filter_unit=profile.unit, profile_probed=profile.fresh)
    accepted = last_accepted_sweep(writer, confirmed)
    accepted_start = accepted.sweep_started_at if accepted else None
    live = writer.live_user_count(accepted_start)
    collapsed = live > 0 and profile.total < (1 - settings.max_delete_fraction) * live
    result.details["warehouse_live_users"] = live
    if collapsed:
        result.message = (
            f"users: Descope reports {profile.total} users but the warehouse holds {live} live: an outage, "
            "a wrong project ID, or a mass deletion; the cursor does not move and nobody is deleted"
        )
        log.warning(result.message)
    if cursor is not None and not collapsed:
        result.details["mode"] = "incremental"
        watermark = reader.modified_pass(
            _epoch_s(cursor) - settings.users_overlap_seconds,
            checkpoint=lambda cursor_to, _pos: _incremental_row(ctx, started_at, cursor, cursor_to),
        )
        result.cursor_from = cursor
        result.cursor_to = _at(watermark)
        row = _incremental_row(ctx, started_at, cursor, watermark, RunStatus.SUCCESS)
        row.details = {"profile": reader.profile.remembered()}
        ctx.writer.record_run(row)
        result.details["tail_passes"] = reader.tail_passes

    reason = _sweep_reason(ctx, reader, cursor, accepted, confirmed, collapsed)
    if reason is not None:
        result.details["mode"] = "full"
        result.details["sweep_reason"] = reason
        if not reader.profile.fresh:
            reader.probe()  # a sweep is long and decides deletions: never on a remembered reading
        ctx.progress.expect(STREAM, reader.rows_loaded + reader.profile.total)  # a sweep reads every user
        _sweep(ctx, reader, result, accepted_start, collapsed)
    return collapsed


def _at(epoch_s: int) -> datetime:
    return EPOCH + timedelta(seconds=epoch_s)


def _incremental_row(
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
        cursor_to=_at(cursor_to_s) if cursor_to_s is not None else None,
    )


def _sweep_reason(
    ctx: StreamContext,
    reader: _Reader,
    cursor: datetime | None,
    accepted: SyncRun | None,
    confirmed: str | None,
    collapsed: bool,
) -> str | None:
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
    age = ctx.now() - (accepted.finished_at or accepted.started_at)
    if age > timedelta(days=settings.reconcile_days):
        return f"the last reconciled sweep is {age.days} days old"
    if collapsed:
        return "Descope's count collapsed"
    unlandable = int(accepted.details.get("quarantined", 0))
    # After a quiet pass (one request, nobody modified since the run began) the run's first count
    # still holds; otherwise count again, after what the pass landed.
    total = reader.profile.total if reader.quiet else reader.count().total
    live = writer.live_user_count(accepted.sweep_started_at)
    if total != live + unlandable:
        return f"Descope counts {total} users, the warehouse holds {live} live"
    return None


def _sweep(
    ctx: StreamContext,
    reader: _Reader,
    result: StreamResult,
    accepted_start: datetime | None,
    collapsed: bool,
) -> None:
    writer, settings = ctx.writer, ctx.settings
    latest = writer.last_run(STREAM, mode=RunMode.FULL, in_sweep=True)
    if latest is not None and latest.status == RunStatus.PARTIAL and latest.sweep_id:
        state = _SweepState.from_row(latest)
    else:
        state = _SweepState(sweep_id=uuid.uuid4().hex, started_at=reader.started_at)
    result.details["sweep_id"] = state.sweep_id

    def row(status: RunStatus = RunStatus.PARTIAL, **extra: Any) -> SyncRun:
        return ctx.run_row(
            status,
            reader.started_at,
            mode=RunMode.FULL,
            sweep_id=state.sweep_id,
            sweep_started_at=state.started_at,
            details=state.details(),
            **extra,
        )

    def at_position(position: int, without_id: int) -> SyncRun:
        # The row commits with the window it follows: its records without an id count from then on.
        state.position = position
        state.quarantined += without_id
        return row()

    def unproved(why: str) -> None:
        state.unproved.append(why)
        log.warning("users: %s", why)

    # Records without an id are counted once each, by the part of the sweep whose createdTime range
    # holds them, in the row that commits that part: a window of [1, window_end], the open window
    # (window_end, MAX_EPOCH_S], else (no such createdTime) the unfiltered pass.
    window_end = _epoch_s(state.started_at) + 2
    if state.phase == "windows":
        # Oldest first where filters are milliseconds (whole seconds then read the same under every
        # inclusivity of the bounds, which the keyset proof relies on); windows where they are seconds.
        read = reader.keyset_scan if reader.profile.unit == "ms" else partial(reader.scan, "createdTime")
        read(max(1, state.position + 1), window_end, checkpoint=at_position, on_unproved=unproved)
        # Users created "in the future" (clock skew, imports) lie past the windows: one open request.
        # Its records without an id count in the row that ends the phase; a run stopped before it
        # reads the open window again.
        _, q = reader.open_scan("createdTime", window_end + 1)
        state.quarantined += q
        state.phase = "finish"
        writer.record_run(row())

    # Finish: what changed during the sweep, then prove the count.
    # Modifications before the sweep began are in the windows (read after it began), and those the
    # cursor covers were landed by passes after it began: read from the later of the two.
    cursor = writer.latest_cursor(STREAM)
    lo = _epoch_s(state.started_at) - TAIL_MARGIN_S
    if cursor is not None:
        lo = max(lo, _epoch_s(cursor) - settings.users_overlap_seconds)
    watermark = reader.modified_pass(lo, checkpoint=lambda _cursor_to, _pos: row())
    # Counted again even after a quiet pass: a user imported behind the sweep without a
    # modifiedTime is seen by no pass, only by a count taken after the sweep.
    source_total = reader.count().total
    seen = writer.live_user_count(state.started_at)
    if seen + state.quarantined < source_total:
        reader.unfiltered_pass(state, (1, window_end), checkpoint=row)
        seen = writer.live_user_count(state.started_at)
        source_total = reader.count().total
    reconciled = seen + state.quarantined >= source_total and not state.unproved
    live_before = writer.live_user_count(accepted_start)
    would_remove = max(0, live_before - seen)
    limit = settings.max_delete_fraction * live_before
    held = (
        reconciled
        and live_before > 0
        and would_remove > limit
        and state.sweep_id != settings.confirm_deletions_sweep_id
    )
    reason = None
    if state.unproved:
        reason = "; ".join(state.unproved[:3])
    elif not reconciled:
        reason = (
            f"the sweep landed {seen} live users (+{state.quarantined} without an id) but Descope counts {source_total}"
        )
    elif held:
        reason = (
            f"the sweep would remove {would_remove} of {live_before} live users (more than "
            f"{settings.max_delete_fraction:.0%}); if that is right, confirm it with "
            f"DESCOPE_CONFIRM_DELETIONS_SWEEP_ID={state.sweep_id} or "
            f"dbt build --vars '{{confirm_deletions_sweep_id: {state.sweep_id}}}'"
        )
    status = RunStatus.SUCCESS if reconciled and not held and not collapsed else RunStatus.INCOMPLETE
    details = state.details() | {
        "phase": "done",
        "reconciled": reconciled,
        "held": held,
        "would_remove": would_remove,
        "live_before": live_before,
        "source_total": source_total,
        "users_seen": seen,
        "reason": reason,
    }
    terminal = row(status, cursor_to=None if collapsed else _at(watermark), error=reason)
    terminal.details = details | {"profile": reader.profile.remembered()}
    writer.record_run(terminal)
    result.details.update({k: details[k] for k in ("reconciled", "held", "would_remove", "users_seen")})
    if not collapsed:
        result.cursor_to = _at(watermark)
    if status != RunStatus.SUCCESS:
        result.status = RunStatus.INCOMPLETE
        result.message = f"users: full sweep {state.sweep_id} is incomplete: {reason or 'the source collapsed'}"
        log.warning(result.message)


def _fill(result: StreamResult, reader: _Reader) -> None:
    result.rows_loaded = reader.rows_loaded
    result.rows_quarantined = reader.rows_quarantined
    result.pages = reader.pages
    result.details.update(
        windows=reader.windows,
        probes_discarded=reader.probes_discarded,
        dense_windows=reader.dense_windows,
        effective_page_size=reader.page_size,
    )
