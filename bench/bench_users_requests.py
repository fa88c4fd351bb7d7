"""User searches the users stream spends: a full sweep, then an idle incremental run.

    python -m bench.bench_users_requests [--users 100000] [--page-size 1000]

Runs the simulator in this process without rate limits and counts `POST /v2/mgmt/user/search`
requests per run from its stats. Plain offset paging costs `users / page_size` searches; the
stream's proofs (windows that one page holds, tail passes, reconciliation) cost the rest.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from descope_sim import RateLimits, Simulator, World
from descope_sync.config import load_settings
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress

SEARCH = "/v2/mgmt/user/search"


def searches(sim: Simulator) -> int:
    return int(sim.stats["requests"].get(SEARCH, 0))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    limits = RateLimits(user_search=(10**9, 60.0), audit_search=(10**9, 60.0))
    with tempfile.TemporaryDirectory() as tmp, Simulator(World(seed=1, users=args.users), rate_limits=limits) as sim:
        settings = load_settings(
            {
                "project_id": sim.project_id,
                "management_key": sim.management_key,
                "base_url": sim.base_url,
                "duckdb_path": str(Path(tmp) / "bench.duckdb"),
                "users_page_size": args.page_size,
            },
            env={},
        )
        live = len(sim.world.truth()["users"])
        for label in ("full sweep", "idle incremental run", "idle incremental run"):
            before, started = searches(sim), time.perf_counter()
            summary = run_extract(settings, streams=["users"], progress=SilentProgress())
            stream = summary.streams[0]
            assert stream.status == "success", stream.message
            spent = searches(sim) - before
            print(
                f"{label:>22}: {spent:>5} user searches ({spent * 1000 / live:.3f} per 1,000 of {live} users; "
                f"mode {stream.details.get('mode')}, {time.perf_counter() - started:.1f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
