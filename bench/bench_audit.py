"""Audit events per second against the simulator without rate limits, and peak memory.

    python bench/bench_audit.py [--users 20000] [--logins-per-user 10] [--dialect D ...]

The simulator runs in its own process; the extractor (keyset paging, 1000 events a page, a
cursor commit per page) runs here. With `--dialect` (repeatable; e.g. `sdk_only`,
`audit_oldest_first=ignored`) each reading of Descope's audit search is served in turn and the audit
stream alone is read: the line gives its requests per 1,000 events.
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
    parser.add_argument("--dialect", action="append", help="read the audit stream under this dialect (repeatable)")
    args = parser.parse_args()
    if args.dialect:
        for dialect in args.dialect:
            requests_per_thousand(args.users, args.logins_per_user, dialect)
        return
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


def requests_per_thousand(users: int, logins_per_user: float, dialect: str) -> None:
    """One audit read of a fresh warehouse under `dialect`: events, requests, requests per 1,000 events."""
    port = 19000 + (os.getpid() + hash(dialect)) % 1000
    command = [sys.executable, "-m", "bench._serve", str(port), str(users), str(logins_per_user), dialect]
    sim = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
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
            started = time.perf_counter()
            summary = run_extract(settings, streams=["audit_events"], progress=SilentProgress())
            elapsed = time.perf_counter() - started
            stream = summary.streams[0]
            assert stream.status == "success", stream.message
            requests = summary.requests["total"]
            print(
                f"{dialect:>45}: {stream.rows_loaded:>8} events, {requests:>5} requests, "
                f"{1000 * requests / max(stream.rows_loaded, 1):5.2f} per 1,000 events, {elapsed:6.2f} s",
                flush=True,
            )
    finally:
        sim.terminate()
        sim.wait(timeout=30)


if __name__ == "__main__":
    main()
