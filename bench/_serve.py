"""Serve a calm simulator without rate limits for benchmarks:
`python -m bench._serve PORT USERS [LOGINS_PER_USER [DIALECT]]`."""

from __future__ import annotations

import sys
import threading

from descope_sim import Dialect, RateLimits, Simulator, World


def main() -> None:
    port, users = int(sys.argv[1]), int(sys.argv[2])
    logins_per_user = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
    dialect = Dialect.parse(sys.argv[4]) if len(sys.argv) > 4 else None
    world = World(seed=1, users=users, logins_per_user=logins_per_user, dialect=dialect)
    limits = RateLimits(user_search=(10**9, 60.0), audit_search=(10**9, 60.0))
    with Simulator(world, port=port, rate_limits=limits):
        print("ready", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
