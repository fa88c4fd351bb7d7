"""Audit events per second against the simulator without rate limits, and peak memory.

    python bench/bench_audit.py [--users 20000] [--logins-per-user 10]

The simulator runs in its own process; the extractor (keyset paging, 1000 events a page, a
cursor commit per page) runs here.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from descope_sync.config import load_settings
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--logins-per-user", type=float, default=10.0)
    args = parser.parse_args()
    port = 19000 + os.getpid() % 1000
    sim = subprocess.Popen(
        [sys.executable, "-m", "bench._serve", str(port), str(args.users), str(args.logins_per_user)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout.readline().startswith("ready")
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                {
                    "project_id": "P2simulatorproject00000000000000",
                    "management_key": "K2sim-secret-key",
                    "base_url": f"http://127.0.0.1:{port}",
                    "duckdb_path": os.path.join(tmp, "bench.duckdb"),
                },
                env={},
            )
            for streams in (["audit_events"], ["ip_locations"]):
                started = time.perf_counter()
                summary = run_extract(settings, streams=streams, progress=SilentProgress())
                elapsed = time.perf_counter() - started
                stream = summary.streams[0]
                assert stream.status == "success", stream.message
                print(
                    f"{stream.stream:>13}: {stream.rows_loaded:>8} rows in {stream.pages} pages, {elapsed:6.2f} s, "
                    f"{stream.rows_loaded / elapsed:>8.0f} rows/s",
                    flush=True,
                )
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    finally:
        sim.terminate()
        sim.wait(timeout=30)


if __name__ == "__main__":
    main()
