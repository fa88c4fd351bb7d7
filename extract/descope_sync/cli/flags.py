"""Flags shared by several commands, and the types that check their values."""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

from descope_sync.config import REQUIRED_AUDIT_ACTIONS
from descope_sync.contract import STREAMS
from descope_sync.simulator_package import simulator_installed

TARGETS = {"local": "duckdb", "bigquery": "bigquery"}
LOG_FORMATS = ("text", "json")


def number_type(rule: str, low: float, low_ok: bool, high: float | None = None):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        too_low = value < low or (value == low and not low_ok)
        if not math.isfinite(value) or too_low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {rule}, not {text!r}")
        return value

    return parse


def stream_list(text: str) -> list[str]:
    streams = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in streams if s not in STREAMS]
    if not streams or unknown or len(set(streams)) != len(streams):
        raise argparse.ArgumentTypeError(f"must be a comma-separated subset of {','.join(STREAMS)}, each once")
    return streams


def dialect_type(text: str):
    if not simulator_installed():
        return text  # cmd_simulate stops, saying how to install it
    from descope_sim import Dialect

    try:
        return Dialect.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Descope and warehouse (flags win over environment variables)")
    group.add_argument("--project-id", help="Descope project ID (env DESCOPE_PROJECT_ID)")
    group.add_argument(
        "--base-url",
        help="Descope API base URL, https:// (plain http:// only to loopback, e.g. the simulator) "
        "(env DESCOPE_BASE_URL; default: Descope's rule for the project ID)",
    )
    group.add_argument("--duckdb-path", help="DuckDB file (env DUCKDB_PATH, default ./warehouse.duckdb)")
    group.add_argument("--geoip-database", help="GeoLite2/GeoIP2 City .mmdb (env GEOIP_DATABASE; default: bundled)")
    group.add_argument(
        "--max-seconds",
        type=number_type("a number of seconds > 0", 0, False),
        help="time budget in seconds (> 0); stops cleanly with progress committed (env DESCOPE_MAX_SECONDS)",
    )
    group.add_argument(
        "--full-refresh",
        action="store_true",
        help="re-read every user in a full sweep (landing stays append-only); once it reconciles, users Descope "
        "no longer has leave the marts",
    )
    group.add_argument(
        "--audit-actions",
        help="comma-separated audit actions to extract (env DESCOPE_AUDIT_ACTIONS; default all); "
        f"{', '.join(REQUIRED_AUDIT_ACTIONS)} are always added: the login marts and the user deletion rules need them",
    )
    group.add_argument(
        "--streams",
        type=stream_list,
        default=list(STREAMS),
        help=f"comma-separated subset of {','.join(STREAMS)}",
    )
    group.add_argument(
        "--reconcile-days",
        type=number_type("a number of days > 0", 0, False),
        help="users reconciliation window in days (> 0; env DESCOPE_RECONCILE_DAYS, default 7)",
    )
    group.add_argument(
        "--max-delete-fraction",
        type=number_type("a fraction > 0 and <= 1", 0, False, 1),
        help="largest share of live users one sweep may delete before someone confirms it "
        "(env DESCOPE_MAX_DELETE_FRACTION, default 0.1)",
    )
    group.add_argument(
        "--confirm-deletions-sweep-id",
        help="confirm the deletions a sweep held back, by the sweep ID it printed "
        "(env DESCOPE_CONFIRM_DELETIONS_SWEEP_ID)",
    )
    group.add_argument(
        "--audit-settle-seconds",
        type=number_type("a number of seconds >= 0", 0, True),
        help="leave audit events younger than this for the next run (env DESCOPE_AUDIT_SETTLE_SECONDS, default 120)",
    )
    group.add_argument(
        "--target",
        choices=sorted(TARGETS),
        default=os.environ.get("DESCOPE_TARGET", "local"),
        help="local = DuckDB file, bigquery = production (env DESCOPE_TARGET)",
    )


def add_global_flags(parser: argparse.ArgumentParser, *, on_subcommand: bool) -> None:
    """Flags accepted before or after the subcommand (`descope-sync --json status` = `descope-sync status --json`).

    On a subcommand they default to SUPPRESS, so a value given before the subcommand is not overwritten."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if on_subcommand else value

    group = parser.add_argument_group("output (before or after the command)")
    group.add_argument("-v", "--verbose", action="store_true", default=default(False), help="log debug messages")
    group.add_argument(
        "--json", action="store_true", default=default(False), help="print the result as JSON (for machines)"
    )
    group.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=default(os.environ.get("DESCOPE_LOG_FORMAT", "text")),
        help="log lines as text or as JSON objects, one a line (env DESCOPE_LOG_FORMAT, default text)",
    )
    group.add_argument(
        "--env-file",
        default=default(None),
        help="read settings from this file (default ./.env if present); the environment and flags win over it",
    )


def add_warehouse_flags(parser: argparse.ArgumentParser) -> None:
    """--target and --duckdb-path, for the commands that read or write a warehouse without Descope."""
    parser.add_argument(
        "--target",
        choices=sorted(TARGETS),
        default=os.environ.get("DESCOPE_TARGET", "local"),
        help="local = DuckDB file, bigquery = production (env DESCOPE_TARGET)",
    )
    parser.add_argument("--duckdb-path", help="DuckDB file (env DUCKDB_PATH, default ./warehouse.duckdb)")


def add_unit_tests_flag(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--unit-tests",
        action="store_true",
        help="also run dbt's unit tests (they test the SQL on fixtures, not the data: CI runs them, "
        "production builds leave them out)",
    )
