"""`descope-sync demo`: the simulator, a full run into a DuckDB file, and a report of what was built."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import duckdb

from descope_sync.config import load_settings
from descope_sync.ga4_fixture import write_demo_export
from descope_sync.html_report import DEFAULT_MARTS_DATASET, duckdb_query, write_report
from descope_sync.pipeline import run_extract
from descope_sync.progress import Progress
from descope_sync.report import print_dbt, print_extract
from descope_sync.transform import run_dbt

GA4_DATASET = "ga4_demo"
REPORT_NAME = "descope_report.html"  # beside the warehouse file

REPORT_TABLES = (
    ("descope_raw", "users"),
    ("descope_raw", "audit_events"),
    ("descope_raw", "ip_locations"),
    ("descope_raw", "_sync_runs"),
    ("descope_raw", "_quarantine"),
    ("descope_data_v2", "users"),
    ("descope_data_v2", "users_clean"),
    ("descope_data_v2", "user_logins"),
)

EXAMPLE_QUERY = """select coalesce(last_login_country_name, '(no located login)') as country, count(*) as users,
       count(*) filter (where simple_status = 'Active') as active
from descope_data_v2.users_clean
group by all order by users desc limit 5"""


def run_demo(users: int, seed: int, duckdb_path: Path) -> int:
    from descope_sync.simulator import Simulator, World

    started = time.monotonic()
    for leftover in (duckdb_path, duckdb_path.with_name(duckdb_path.name + ".wal")):
        if leftover.exists():
            leftover.unlink()  # the demo builds from scratch: a new simulated project each time
    print(f"Starting the Descope simulator with {users} users (seed {seed})...")
    world = World(seed=seed, users=users)
    with Simulator(world) as sim:
        settings = load_settings(
            {
                "project_id": sim.project_id,
                "management_key": sim.management_key,
                "base_url": sim.base_url,
                "duckdb_path": str(duckdb_path),
                "warehouse": "duckdb",
            },
            env={},
        )
        print(f"Extracting from {sim.base_url} into {duckdb_path} ...")
        summary = run_extract(settings, progress=Progress())
    print_extract(summary)
    if summary.status != "success":
        print("Extraction did not finish cleanly; see the messages above.")
        return 1
    print(f"Writing a GA4 export of those users into schema {GA4_DATASET} (descope_sync.ga4_fixture) ...")
    write_demo_export(duckdb_path, GA4_DATASET)
    print("Running dbt build ...")
    os.environ["DUCKDB_PATH"] = str(duckdb_path)
    ga4_vars = ["--vars", json.dumps({"ga4_dataset": GA4_DATASET})]
    outcome = run_dbt("build", target="local", duckdb_path=duckdb_path, extra_args=ga4_vars)
    print_dbt(outcome)
    _report(duckdb_path)
    report = write_report(duckdb_query(duckdb_path, DEFAULT_MARTS_DATASET), duckdb_path.with_name(REPORT_NAME))
    print(f"\nReport (open it in a browser): {report}")
    print(f"\nDone in {time.monotonic() - started:.0f}s. Warehouse: {duckdb_path.resolve()}")
    return 0 if outcome.success else 1


def _report(path: Path) -> None:
    con = duckdb.connect(str(path))  # same settings as dbt-duckdb, which may still hold it open in-process
    try:
        print("\nTables built (rows):")
        for schema, table in REPORT_TABLES:
            try:
                n = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
            except duckdb.Error:
                n = "missing"
            print(f"  {schema}.{table:<14} {n}")
        print("\nExample query (duckdb " + str(path) + "):\n  " + EXAMPLE_QUERY.replace("\n", "\n  "))
        try:
            for row in con.execute(EXAMPLE_QUERY).fetchall():
                print("   ", row)
        except duckdb.Error as exc:
            print(f"    (query failed: {exc})")
    finally:
        con.close()
