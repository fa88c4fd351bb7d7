"""Chaos: per API request, seeded, a 429, a 5xx, mid-scan mutations or a truncated body."""

from __future__ import annotations

import random
from dataclasses import dataclass

CHAOS_5XX = (500, 502, 503, 520)


@dataclass(frozen=True)
class ChaosConfig:
    """Per-request fault probabilities (seeded); docs/simulator.md gives the order they apply in."""

    seed: int = 1
    p_429: float = 0.1
    p_5xx: float = 0.1
    p_malformed: float = 0.03
    p_mutation: float = 0.5
    mutations_per_hit: tuple[int, int] = (1, 3)
    retry_after: int = 1
    # A burst of at most this many mid-scan mutations, then calm: a source that changes on every
    # request can never be read to an exact state, so tests compare with the truth once it settles.
    # None: no limit.
    max_mutations: int | None = 60

    @classmethod
    def none(cls) -> ChaosConfig:
        """A calm server: no faults, no mutations."""
        return cls(p_429=0.0, p_5xx=0.0, p_malformed=0.0, p_mutation=0.0)

    @classmethod
    def storm(cls, seed: int = 1) -> ChaosConfig:
        """A 429 storm: 60% of requests are rate-limited (other faults as by default)."""
        return cls(seed=seed, p_429=0.6)


@dataclass(frozen=True)
class ChaosPlan:
    """One request's faults: ``status`` (0: none) served instead of the answer (as HTML when ``html``);
    ``mutations`` of the world first; a 200 body cut to ``cut`` of its length when ``malformed``."""

    status: int = 0
    html: bool = False
    mutations: int = 0
    malformed: bool = False
    cut: float = 1.0


class ChaosDice:
    """The seeded draws, in a fixed order per request, and the mutations planned so far. The
    probabilities are the simulator's config of the moment (a test may calm a server mid-run); the seed
    is the first config's. Not thread-safe: the server holds its lock."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._mutations_planned = 0

    def plan(self, c: ChaosConfig, *, mutations_allowed: bool) -> ChaosPlan:
        rng = self._rng
        status, html, mutations, malformed, cut = 0, False, 0, False, 1.0
        roll = rng.random()
        if roll < c.p_429:
            status = 429
        elif roll < c.p_429 + c.p_5xx:
            status = rng.choice(CHAOS_5XX)
            html = rng.random() < 0.5
        if mutations_allowed and c.p_mutation and rng.random() < c.p_mutation:
            wanted = rng.randint(*c.mutations_per_hit)
            if c.max_mutations is not None:
                wanted = min(wanted, c.max_mutations - self._mutations_planned)
            mutations = max(0, wanted)
            self._mutations_planned += mutations
        if not status and c.p_malformed and rng.random() < c.p_malformed:
            malformed, cut = True, rng.uniform(0.1, 0.9)
        return ChaosPlan(status, html, mutations, malformed, cut)
