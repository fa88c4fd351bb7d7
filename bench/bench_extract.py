"""Extractor speed and memory against the simulator: ours vs a plain page-by-page raw append (the floor) vs dlt.

    python bench/bench_extract.py [--users 100000] [--contenders floor,ours,dlt]

The simulator runs in its own process (so memory numbers are the extractor's alone); each contender
runs in a fresh child process that reports wall time and peak RSS. dlt is optional
(`pip install "dlt[duckdb]"`); it is skipped with a note when missing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_ID = "P2simulatorproject00000000000000"
KEY_ENV = "BENCH_MANAGEMENT_KEY"


def _post(session, base_url, key, body):
    response = session.post(
        base_url + "/v2/mgmt/user/search",
        json=body,
        headers={"Authorization": f"Bearer {PROJECT_ID}:{key}"},
        timeout=120,
    )
    response.raise_for_status()
    return response.json()


def contender_floor(base_url: str, key: str, db: str, page_size: int) -> int:
    """The simplest correct-looking loader: offset pages, each page appended raw to DuckDB."""
    import duckdb
    import requests

    con = duckdb.connect(db)
    con.execute("create table users (user_id varchar, payload json)")
    session = requests.Session()
    rows, page = 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "page.ndjson")
        while True:
            users = _post(session, base_url, key, {"limit": page_size, "page": page, "withTestUser": True})["users"]
            if not users:
                break
            with open(path, "w", encoding="utf-8") as fh:
                for user in users:
                    fh.write(json.dumps({"user_id": user.get("userId"), "payload": user}) + "\n")
            con.execute(
                "insert into users select * from read_json(?, format='newline_delimited', "
                "columns={'user_id': 'varchar', 'payload': 'json'})",
                [path],
            )
            rows += len(users)
            page += 1
    return rows


def contender_ours(base_url: str, key: str, db: str, page_size: int) -> int:
    from descope_sync.config import load_settings
    from descope_sync.pipeline import run_extract
    from descope_sync.progress import SilentProgress

    settings = load_settings(
        {
            "project_id": PROJECT_ID,
            "management_key": key,
            "base_url": base_url,
            "duckdb_path": db,
            "users_page_size": page_size,
        },
        env={},
    )
    summary = run_extract(settings, streams=["users"], progress=SilentProgress())
    stream = summary.streams[0]
    assert stream.status == "success", stream.message
    return stream.rows_loaded


def contender_dlt(base_url: str, key: str, db: str, page_size: int) -> int:
    import dlt
    import requests

    @dlt.resource(name="users", write_disposition="append")
    def users():
        session = requests.Session()
        page = 0
        while True:
            batch = _post(session, base_url, key, {"limit": page_size, "page": page, "withTestUser": True})["users"]
            if not batch:
                return
            yield batch
            page += 1

    pipeline = dlt.pipeline(
        pipeline_name="bench_descope",
        destination=dlt.destinations.duckdb(db),
        dataset_name="descope_raw",
        pipelines_dir=str(Path(db).parent / "dlt_pipelines"),
    )
    info = pipeline.run(users())
    info.raise_on_failed_jobs()
    with pipeline.sql_client() as client:
        return client.execute_sql("select count(*) from users")[0][0]


CONTENDERS = {"floor": contender_floor, "ours": contender_ours, "dlt": contender_dlt}


def child(name: str, base_url: str, db: str, page_size: int) -> None:
    key = os.environ[KEY_ENV]
    started = time.perf_counter()
    rows = CONTENDERS[name](base_url, key, db, page_size)
    elapsed = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"contender": name, "rows": rows, "seconds": elapsed, "peak_rss_mib": peak_mib}))


def run_child(name: str, base_url: str, key: str, page_size: int) -> subprocess.CompletedProcess[str]:
    """One contender in a fresh process with a fresh DuckDB file."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, __file__, "--child", name, "--base-url", base_url]
        command += ["--db", os.path.join(tmp, "bench.duckdb"), "--page-size", str(page_size)]
        return subprocess.run(command, env={**os.environ, KEY_ENV: key}, capture_output=True, text=True, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--contenders", default="floor,ours,dlt")
    parser.add_argument("--child")
    parser.add_argument("--base-url")
    parser.add_argument("--db")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.base_url, args.db, args.page_size)
        return

    from descope_sim import Simulator  # noqa: F401 - fail early if the package is missing

    port = 18000 + os.getpid() % 1000
    key = "K2sim-secret-key"
    print(f"starting the simulator with {args.users} users on port {port} ...", flush=True)
    sim = subprocess.Popen(
        [sys.executable, "-m", "bench._serve", str(port), str(args.users)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ready = sim.stdout.readline().strip()
        assert ready.startswith("ready"), ready
        base_url = f"http://127.0.0.1:{port}"
        # The simulator serialises each user once and caches it: warm it up so that no contender
        # pays (or skips) that cost depending on the order they run in.
        print("warming the simulator's caches ...", flush=True)
        run_child("floor", base_url, key, args.page_size).check_returncode()
        results = []
        for name in args.contenders.split(","):
            out = run_child(name, base_url, key, args.page_size)
            if out.returncode != 0:
                tail = (out.stderr.strip().splitlines() or ["?"])[-1]
                print(f"{name:>6}: skipped ({tail})")
                continue
            result = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(result)
            print(
                f"{name:>6}: {result['rows']:>9} rows  {result['seconds']:8.2f} s  "
                f"{result['rows'] / result['seconds']:>9.0f} users/s  peak RSS {result['peak_rss_mib']:.0f} MiB",
                flush=True,
            )
        by_name = {r["contender"]: r for r in results}
        if "ours" in by_name and "floor" in by_name:
            print(f"ours / floor wall time: {by_name['ours']['seconds'] / by_name['floor']['seconds']:.2f}x")
        if "ours" in by_name and "dlt" in by_name:
            print(f"dlt / ours wall time:   {by_name['dlt']['seconds'] / by_name['ours']['seconds']:.2f}x")
    finally:
        sim.terminate()
        sim.wait(timeout=30)


if __name__ == "__main__":
    main()
