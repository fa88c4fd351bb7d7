"""Reading every user whose time lies in an interval: windows, the createdTime keyset, the open
window (docs/design.md, "Windows" and "Keyset")."""

from __future__ import annotations

import logging
from collections.abc import Callable

from descope_sync.descope import Page
from descope_sync.streams.users.dense_seconds import Checkpoint, read_dense_second
from descope_sync.streams.users.records import (
    MAX_EPOCH_S,
    epoch_s,
    field,
    in_seconds,
    keys_in,
    keyset_cut,
    without_id_in,
)
from descope_sync.streams.users.session import Session

log = logging.getLogger("descope_sync.streams.users")

# Aim windows at this share of a page: high enough to stay near one request per page, low enough
# that random clustering rarely overflows a window (a miss costs one discarded request).
FILL = 0.9
CREATED = "createdTime"
OLDEST_FIRST = [{"field": CREATED, "desc": False}]


def _no_checkpoint(_hi: int, _without_id: int) -> None:
    return None


def scan(
    session: Session,
    field_name: str,
    lo: int,
    hi: int,
    *,
    checkpoint: Checkpoint = _no_checkpoint,
    on_unproved: Callable[[str], None] | None = None,
    only_unseen: bool = False,
    crowded: bool = False,
) -> tuple[int, int]:
    """Every user whose `field_name` lies in whole seconds [lo, hi], in windows; (fresh, without an id).

    Each accepted window [a, b] lands with `checkpoint(b, q)`, `q` the records without a userId
    whose `field_name` lies in [a, b]. `crowded`: [lo, hi] holds more than a page (no sizing count).
    """
    if lo > hi:
        return 0, 0
    span = hi - lo + 1
    width = span if crowded else _first_width(session, field_name, lo, hi, checkpoint)
    fresh = quarantined = 0
    cursor = lo
    while width and cursor <= hi:
        session.ctx.deadline.check()
        window_hi = min(hi, cursor + width - 1)
        limit = session.page_size
        answer = session.window_search(field_name, cursor, window_hi, limit=limit, page=0)
        if answer.fits:
            f, q = _accept(session, field_name, cursor, window_hi, answer, checkpoint, only_unseen)
            width = _grown(session, width, span, answer.total)
        else:
            session.probes_discarded += 1
            session.learn_page_size(answer, limit)
            if window_hi > cursor:
                width = _sized(session, window_hi - cursor + 1, answer.total)
                continue
            f, q = read_dense_second(session, field_name, cursor, checkpoint, on_unproved, only_unseen)
        fresh, quarantined, cursor = fresh + f, quarantined + q, window_hi + 1
    return fresh, quarantined


def _first_width(session: Session, field_name: str, lo: int, hi: int, checkpoint: Checkpoint) -> int:
    """The first window's width, from a one-row count of [lo, hi]; 0 (committed) when nobody is there."""
    first = session.window_search(field_name, lo, hi, limit=1, page=0)
    if first.total == 0:
        session.land([], run=checkpoint(hi, 0))
        return 0
    span = hi - lo + 1
    return _sized(session, span, first.total) if first.total > FILL * session.page_size else span


def _sized(session: Session, width: int, total: int) -> int:
    """A width holding FILL of a page, were `total` users spread evenly over `width` seconds."""
    return max(1, int(width * FILL * session.page_size / total))


def _grown(session: Session, width: int, span: int, total: int) -> int:
    """The next window after one of `width` seconds held `total`: towards FILL of a page, at most 4x."""
    grow = FILL * session.page_size / max(total, 1)
    return max(1, int(min(max(width, width * grow), width * 4, span)))


def _accept(
    session: Session,
    field_name: str,
    lo: int,
    hi: int,
    answer: Page,
    checkpoint: Checkpoint,
    only_unseen: bool = False,
) -> tuple[int, int]:
    """Land a window [lo, hi] one page holds, with its checkpoint; (fresh, without an id)."""
    without_id = without_id_in(answer.items, field_name, lo, hi)
    fresh, _ = session.land(answer.items, run=checkpoint(hi, without_id), only_unseen=only_unseen)
    session.windows += 1
    return fresh, without_id


