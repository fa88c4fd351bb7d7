"""The `descope-sync` command: run, extract, transform, simulate, demo."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from descope_sync.config import Settings, load_settings
from descope_sync.errors import SyncError
from descope_sync.logs import configure_logging
from descope_sync.pipeline import STREAMS, RunSummary, run_extract
from descope_sync.progress import Progress
from descope_sync.report import print_dbt, print_extract
from descope_sync.secrets import scrub
from descope_sync.transform import DbtOutcome, run_dbt

log = logging.getLogger("descope_sync")

EXIT_OK, EXIT_FAILED, EXIT_PARTIAL = 0, 1, 3
TARGETS = {"local": "duckdb", "bigquery": "bigquery"}


def _add_connection_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Descope and warehouse (flags win over environment variables)")
    group.add_argument("--project-id", help="Descope project ID (env DESCOPE_PROJECT_ID)")
    group.add_argument(
        "--base-url",
        help="Descope API base URL (env DESCOPE_BASE_URL; default: Descope's rule for the project ID)",
    )
    group.add_argument("--duckdb-path", help="DuckDB file (env DUCKDB_PATH, default ./warehouse.duckdb)")
    group.add_argument("--geoip-database", help="GeoLite2/GeoIP2 City .mmdb (env GEOIP_DATABASE; default: bundled)")
    group.add_argument("--max-seconds", type=float, help="time budget; stops cleanly with progress committed")
    group.add_argument("--full-refresh", action="store_true", help="re-read every user (landing stays append-only)")
    group.add_argument("--audit-actions", help="comma-separated audit actions (env DESCOPE_AUDIT_ACTIONS; default all)")
    group.add_argument("--streams", default=",".join(STREAMS), help=f"comma-separated subset of {','.join(STREAMS)}")
    group.add_argument(
        "--target",
        choices=sorted(TARGETS),
        default=os.environ.get("DESCOPE_TARGET", "local"),
        help="local = DuckDB file, bigquery = production (env DESCOPE_TARGET)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="descope-sync",
        description="Descope users and login history -> append-only landing tables -> dbt marts. "
        "The management key is read from DESCOPE_MANAGEMENT_KEY (or Secret Manager), never from a flag.",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (
        ("run", "extract every stream, then dbt build"),
        ("extract", "extract only (what the Cloud Function does)"),
    ):
        cmd = sub.add_parser(name, help=helptext)
        _add_connection_flags(cmd)
    transform = sub.add_parser("transform", help="dbt build only")
    transform.add_argument("--target", choices=sorted(TARGETS), default=os.environ.get("DESCOPE_TARGET", "local"))
    transform.add_argument("--duckdb-path")
    transform.add_argument("--full-refresh", action="store_true")
    transform.add_argument("--select", action="append", default=[])
    simulate = sub.add_parser("simulate", help="serve the Descope simulator in the foreground")
    simulate.add_argument("--port", type=int, default=8765)
    simulate.add_argument("--users", type=int, default=1000)
    simulate.add_argument("--seed", type=int, default=7)
    simulate.add_argument("--chaos", action="store_true", help="429s, 5xx, malformed bodies, mid-scan mutations")
    demo = sub.add_parser("demo", help="simulator -> extract -> dbt build into ./warehouse.duckdb, then a report")
    demo.add_argument("--users", type=int, default=1000)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--duckdb-path", default=os.environ.get("DUCKDB_PATH", "warehouse.duckdb"))
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "project_id": getattr(args, "project_id", None),
        "base_url": getattr(args, "base_url", None),
        "duckdb_path": getattr(args, "duckdb_path", None),
        "geoip_database": getattr(args, "geoip_database", None),
        "max_seconds": getattr(args, "max_seconds", None),
        "full_refresh": getattr(args, "full_refresh", False),
        "audit_actions": getattr(args, "audit_actions", None),
        "warehouse": TARGETS[getattr(args, "target", "local")],
    }
    return load_settings(overrides)


def _streams(args: argparse.Namespace) -> list[str]:
    return [s.strip() for s in args.streams.split(",") if s.strip()]


def _exit_code(summary: RunSummary | None, outcome: DbtOutcome | None) -> int:
    if summary is not None and summary.status == "failed":
        return EXIT_FAILED
    if outcome is not None and not outcome.success:
        return EXIT_FAILED
    if summary is not None and summary.status == "partial":
        return EXIT_PARTIAL
    return EXIT_OK


def cmd_extract(args: argparse.Namespace, transform: bool) -> int:
    settings = _settings(args)
    summary = run_extract(settings, streams=_streams(args), progress=Progress())
    print_extract(summary, args.json)
    outcome = None
    if transform:
        if summary.status == "failed":
            print("dbt build skipped: extraction failed")
            return EXIT_FAILED
        outcome = run_dbt("build", target=args.target, duckdb_path=settings.duckdb_path)
        print_dbt(outcome)
    return _exit_code(summary, outcome)


def cmd_transform(args: argparse.Namespace) -> int:
    outcome = run_dbt(
        "build",
        target=args.target,
        full_refresh=args.full_refresh,
        select=args.select,
        duckdb_path=args.duckdb_path or os.environ.get("DUCKDB_PATH", "warehouse.duckdb"),
    )
    print_dbt(outcome)
    return _exit_code(None, outcome)


def cmd_simulate(args: argparse.Namespace) -> int:
    from descope_sync.simulator import serve

    serve(port=args.port, users=args.users, chaos=args.chaos, seed=args.seed)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(verbose=args.verbose)
    try:
        if args.command == "run":
            return cmd_extract(args, transform=True)
        if args.command == "extract":
            return cmd_extract(args, transform=False)
        if args.command == "transform":
            return cmd_transform(args)
        if args.command == "simulate":
            return cmd_simulate(args)
        if args.command == "demo":
            from descope_sync.demo import run_demo

            return run_demo(users=args.users, seed=args.seed, duckdb_path=Path(args.duckdb_path))
    except SyncError as exc:
        print(f"descope-sync: error: {scrub(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("descope-sync: interrupted; committed progress is kept, the next run resumes", file=sys.stderr)
        return 130
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
