"""One users run's requests, landing and counters, shared by every pass (docs/design.md, "users")."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from descope_sync.descope import Page
from descope_sync.errors import MalformedAnswer
from descope_sync.landing.base import SyncRun
from descope_sync.streams.base import StreamContext
from descope_sync.streams.users.profile import ServerProfile, check_answer
from descope_sync.streams.users.records import epoch_s, fingerprint
from descope_sync.timeutil import from_epoch_seconds

log = logging.getLogger("descope_sync.streams.users")

STREAM = "users"


class Session:
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
        self.started_s = epoch_s(started_at)
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

    def learn_page_size(self, answer: Page, asked: int) -> None:
        """A server that returned fewer rows than `asked` sets the page size."""
        if 0 < len(answer.items) < asked:
            log.info(
                "users: the server returned %d of %d rows per page; using that page size", len(answer.items), asked
            )
            self.page_size = len(answer.items)

    # ------------------------------------------------------------------ landing
    def is_recent(self, modified_at: datetime | None) -> bool:
        return self.recent_from_s is not None and modified_at is not None and epoch_s(modified_at) > self.recent_from_s

    def land(self, users: list[Any], run: SyncRun | None = None, only_unseen: bool = False) -> tuple[int, int]:
        """Append a page (and its checkpoint); returns (rows new to this run's recent set, quarantined)."""
        extracted_at = self.ctx.now()
        rows, quarantined, fresh = [], [], 0
        for user in users:
            user_id = user.get("userId") if isinstance(user, dict) else None
            if not isinstance(user_id, str) or not user_id:
                quarantined.append(self._quarantine_row(user, extracted_at))
                continue
            modified_at = from_epoch_seconds(user.get("modifiedTime"))
            if self.is_recent(modified_at):
                seen_key = (user_id, fingerprint(user))
                if seen_key in self.recent_seen:
                    if only_unseen:
                        continue
                else:
                    self.recent_seen.add(seen_key)
                    fresh += 1
            rows.append(self._landing_row(user_id, modified_at, user, extracted_at))
        self._append(rows, quarantined, run)
        return fresh, len(quarantined)

    def _append(self, rows: list[dict[str, Any]], quarantined: list[dict[str, Any]], run: SyncRun | None) -> None:
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

    def _landing_row(self, user_id: str, modified_at: datetime | None, user: Any, extracted_at: datetime) -> dict:
        return {
            "user_id": user_id,
            "modified_at": modified_at,
            "payload": user,
            "_batch_id": self.ctx.batch_id,
            "_extracted_at": extracted_at,
        }

    def _quarantine_row(self, user: Any, extracted_at: datetime) -> dict[str, Any]:
        return {
            "stream": STREAM,
            "reason": "user record without a userId" if isinstance(user, dict) else "not an object",
            "payload": user,
            "_batch_id": self.ctx.batch_id,
            "_extracted_at": extracted_at,
        }


def _first_page_not_empty(answer: Page) -> None:
    if answer.total and not answer.items:
        raise MalformedAnswer(f"page 0 is empty but 'total' is {answer.total}")
