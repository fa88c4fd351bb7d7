"""The users stream: `POST /v2/mgmt/user/search` into `descope_raw.users`.

Offset paging over a result set that changes while it is read can skip records, so this stream
reads time windows instead: a window is accepted only when one page holds all of it
(`len(users) == total`), otherwise it shrinks in proportion to `total`. A full sweep walks
`createdTime` (every user has one; legacy users have no `modifiedTime`), an incremental run walks
`modifiedTime` from the cursor minus an overlap. Tail passes then re-read from the run's start
until a pass brings nothing new, so changes made while the run was paging land in the same run.
Window edges end in ...999 ms: user times are whole seconds, so no user sits on an edge and the
API's inclusive/exclusive rule cannot matter.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from descope_sync.descope import DescopeClient
from descope_sync.errors import BudgetExhausted
from descope_sync.landing.base import LandingWriter, SyncRun
from descope_sync.progress import Progress
from descope_sync.streams.result import StreamResult
from descope_sync.timeutil import from_epoch_seconds, from_ms, to_ms

log = logging.getLogger(__name__)

STREAM = "users"
SECOND_MS = 1000
TAIL_SAFETY_MS = 2000
TAIL_HORIZON_MS = 86_400_000
MAX_TAIL_PASSES = 10
MAX_DENSE_PASSES = 5
# Aim windows at this share of a page: high enough to stay near one request per page, low enough
# that random clustering rarely overflows a window (a miss costs one discarded request).
FILL = 0.9


def align(ms: int) -> int:
    """The last millisecond of the second `ms` falls in."""
    return (ms // SECOND_MS) * SECOND_MS + (SECOND_MS - 1)


@dataclass
class _Scan:
    client: DescopeClient
    writer: LandingWriter
    batch_id: str
    now: Callable[[], datetime]
    progress: Progress
    page_size: int
    rows_loaded: int = 0
    rows_quarantined: int = 0
    pages: int = 0
    windows: int = 0
    probes_discarded: int = 0
    dense_windows: int = 0
    recent_from_ms: int | None = None
    recent_seen: set[tuple[str, str]] = field(default_factory=set)

    def _search(
        self, field_name: str, lo: int, hi: int, page: int, limit: int | None = None
    ) -> tuple[list[Any], int | None]:
        prefix = "Modified" if field_name == "modifiedTime" else "Created"
        body = {
            "limit": limit or self.page_size,
            "page": page,
            f"from{prefix}Time": lo,
            f"to{prefix}Time": hi,
            "withTestUser": True,
        }
        response = self.client.search_users(body)
        users = response.get("users")
        if users is None:
            users = []
        if not isinstance(users, list):
            raise ValueError("user search response has a non-list 'users'")
        total = response.get("total")
        return users, total if isinstance(total, int) else None

    def _is_recent(self, modified_at: datetime | None) -> bool:
        return self.recent_from_ms is not None and modified_at is not None and to_ms(modified_at) > self.recent_from_ms

    def land(self, users: list[Any], only_unseen: bool = False) -> int:
        """Append a page; returns how many rows were new to this run's recent set."""
        extracted_at = self.now()
        rows, quarantined, fresh = [], [], 0
        for user in users:
            user_id = user.get("userId") if isinstance(user, dict) else None
            if not isinstance(user_id, str) or not user_id:
                quarantined.append(
                    {
                        "stream": STREAM,
                        "reason": "user record without a userId" if isinstance(user, dict) else "not an object",
                        "payload": user,
                        "_batch_id": self.batch_id,
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
                    "_batch_id": self.batch_id,
                    "_extracted_at": extracted_at,
                }
            )
        if quarantined:
            self.writer.append("_quarantine", quarantined)
            self.rows_quarantined += len(quarantined)
            log.warning("users: quarantined %d record(s) without a userId", len(quarantined))
        self.rows_loaded += self.writer.append("users", rows)
        self.pages += 1
        self.progress.page(STREAM, len(rows))
        return fresh

    def scan(self, field_name: str, lo: int, hi: int, only_unseen: bool = False) -> int:
        """Read every user whose `field_name` lies in (lo, hi]; returns rows new to the recent set."""
        fresh = 0
        width = max(hi - lo, SECOND_MS)
        # Count first with a one-row page, so the first window is sized from the real density
        # instead of a full page fetched only to learn that it overflows.
        _, total = self._search(field_name, lo, hi, 0, limit=1)
        if total == 0:
            return 0
        if total is not None and total > self.page_size:
            width = max(SECOND_MS, int(width * FILL * self.page_size / total))
        cursor = lo
        while cursor < hi:
            self.client.deadline.check()
            window_hi = min(hi, cursor + max(1, width // SECOND_MS) * SECOND_MS)  # whole seconds, still ...999
            users, total = self._search(field_name, cursor, window_hi, 0)
            if total is None:
                total = len(users) if len(users) < self.page_size else len(users) + 1
            if len(users) >= total:
                fresh += self.land(users, only_unseen)
                self.windows += 1
                cursor = window_hi
                grow = FILL * self.page_size / max(total, 1)
                width = int(min(max(width, width * grow), width * 4, max(hi - lo, SECOND_MS)))
                continue
            self.probes_discarded += 1
            if 0 < len(users) < self.page_size:
                log.info("users: server returned %d of %d rows per page; using that page size", len(users), total)
                self.page_size = len(users)
            if window_hi - cursor <= SECOND_MS:
                fresh += self._dense(field_name, cursor, window_hi, only_unseen)
                cursor = window_hi
                continue
            width = max(SECOND_MS, int((window_hi - cursor) * FILL * self.page_size / total))
        return fresh

    def _dense(self, field_name: str, lo: int, hi: int, only_unseen: bool) -> int:
        """More users in one second than a page holds: offset pages, re-read until a pass finds nothing new."""
        self.dense_windows += 1
        seen: set[str] = set()
        fresh = 0
        for _ in range(MAX_DENSE_PASSES):
            new_this_pass, page, total = 0, 0, None
            while True:
                self.client.deadline.check()
                users, total = self._search(field_name, lo, hi, page)
                if not users:
                    break
                unseen = [u for u in users if not (isinstance(u, dict) and u.get("userId") in seen)]
                seen.update(u["userId"] for u in unseen if isinstance(u, dict) and u.get("userId"))
                if unseen:
                    fresh += self.land(unseen, only_unseen)
                new_this_pass += len(unseen)
                page += 1
            if new_this_pass == 0 and (total is None or len(seen) >= total):
                break
        return fresh


def _fingerprint(user: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(user, sort_keys=True).encode()).hexdigest()


def run_users(
    client: DescopeClient,
    writer: LandingWriter,
    *,
    run_id: str,
    batch_id: str,
    now: Callable[[], datetime],
    progress: Progress,
    full_refresh: bool = False,
    overlap_seconds: int = 600,
    page_size: int = 1000,
) -> StreamResult:
    started_at = now()
    cursor = writer.latest_cursor(STREAM)
    mode = "full" if full_refresh or cursor is None else "incremental"
    hi = align(to_ms(started_at) + TAIL_SAFETY_MS)
    scan = _Scan(client, writer, batch_id, now, progress, page_size)
    scan.recent_from_ms = to_ms(started_at) - 5 * SECOND_MS
    if mode == "full":
        field_name, lo = "createdTime", align(0)
    else:
        field_name, lo = "modifiedTime", align(to_ms(cursor) - overlap_seconds * SECOND_MS)
    result = StreamResult(STREAM, cursor_from=None if mode == "full" else from_ms(lo), details={"mode": mode})
    try:
        scan.scan(field_name, lo, hi)
        # Tail: whatever changed while we paged, until a pass brings nothing new.
        tail_lo = align(scan.recent_from_ms - SECOND_MS)
        passes = 0
        for passes in range(1, MAX_TAIL_PASSES + 1):  # noqa: B007 - reported below
            pass_started_ms = to_ms(now())
            # Open-ended on purpose: a change applied while this pass waits out a retry still lands in
            # its answer, so "nothing new" really means the source was quiet for a whole pass.
            hi = align(pass_started_ms + TAIL_HORIZON_MS)
            if scan.scan("modifiedTime", tail_lo, hi, only_unseen=True) == 0:
                break
        result.details["tail_passes"] = passes
        # Everything modified before the last pass began was visible to it: a safe watermark even
        # when the source never stops changing (the next run re-reads from here minus the overlap).
        committed_to = align(pass_started_ms - SECOND_MS)
    except BudgetExhausted as exc:
        result.status = "partial"
        result.message = f"users: {exc}; the next run starts again from the last committed cursor"
        writer.record_run(
            SyncRun(
                run_id=run_id,
                stream=STREAM,
                status="failed",
                started_at=started_at,
                finished_at=now(),
                cursor_from=result.cursor_from,
                rows_loaded=scan.rows_loaded,
                error=result.message,
                mode=mode,
            )
        )
        _fill(result, scan)
        return result
    run = SyncRun(
        run_id=run_id,
        stream=STREAM,
        status="success",
        started_at=started_at,
        finished_at=now(),
        cursor_from=result.cursor_from,
        cursor_to=from_ms(committed_to),
        rows_loaded=scan.rows_loaded,
        mode=mode,
    )
    writer.record_run(run)
    result.cursor_to = run.cursor_to
    _fill(result, scan)
    progress.done(STREAM)
    return result


def _fill(result: StreamResult, scan: _Scan) -> None:
    result.rows_loaded = scan.rows_loaded
    result.rows_quarantined = scan.rows_quarantined
    result.pages = scan.pages
    result.details.update(
        windows=scan.windows,
        probes_discarded=scan.probes_discarded,
        dense_windows=scan.dense_windows,
        effective_page_size=scan.page_size,
    )