def keyset_scan(
    session: Session,
    lo: int,
    hi: int,
    *,
    checkpoint: Checkpoint,
    on_unproved: Callable[[str], None] | None,
) -> int:
    """Users whose createdTime lies in whole seconds [lo, hi], oldest first, each page proved by the
    next request's total; returns the records without an id counted (as `scan`, its fallback)."""
    if lo > hi:
        return 0
    quarantined, cursor = 0, lo
    answer = _oldest_first(session, cursor, hi)
    while True:
        session.ctx.deadline.check()
        if answer.fits:
            return quarantined + _accept(session, CREATED, cursor, hi, answer, checkpoint)[1]
        session.learn_page_size(answer, session.page_size)
        cut = keyset_cut(answer.items, CREATED)
        if cut is not None and cut <= cursor:  # one second fills the page: its window, then offset pages
            read = scan(session, CREATED, cursor, cursor, checkpoint=checkpoint, on_unproved=on_unproved, crowded=True)
            quarantined, cursor = quarantined + read[1], cursor + 1
            if cursor > hi:
                return quarantined
            answer = _oldest_first(session, cursor, hi)
            continue
        following = _following_if_proved(session, answer, cursor, cut, hi)
        if following is None:
            log.info("users: createdTime keyset unproved at %d; reading windows from there", cursor)
            session.probes_discarded += 1
            return quarantined + scan(session, CREATED, cursor, hi, checkpoint=checkpoint, on_unproved=on_unproved)[1]
        quarantined += _accept_before_cut(session, answer, cursor, cut, checkpoint)
        cursor, answer = cut, following


def _oldest_first(session: Session, lo: int, hi: int) -> Page:
    return session.window_search(CREATED, lo, hi, limit=session.page_size, page=0, sort=OLDEST_FIRST)


def _following_if_proved(session: Session, answer: Page, cursor: int, cut: int | None, hi: int) -> Page | None:
    """The page of [cut, hi], when its total proves `answer` holds every user of [cursor, cut - 1]."""
    if cut is None:
        return None
    following = _oldest_first(session, cut, hi)
    proved = len(keys_in(answer.items, cursor, cut - 1)) == answer.total - following.total
    return following if proved else None


def _accept_before_cut(session: Session, answer: Page, cursor: int, cut: int, checkpoint: Checkpoint) -> int:
    """Land [cursor, cut - 1] of a proved page (the second `cut` comes again with the next page)."""
    accepted = [u for u in answer.items if not in_seconds(field(u, CREATED), cut, MAX_EPOCH_S)]
    without_id = without_id_in(accepted, CREATED, cursor, cut - 1)
    session.land(accepted, run=checkpoint(cut - 1, without_id))
    session.windows += 1
    return without_id


def open_scan(session: Session, field_name: str, lo: int, *, only_unseen: bool = False) -> tuple[int, int]:
    """[lo, end of time): one open-ended request when it fits, else windows up to the end of year 9999.

    Returns (fresh, records without an id whose `field_name` lies in [lo, MAX_EPOCH_S]) either way.
    """
    answer = session.window_search(field_name, lo, None, limit=session.page_size, page=0)
    if answer.fits:
        fresh, _ = session.land(answer.items, only_unseen=only_unseen)
        return fresh, without_id_in(answer.items, field_name, lo, MAX_EPOCH_S)
    now_s = epoch_s(session.ctx.now()) + 2
    fresh, quarantined = scan(session, field_name, lo, max(now_s, lo), only_unseen=only_unseen)
    if now_s < MAX_EPOCH_S:
        f, q = scan(session, field_name, now_s + 1, MAX_EPOCH_S, only_unseen=only_unseen)
        fresh, quarantined = fresh + f, quarantined + q
    return fresh, quarantined
