"""dbt cost of an incremental run vs a full build, on a warehouse the extractor filled from the simulator.

    python bench/bench_dbt.py [--users 50000]

Full = `dbt run --full-refresh` of every model; incremental = `dbt run` after a small change
(0.2% of users modified, a few hundred logins). Models only: tests cost the same either way.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from descope_sync.config import load_settings
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.simulator import RateLimits, Simulator, World


def timed_dbt(db: Path, full_refresh: bool, command: str = "run", extra_args: tuple[str, ...] = ()) -> float:
    """`dbt <command>` in its own process, as `descope-sync transform` runs it."""
    code = (
        "import sys; from descope_sync.transform import run_dbt; "
        f"o = run_dbt({command!r}, duckdb_path={str(db)!r}, full_refresh={full_refresh}, extra_args={extra_args!r}); "
        "sys.exit(0 if o.success else print(o.failures) or 1)"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--logins-per-user", type=float, default=4.0)
    args = parser.parse_args()
    limits = RateLimits(user_search=(10**9, 60.0), audit_search=(10**9, 60.0))
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        print(f"building a world of {args.users} users ...", flush=True)
        with Simulator(
            World(seed=3, users=args.users, logins_per_user=args.logins_per_user), rate_limits=limits
        ) as sim:
            settings = load_settings(
                {
                    "project_id": sim.project_id,
                    "management_key": sim.management_key,
                    "base_url": sim.base_url,
                    "duckdb_path": str(db),
                },
                env={},
            )
            first = run_extract(settings, progress=SilentProgress())
            print("landed:", {s.stream: s.rows_loaded for s in first.streams}, flush=True)
            timed_dbt(db, full_refresh=True)  # warm-up: creates the tables
            full = timed_dbt(db, full_refresh=True)
            print(f"full build (dbt run --full-refresh): {full:.2f} s", flush=True)
            changed = max(1, args.users // 500)
            sim.mutate(modifies=changed, logins=changed * 3)
            second = run_extract(settings, progress=SilentProgress())
            print("landed:", {s.stream: s.rows_loaded for s in second.streams}, flush=True)
            incremental = timed_dbt(db, full_refresh=False)
            print(f"incremental (dbt run):               {incremental:.2f} s", flush=True)
            # The two extracts here are minutes apart, inside the models' default 60-minute
            # lookback, so the run above recomputes everything; this one is what an hourly
            # schedule sees.
            sim.mutate(modifies=changed, logins=changed * 3)
            run_extract(settings, progress=SilentProgress())
            no_lookback = ("--vars", "{incremental_lookback_minutes: 0}")
            incremental = timed_dbt(db, full_refresh=False, extra_args=no_lookback)
            print(f"incremental, lookback 0 (dbt run):   {incremental:.2f} s", flush=True)
            floor = timed_dbt(db, full_refresh=False, command="parse")
            print(f"dbt parse alone (fixed start-up):    {floor:.2f} s")
            print(
                f"incremental / full: {incremental / full:.2f}x; beyond start-up: "
                f"{max(incremental - floor, 0.0) / max(full - floor, 1e-9):.2f}x"
            )


if __name__ == "__main__":
    main()
