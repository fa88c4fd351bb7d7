"""`status`, `report` and `reset`: commands that read or mark the warehouse, without Descope."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from descope_sync.cli.exit_codes import EXIT_FAILED, EXIT_OK
from descope_sync.cli.flags import TARGETS
from descope_sync.config import load_warehouse_settings
from descope_sync.errors import ConfigError
from descope_sync.landing.factory import open_writer
from descope_sync.reset import describe_reset, record_reset
from descope_sync.secrets import scrub
from descope_sync.status.read import acknowledged_through, read_status
from descope_sync.status.render import render


def cmd_status(args: argparse.Namespace) -> int:
    settings = load_warehouse_settings(
        {
            "warehouse": TARGETS[args.target],
            "duckdb_path": args.duckdb_path,
            "reconcile_days": args.reconcile_days,
            "confirm_deletions_sweep_id": args.confirm_deletions_sweep_id,
        }
    )
    if settings.warehouse == "duckdb" and not settings.duckdb_path.is_file():
        raise ConfigError(f"no warehouse at {settings.duckdb_path}: run descope-sync extract first, or set DUCKDB_PATH")
    acknowledged = acknowledged_through(args.acknowledge_data_loss_through, "--acknowledge-data-loss-through")
    with open_writer(settings, read_only=True) as writer:
        report = read_status(
            writer,
            max_age_seconds=args.max_age_seconds,
            acknowledged_through=acknowledged,
            reconcile_days=settings.reconcile_days,
            confirmed_sweep_id=settings.confirm_deletions_sweep_id,
        )
    if args.json:
        print(scrub(json.dumps(report.as_dict(), indent=2)))
    else:
        print(scrub(render(report)))
    return report.exit_code


def cmd_report(args: argparse.Namespace) -> int:
    from descope_sync.html_report import open_query, write_report

    settings = load_warehouse_settings({"warehouse": TARGETS[args.target], "duckdb_path": args.duckdb_path})
    path = write_report(open_query(settings), Path(args.output))
    print(f"Report: {path}")
    return EXIT_OK


def confirmed(question: str, yes: bool) -> bool:
    """True with --yes, or when the person at the terminal types `yes`; refuses without a terminal."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise ConfigError("this changes the warehouse and needs confirmation: run it in a terminal or add --yes")
    try:
        answer = input(f"{question} Type yes to go on: ")
    except EOFError:
        answer = ""
    return answer.strip().lower() == "yes"


def cmd_reset(args: argparse.Namespace) -> int:
    settings = load_warehouse_settings({"warehouse": TARGETS[args.target], "duckdb_path": args.duckdb_path})
    if settings.warehouse == "duckdb" and not settings.duckdb_path.is_file():
        raise ConfigError(f"no warehouse at {settings.duckdb_path}: nothing to reset (set DUCKDB_PATH?)")
    with open_writer(settings) as writer:
        writer.ensure_tables()
        cursor = writer.latest_cursor(args.stream)
        print(describe_reset(args.stream, cursor))
        if not confirmed(f"Reset {args.stream}?", args.yes):
            print("Nothing changed.")
            return EXIT_FAILED
        record_reset(writer, args.stream, cursor)
    print(f"{args.stream} reset: the next run re-reads it from the start")
    return EXIT_OK
