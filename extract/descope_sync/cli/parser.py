"""The command line: every command, its flags and its help."""

from __future__ import annotations

import argparse
import os
from typing import Any

from descope_sync.cli.exit_codes import EPILOG, STATUS_EPILOG
from descope_sync.cli.flags import (
    add_connection_flags,
    add_global_flags,
    add_unit_tests_flag,
    add_warehouse_flags,
    dialect_type,
    number_type,
    stream_list,
)
from descope_sync.contract import STREAMS
from descope_sync.demo import DEFAULT_DEMO_PATH
from descope_sync.reset import RESETTABLE_STREAMS
from descope_sync.status.checks import ACKNOWLEDGE_ENV, DEFAULT_MAX_AGE_SECONDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="descope-sync",
        description="Descope users and login history -> append-only landing tables -> dbt marts. "
        "The management key is read from DESCOPE_MANAGEMENT_KEY (or Secret Manager), never from a flag.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_global_flags(parser, on_subcommand=False)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (
        ("run", "extract every stream, then dbt build"),
        ("extract", "extract only (what the Cloud Function does)"),
    ):
        cmd = sub.add_parser(name, help=helptext, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        add_connection_flags(cmd)
        if name == "run":
            add_unit_tests_flag(cmd)
    transform = sub.add_parser("transform", help="dbt build only")
    add_warehouse_flags(transform)
    transform.add_argument(
        "--full-refresh",
        action="store_true",
        help="drop and rebuild the incremental models from the landing tables (descope_raw is not touched)",
    )
    transform.add_argument("--select", action="append", default=[], help="dbt node selection (repeatable)")
    transform.add_argument("--exclude", action="append", default=[], help="dbt nodes to leave out (repeatable)")
    add_unit_tests_flag(transform)
    status = sub.add_parser(
        "status",
        help="per stream: last run, cursor, lag, data loss, users sweeps; non-zero on any problem (exit codes below)",
        epilog=STATUS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_warehouse_flags(status)
    status.add_argument(
        "--max-age-seconds",
        type=number_type("a number of seconds > 0", 0, False),
        default=DEFAULT_MAX_AGE_SECONDS,
        help=f"a stream whose last success is older is stale (default {DEFAULT_MAX_AGE_SECONDS}: 26 hours)",
    )
    status.add_argument(
        "--acknowledge-data-loss-through",
        default=os.environ.get(ACKNOWLEDGE_ENV),
        help="data_loss rows that finished at or before this UTC time are known "
        f"(env {ACKNOWLEDGE_ENV}, the same value dbt reads)",
    )
    status.add_argument(
        "--reconcile-days",
        type=number_type("a number of days > 0", 0, False),
        help="the users sweep extract keeps (env DESCOPE_RECONCILE_DAYS, default 7): no sweep accepted within "
        "it plus --max-age-seconds is a problem",
    )
    status.add_argument(
        "--confirm-deletions-sweep-id",
        help="a held sweep confirmed by its ID counts as accepted (env DESCOPE_CONFIRM_DELETIONS_SWEEP_ID)",
    )
    reset = sub.add_parser(
        "reset",
        help="start a stream's cursor over: the next run re-reads it (landed rows are kept; dbt dedups)",
        description="Appends a `reset` row to descope_raw._sync_runs: the stream's cursor starts over and the next "
        "run re-reads it. Nothing landed is deleted. Asks for confirmation (--yes skips it).",
    )
    reset.add_argument("--stream", required=True, choices=RESETTABLE_STREAMS, help="the stream to reset")
    reset.add_argument("--yes", action="store_true", help="do it without asking (needed without a terminal)")
    add_warehouse_flags(reset)
    simulate = sub.add_parser("simulate", help="serve the Descope simulator in the foreground")
    simulate.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 to serve on (default 8765)")
    simulate.add_argument("--users", type=int, default=1000, help="users in the simulated project (default 1000)")
    simulate.add_argument(
        "--seed", type=int, default=7, help="random seed: the same seed builds the same project (default 7)"
    )
    simulate.add_argument("--chaos", action="store_true", help="429s, 5xx, malformed bodies, mid-scan mutations")
    simulate.add_argument(
        "--dialect",
        type=dialect_type,
        default="documented",
        help="how to read the API where Descope's sources disagree: documented, alternate, sdk_only (audit search "
        "honours only from/to/actions: the newest 1000 and total), or overrides such as "
        "'omit_empty=true,audit_page=ignored' (see descope_sim.dialect)",
    )
    report = sub.add_parser(
        "report", help="write one self-contained HTML report of the activity marts (and GA4 attribution)"
    )
    add_warehouse_flags(report)
    report.add_argument("--output", default="descope_report.html", help="the HTML file (default ./descope_report.html)")
    demo = sub.add_parser(
        "demo",
        help="simulator -> extract -> dbt build into ./demo.duckdb, then a report; replaces only a previous demo",
    )
    demo.add_argument("--users", type=int, default=1000, help="users in the simulated project (default 1000)")
    demo.add_argument(
        "--seed", type=int, default=7, help="random seed: the same seed builds the same project (default 7)"
    )
    demo.add_argument(
        "--duckdb-path",
        default=str(DEFAULT_DEMO_PATH),
        help=f"the demo's own DuckDB file (default ./{DEFAULT_DEMO_PATH}); a file a previous demo did not build "
        "is refused, never deleted",
    )
    _add_explore_commands(sub)
    for subcommand in sub.choices.values():
        add_global_flags(subcommand, on_subcommand=True)
    return parser


def _add_explore_commands(sub: Any) -> None:
    """`runs` and `sql`: they only read the local warehouse (opened read-only)."""
    runs = sub.add_parser("runs", help="recent runs per stream: status, rows, duration, cursor (read-only)")
    runs.add_argument("--duckdb-path", help="DuckDB file (env DUCKDB_PATH, default ./warehouse.duckdb)")
    runs.add_argument(
        "--limit",
        type=number_type("a whole number >= 1", 1, True),
        default=5,
        help="runs shown per stream, newest first (default 5)",
    )
    runs.add_argument("--streams", type=stream_list, default=list(STREAMS), help="comma-separated streams to show")
    sql = sub.add_parser(
        "sql",
        help="run SQL on the local warehouse, read-only: a statement, SQL on stdin, or a prompt",
        description="Read-only SQL on the DuckDB warehouse. Unqualified names look in descope_data_v2, "
        "descope_staging, then descope_raw: `descope-sync sql 'select * from users_clean limit 5'`.",
    )
    sql.add_argument("statement", nargs="?", help="the SQL to run; without it, SQL from stdin or a prompt")
    sql.add_argument("--duckdb-path", help="DuckDB file (env DUCKDB_PATH, default ./warehouse.duckdb)")
