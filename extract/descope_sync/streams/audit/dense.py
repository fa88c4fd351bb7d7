"""Every event of one millisecond too dense for one page, by offset pages: the readers of
:class:`.scan.AuditScan` (its state and requests)."""

from __future__ import annotations

from typing import Any

from descope_sync.errors import UnprovedRead
from descope_sync.streams.audit.newest_first import MAX_ANSWER
from descope_sync.streams.audit.rows import event_key
from descope_sync.timeutil import from_ms

MAX_DENSE_PASSES = 5


class DenseMillisecondReading:
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
                keys = [event_key(e) for e in answer.items]
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
