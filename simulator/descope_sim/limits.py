"""Descope's rate limits: a sliding window per project and endpoint family, and the licence's buckets."""

from __future__ import annotations

import collections
import dataclasses
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimits:
    """``(requests, window_seconds)`` per endpoint family, per project (sliding window). A new family is a
    new field here (its name is the family's)."""

    user_search: tuple[int, float] = (200, 60.0)
    audit_search: tuple[int, float] = (10, 60.0)
    tenant_load: tuple[int, float] = (100, 60.0)
    # Requests without the matching x-descope-license header: a stricter bucket of their own holding
    # this share of each limit (None: no separate bucket).
    unlicensed_share: float | None = None

    def families(self) -> dict[str, tuple[int, float]]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "unlicensed_share"}


class SlidingWindow:
    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.hits: collections.deque[float] = collections.deque()

    def acquire(self, now: float) -> int:
        """0 when a slot was taken, else the whole seconds to wait (>= 1)."""
        while self.hits and self.hits[0] <= now - self.window:
            self.hits.popleft()
        if len(self.hits) >= self.limit:
            return max(1, math.ceil(self.hits[0] + self.window - now))
        self.hits.append(now)
        return 0


class RateLimiter:
    """A window per family; with ``unlicensed_share`` a second, stricter one for requests without the
    matching licence header (``max(1, int(limit * share))`` requests a window). Not thread-safe."""

    def __init__(self, limits: RateLimits) -> None:
        families = limits.families()
        self.licensed = {family: SlidingWindow(*limit) for family, limit in families.items()}
        share = limits.unlicensed_share
        self.unlicensed = (
            {}
            if share is None
            else {
                family: SlidingWindow(max(1, int(limit * share)), window)
                for family, (limit, window) in families.items()
            }
        )

    def acquire(self, family: str, *, licensed: bool, now: float) -> tuple[int, bool]:
        """(seconds to wait, 0 when a slot was taken; whether the licensed bucket was used)."""
        licensed = licensed or not self.unlicensed
        window = self.licensed[family] if licensed else self.unlicensed[family]
        return window.acquire(now), licensed
