"""`runs` and `sql`: they only read the local warehouse (opened read-only)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from descope_sync.cli.exit_codes import EXIT_FAILED, EXIT_OK


def local_warehouse(args: argparse.Namespace) -> Path:
    return Path(args.duckdb_path or os.environ.get("DUCKDB_PATH") or "warehouse.duckdb")


def cmd_runs(args: argparse.Namespace) -> int:
    from descope_sync.readonly import connect_read_only
    from descope_sync.runs import recent_runs
    from descope_sync.runs import render as render_runs

    con = connect_read_only(local_warehouse(args))
    try:
        found = recent_runs(con, per_stream=int(args.limit), streams=args.streams)
    finally:
        con.close()
    if args.json:
        print(json.dumps([run.as_dict() for run in found], indent=2))
    else:
        print(render_runs(found))
    return EXIT_OK


def cmd_sql(args: argparse.Namespace) -> int:
    from descope_sync.readonly import connect_read_only
    from descope_sync.sql import execute, repl

    con = connect_read_only(local_warehouse(args))
    try:
        if args.statement is not None:
            execute(con, args.statement, sys.stdout, as_json=args.json)
            return EXIT_OK
        interactive = sys.stdin.isatty()
        failed = repl(con, (line.rstrip("\n") for line in sys.stdin), sys.stdout, interactive)
        return EXIT_OK if interactive or not failed else EXIT_FAILED
    finally:
        con.close()
