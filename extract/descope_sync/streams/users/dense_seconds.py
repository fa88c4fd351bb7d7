"""A second holding more users than a page: offset pages until a pass proves it (docs/design.md,
"Dense seconds")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from descope_sync.errors import UnprovedRead
from descope_sync.landing.base import SyncRun
from descope_sync.streams.users.records import at, epoch_s, key, without_id_in
from descope_sync.streams.users.session import Session

MAX_DENSE_PASSES = 5

Checkpoint = Callable[[int, int], SyncRun | None]


def read_dense_second(
    session: Session,
    field_name: str,
    second: int,
    checkpoint: Checkpoint,
    on_unproved: Callable[[str], None] | None,
    only_unseen: bool,
) -> tuple[int, int]:
    """Every user whose `field_name` is `second`; (fresh, records without an id), as `reader.scan` counts.
    A second no pass proves calls `on_unproved(why)`, or raises UnprovedRead."""
    session.dense_windows += 1
    dense = _DenseSecond(session, field_name, second, only_unseen)
    if not dense.proved():
        why = (
            f"Descope counts {dense.counted} users with {field_name} in the second "
            f"{at(second).isoformat(sep=' ')} UTC but paging reached only {len(dense.seen)}"
        )
        if on_unproved is None:
            raise UnprovedRead(why)
        on_unproved(why)
    session.land([], run=checkpoint(second, dense.quarantined))
    return dense.fresh, dense.quarantined


class _DenseSecond:
    """The passes over one dense second, and what they have seen (each record landed once)."""

    def __init__(self, session: Session, field_name: str, second: int, only_unseen: bool) -> None:
        self.session = session
        self.field_name = field_name
        self.second = second
        self.only_unseen = only_unseen
        self.bounds = session.bounds(field_name, second, second)
        self.size = session.page_size
        self.seen: set[str] = set()
        self.fresh = self.quarantined = self.counted = 0

    def proved(self) -> bool:
        """Passes until one proves the second, at most MAX_DENSE_PASSES."""
        for attempt in range(MAX_DENSE_PASSES):
            new, totals = self.read_pass(())
            if len(self.seen) < self.counted:  # offsets capped (or shifted): come from the other end too
                more, other = self.read_pass(({"field": self.field_name, "desc": True},))
                new, totals = new + more, totals | other
            # Users only leave a past second (a change moves them to now), and leaving changes the
            # count: a pass over which the count held still and that saw everyone skipped nobody.
            settled = len(totals) == 1 and self.second < epoch_s(self.session.ctx.now()) - 1
            if len(self.seen) >= self.counted and ((new == 0 and attempt > 0) or settled):
                return True
        return False

    def read_pass(self, order: tuple[dict[str, Any], ...]) -> tuple[int, set[int]]:
        """Offset pages in `order` to the last; (users not seen before, the totals the answers gave)."""
        new, totals, page = 0, set(), 0
        while True:
            self.session.ctx.deadline.check()
            body: dict[str, Any] = {"limit": self.size, "page": page, **self.bounds}
            if order:
                body["sort"] = list(order)
            answer = self.session.search(body, (self.field_name, self.second, self.second))
            self.counted = answer.total
            totals.add(answer.total)
            new += self._land_unseen(answer.items)
            if len(answer.items) < self.size:
                return new, totals
            page += 1

    def _land_unseen(self, users: list[Any]) -> int:
        unseen = [u for u in users if key(u) not in self.seen]
        self.seen.update(key(u) for u in unseen)
        if unseen:
            fresh, _ = self.session.land(unseen, only_unseen=self.only_unseen)
            self.fresh += fresh
            self.quarantined += without_id_in(unseen, self.field_name, self.second, self.second)
        return len(unseen)
