"""`descope-sync demo`: the simulator, a full run into a DuckDB file, and a report of what was built.

The demo writes its own file (`./demo.duckdb` unless told otherwise) and starts it afresh each time,
but it deletes a file only when it can prove the file is a previous demo: the demo marks every file it
builds with the table `descope_raw._demo` before it lands anything. A file without that mark (a real
warehouse, an empty DuckDB file, anything else) or a file it cannot read is refused and left alone.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import duckdb

from descope_sync.catalog import TABLES
from descope_sync.config import load_settings
from descope_sync.demo_mark import DEMO_MARKER, is_demo_warehouse
from descope_sync.errors import ConfigError
from descope_sync.ga4_fixture import write_demo_export
from descope_sync.html_report import DEFAULT_MARTS_DATASET, duckdb_query, write_report
from descope_sync.pipeline import run_extract
from descope_sync.progress import Progress
from descope_sync.report import print_dbt, print_extract
from descope_sync.simulator_package import require_simulator
from descope_sync.transform import run_dbt

GA4_DATASET = "ga4_demo"
REPORT_NAME = "descope_report.html"  # beside the warehouse file

REPORT_TABLES = (
    *(("descope_raw", table) for table in TABLES),
    ("descope_data_v2", "users"),
    ("descope_data_v2", "users_clean"),
    ("descope_data_v2", "user_logins"),
)

EXAMPLE_QUERY = """select coalesce(last_login_country_name, '(no located login)') as country, count(*) as users,
       count(*) filter (where simple_status = 'Active') as active
from descope_data_v2.users_clean
group by all order by users desc limit 5"""


DEFAULT_DEMO_PATH = Path("demo.duckdb")


def replace_previous_demo(path: Path) -> None:
    """Delete `path` (and its WAL) when it is a previous demo; refuse anything else, deleting nothing."""
    wal = path.with_name(path.name + ".wal")
    if not path.exists():
        if wal.exists():
            raise ConfigError(
                f"{wal} exists without {path}: not a demo's; the demo deletes nothing, choose another path"
            )
        return
    try:
        demo = path.is_file() and is_demo_warehouse(path)
    except (duckdb.Error, OSError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise ConfigError(
            f"{path} cannot be read as a demo warehouse ({reason}); the demo deletes nothing: "
            "choose another path with --duckdb-path"
        ) from None
    if not demo:
        raise ConfigError(
            f"{path} is not a warehouse the demo built (it may hold real data); the demo deletes nothing: "
            "choose another path with --duckdb-path"
        )
    for leftover in (path, wal):
        if leftover.exists():
            leftover.unlink()


def _mark_as_demo(path: Path, users: int, seed: int) -> None:
    con = duckdb.connect(str(path))
    try:
        schema, table = DEMO_MARKER
        con.execute(f'create schema if not exists "{schema}"')
        con.execute(f'create table "{schema}"."{table}" (created_at timestamp, users bigint, seed bigint)')
        con.execute(f'insert into "{schema}"."{table}" values (now()::timestamp, ?, ?)', [users, seed])
    finally:
        con.close()


def run_demo(users: int, seed: int, duckdb_path: Path) -> int:
    require_simulator("demo")
    from descope_sim import Simulator, World

    started = time.monotonic()
    replace_previous_demo(duckdb_path)  # the demo builds from scratch: a new simulated project each time
    duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    _mark_as_demo(duckdb_path, users, seed)
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
        query = EXAMPLE_QUERY.replace("\n", "\n  ")
        print(f'\nExample query (descope-sync sql --duckdb-path {path} "..."):\n  {query}')
        try:
            for row in con.execute(EXAMPLE_QUERY).fetchall():
                print("   ", row)
        except duckdb.Error as exc:
            print(f"    (query failed: {exc})")
    finally:
        con.close()
