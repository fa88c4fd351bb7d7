"""What the simulator counts (``Simulator.stats``, ``GET /_sim/stats``). Not thread-safe: the server
holds its lock around every change and the snapshot."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

from .licence import HEADER_OUTCOMES


@dataclass
class Stats:
    requests: collections.Counter = field(default_factory=collections.Counter)  # per path
    statuses: collections.Counter = field(default_factory=collections.Counter)
    served_429: int = 0
    rate_limited: int = 0
    served_5xx: int = 0
    served_malformed: int = 0
    mutations: int = 0
    licence_reads: int = 0
    licence_header: collections.Counter = field(default_factory=collections.Counter)
    rate_limited_without_licence: int = 0
    ignored_fields: collections.Counter = field(default_factory=collections.Counter)  # "<family>.<field>"

    def count_response(self, status: int) -> None:
        self.statuses[status] += 1
        if status == 429:
            self.served_429 += 1
        elif status >= 500:
            self.served_5xx += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "served_429": self.served_429,
            "rate_limited": self.rate_limited,
            "served_5xx": self.served_5xx,
            "served_malformed": self.served_malformed,
            "mutations": self.mutations,
            "licence_reads": self.licence_reads,
            "licence_header": {outcome: self.licence_header[outcome] for outcome in HEADER_OUTCOMES},
            "rate_limited_without_licence": self.rate_limited_without_licence,
            "ignored_fields": dict(self.ignored_fields),
        }
