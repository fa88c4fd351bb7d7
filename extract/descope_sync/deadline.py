"""One wall-clock budget for a run, shared by every request, wait and retry in it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from descope_sync.errors import BudgetExhausted


@dataclass
class Deadline:
    """A wall-clock budget shared by every request of a run (None: no budget)."""

    seconds: float | None = None
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def remaining(self) -> float:
        if self.seconds is None:
            return float("inf")
        return self.seconds - (self.clock() - self.started)

    def check(self) -> None:
        if self.remaining() <= 0:
            raise BudgetExhausted(f"time budget of {self.seconds:.0f}s used up")

    def bound(self, seconds: float) -> float:
        """`seconds` cut to what is left of the budget (>= 1 ms): a timeout or wait never outlasts it."""
        return max(0.001, min(seconds, self.remaining()))
