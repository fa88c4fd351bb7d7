"""The `descope-sync` command: run, extract, transform, status, simulate, demo."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from descope_sync.config import REQUIRED_AUDIT_ACTIONS, Settings, load_settings, load_warehouse_settings
from descope_sync.contract import STREAMS, RunStatus, worst_status
from descope_sync.errors import ConfigError, SyncError
from descope_sync.landing.factory import open_writer
from descope_sync.logs import configure_logging, install_excepthooks
from descope_sync.pipeline import RunSummary, run_extract
from descope_sync.progress import Progress
from descope_sync.report import dbt_status, overall_status, print_dbt, print_extract
from descope_sync.secrets import format_exception_scrubbed, scrub
from descope_sync.status import ACKNOWLEDGE_ENV, DEFAULT_MAX_AGE_SECONDS, acknowledged_through, read_status, render
from descope_sync.transform import run_dbt

log = logging.getLogger("descope_sync")

# Exit codes (README lists them): the worst status of a run decides, failed > data_loss > incomplete > partial.
EXIT_OK = 0  # success: every stream (and dbt) succeeded
EXIT_FAILED = 1  # a stream or dbt failed, or any error (one line says why)
EXIT_USAGE = 2  # bad command line (argparse)
EXIT_PARTIAL = 3  # stopped by the time budget; progress committed, the next run resumes
EXIT_DATA_LOSS = 4  # audit events older than the retention can never be read
EXIT_INCOMPLETE = 5  # finished but not proved complete (e.g. the source reported far fewer users)
EXIT_STALE = 6  # `status`: a stream's last success is older than --max-age-seconds (or it never succeeded)
EXIT_INTERRUPTED = 130
EXIT_CODES: dict[RunStatus, int] = {
    RunStatus.SUCCESS: EXIT_OK,
    RunStatus.PARTIAL: EXIT_PARTIAL,
    RunStatus.INCOMPLETE: EXIT_INCOMPLETE,
    RunStatus.DATA_LOSS: EXIT_DATA_LOSS,
    RunStatus.FAILED: EXIT_FAILED,
}
TARGETS = {"local": "duckdb", "bigquery": "bigquery"}


def _number_type(rule: str, low: float, low_ok: bool, high: float | None = None):
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


def _stream_list(text: str) -> list[str]:
    streams = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in streams if s not in STREAMS]
    if not streams or unknown or len(set(streams)) != len(streams):
        raise argparse.ArgumentTypeError(f"must be a comma-separated subset of {','.join(STREAMS)}, each once")
    return streams


def _one_line(text: str) -> str:
    return " ".join(scrub(text).split())


def _add_connection_flags(parser: argparse.ArgumentParser) -> None:
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
        type=_number_type("a number of seconds > 0", 0, False),
        help="time budget in seconds (> 0); stops cleanly with progress committed (env DESCOPE_MAX_SECONDS)",
    )
    group.add_argument("--full-refresh", action="store_true", help="re-read every user (landing stays append-only)")
    group.add_argument(
        "--audit-actions",
        help="comma-separated audit actions to extract (env DESCOPE_AUDIT_ACTIONS; default all); "
        f"{', '.join(REQUIRED_AUDIT_ACTIONS)} are always added: the login marts and the user deletion rules need them",
    )
    group.add_argument(
        "--streams",
        type=_stream_list,
        default=list(STREAMS),
        help=f"comma-separated subset of {','.join(STREAMS)}",
    )
    group.add_argument(
        "--reconcile-days",
        type=_number_type("a number of days > 0", 0, False),
        help="users reconciliation window in days (> 0; env DESCOPE_RECONCILE_DAYS, default 7)",
    )
    group.add_argument(
        "--max-delete-fraction",
        type=_number_type("a fraction > 0 and <= 1", 0, False, 1),
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
        type=_number_type("a number of seconds >= 0", 0, True),
        help="leave audit events younger than this for the next run (env DESCOPE_AUDIT_SETTLE_SECONDS, default 120)",
    )
    group.add_argument(
        "--target",
        choices=sorted(TARGETS),
        default=os.environ.get("DESCOPE_TARGET", "local"),
        help="local = DuckDB file, bigquery = production (env DESCOPE_TARGET)",
    )


EPILOG = """exit codes (the worst status of the run wins: failed > data_loss > incomplete > partial):
  0  success
  1  failed: a stream or dbt failed, or any error (one line says why)
  2  usage: a bad command line
  3  partial: stopped by the time budget; progress is committed and the next run resumes
  4  data_loss: audit events older than Descope's retention can never be read
  5  incomplete: finished but not proved complete; no user deletion is inferred from it
`run` still builds dbt after a partial, incomplete or data_loss extract, not after a failed one.
`status` exits 0 when healthy, 4 when data was lost and not acknowledged, 6 when a stream is stale."""

STATUS_EPILOG = """exit codes:
  0  healthy: every stream succeeded within --max-age-seconds and no data loss is unacknowledged
  1  the warehouse could not be read (one line says why)
  4  data_loss: audit events were lost for good and nobody acknowledged it
     (DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH='<finished_at of the loss>' once known)
  6  stale: a stream's last success is older than --max-age-seconds, or it never succeeded
Reads only the warehouse: no Descope credentials needed."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="descope-sync",
        description="Descope users and login history -> append-only landing tables -> dbt marts. "
        "The management key is read from DESCOPE_MANAGEMENT_KEY (or Secret Manager), never from a flag.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (
        ("run", "extract every stream, then dbt build"),
        ("extract", "extract only (what the Cloud Function does)"),
    ):
        cmd = sub.add_parser(name, help=helptext, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        _add_connection_flags(cmd)
        if name == "run":
            _add_unit_tests_flag(cmd)
    transform = sub.add_parser("transform", help="dbt build only")
    transform.add_argument("--target", choices=sorted(TARGETS), default=os.environ.get("DESCOPE_TARGET", "local"))
    transform.add_argument("--duckdb-path")
    transform.add_argument("--full-refresh", action="store_true")
    transform.add_argument("--select", action="append", default=[], help="dbt node selection (repeatable)")
    transform.add_argument("--exclude", action="append", default=[], help="dbt nodes to leave out (repeatable)")
    _add_unit_tests_flag(transform)
    status = sub.add_parser(
        "status",
        help="per stream: last run, cursor, lag, unacknowledged data loss; non-zero when stale or lost",
        epilog=STATUS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument(
        "--target",
        choices=sorted(TARGETS),
        default=os.environ.get("DESCOPE_TARGET", "local"),
        help="local = DuckDB file, bigquery = production (env DESCOPE_TARGET)",
    )
    status.add_argument("--duckdb-path", help="DuckDB file (env DUCKDB_PATH, default ./warehouse.duckdb)")
    status.add_argument(
        "--max-age-seconds",
        type=_number_type("a number of seconds > 0", 0, False),
        default=DEFAULT_MAX_AGE_SECONDS,
        help=f"a stream whose last success is older is stale (default {DEFAULT_MAX_AGE_SECONDS}: 26 hours)",
    )
    status.add_argument(
        "--acknowledge-data-loss-through",
        default=os.environ.get(ACKNOWLEDGE_ENV),
        help="data_loss rows that finished at or before this UTC time are known "
        f"(env {ACKNOWLEDGE_ENV}, the same value dbt reads)",
    )
    simulate = sub.add_parser("simulate", help="serve the Descope simulator in the foreground")
    simulate.add_argument("--port", type=int, default=8765)
    simulate.add_argument("--users", type=int, default=1000)
    simulate.add_argument("--seed", type=int, default=7)
    simulate.add_argument("--chaos", action="store_true", help="429s, 5xx, malformed bodies, mid-scan mutations")
    simulate.add_argument(
        "--dialect",
        type=_dialect,
        default="documented",
        help="how to read the API where Descope's sources disagree: documented, alternate, sdk_only (audit search "
        "honours only from/to/actions: the newest 1000 and total), or overrides such as "
        "'omit_empty=true,audit_page=ignored' (see descope_sync.simulator.dialect)",
    )
    demo = sub.add_parser("demo", help="simulator -> extract -> dbt build into ./warehouse.duckdb, then a report")
    demo.add_argument("--users", type=int, default=1000)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--duckdb-path", default=os.environ.get("DUCKDB_PATH", "warehouse.duckdb"))
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "project_id": args.project_id,
        "base_url": args.base_url,
        "duckdb_path": args.duckdb_path,
        "geoip_database": args.geoip_database,
        "max_seconds": args.max_seconds,
        "full_refresh": args.full_refresh,
        "audit_actions": args.audit_actions,
        "reconcile_days": args.reconcile_days,
        "max_delete_fraction": args.max_delete_fraction,
        "confirm_deletions_sweep_id": args.confirm_deletions_sweep_id,
        "audit_settle_seconds": args.audit_settle_seconds,
        "warehouse": TARGETS[args.target],
    }
    return load_settings(overrides)


def _error(message: str) -> None:
    print(f"descope-sync: error: {_one_line(message)}", file=sys.stderr)


def _failed_streams(summary: RunSummary) -> str:
    failed = [f"{s.stream}: {s.message or 'failed'}" for s in summary.streams if s.status == RunStatus.FAILED]
    return "; ".join(failed) or "see the messages above"


def _add_unit_tests_flag(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--unit-tests",
        action="store_true",
        help="also run dbt's unit tests (they test the SQL on fixtures, not the data: CI runs them, "
        "production builds leave them out)",
    )


def cmd_extract(args: argparse.Namespace, transform: bool) -> int:
    settings = _settings(args)
    summary = run_extract(settings, streams=args.streams, progress=Progress())
    status = overall_status(summary)
    print_extract(summary, args.json)
    if status == RunStatus.FAILED:
        _error(f"extract failed ({_failed_streams(summary)})")
        if transform:
            print("dbt build skipped: extraction failed")
        return EXIT_FAILED
    if transform:
        # The landing tables are consistent after a partial, incomplete or data_loss extract: build on them.
        outcome = run_dbt("build", target=args.target, duckdb_path=settings.duckdb_path, unit_tests=args.unit_tests)
        print_dbt(outcome)
        built = dbt_status(outcome)
        if built == RunStatus.FAILED:
            _error("dbt build failed (see the errors above)")
            return EXIT_FAILED
        return exit_code(status, built)
    return exit_code(status)


def exit_code(*statuses: str) -> int:
    """The exit code of the worst of `statuses`."""
    return EXIT_CODES[worst_status(statuses)]


def cmd_transform(args: argparse.Namespace) -> int:
    outcome = run_dbt(
        "build",
        target=args.target,
        full_refresh=args.full_refresh,
        select=args.select,
        exclude=args.exclude,
        duckdb_path=args.duckdb_path or os.environ.get("DUCKDB_PATH", "warehouse.duckdb"),
        unit_tests=args.unit_tests,
    )
    print_dbt(outcome)
    built = dbt_status(outcome)
    if built == RunStatus.FAILED:
        _error("dbt build failed (see the errors above)")
    return exit_code(built)


def cmd_status(args: argparse.Namespace) -> int:
    settings = load_warehouse_settings({"warehouse": TARGETS[args.target], "duckdb_path": args.duckdb_path})
    if settings.warehouse == "duckdb" and not settings.duckdb_path.is_file():
        raise ConfigError(f"no warehouse at {settings.duckdb_path}: run descope-sync extract first, or set DUCKDB_PATH")
    acknowledged = acknowledged_through(args.acknowledge_data_loss_through, "--acknowledge-data-loss-through")
    with open_writer(settings) as writer:
        report = read_status(writer, max_age_seconds=args.max_age_seconds, acknowledged_through=acknowledged)
    if args.json:
        print(scrub(json.dumps(report.as_dict(), indent=2)))
    else:
        print(scrub(render(report)))
    if report.data_lost:
        return EXIT_DATA_LOSS
    if report.stale:
        return EXIT_STALE
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    from descope_sync.simulator import serve

    serve(port=args.port, users=args.users, chaos=args.chaos, seed=args.seed, dialect=args.dialect)
    return EXIT_OK


def _dialect(text: str):
    from descope_sync.simulator import Dialect

    try:
        return Dialect.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        return cmd_extract(args, transform=True)
    if args.command == "extract":
        return cmd_extract(args, transform=False)
    if args.command == "transform":
        return cmd_transform(args)
    if args.command == "status":
        return cmd_status(args)
    if args.command == "simulate":
        return cmd_simulate(args)
    if args.command == "demo":
        from descope_sync.demo import run_demo

        return run_demo(users=args.users, seed=args.seed, duckdb_path=Path(args.duckdb_path))
    raise ConfigError(f"unknown command {args.command!r}")


def main(argv: Sequence[str] | None = None) -> int:
    install_excepthooks()  # whatever escapes below prints its traceback without the key
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "target", None) is not None and args.target not in TARGETS:
        parser.error(f"DESCOPE_TARGET must be one of {', '.join(sorted(TARGETS))}")
    configure_logging(verbose=args.verbose)
    try:
        return _dispatch(args)
    except SyncError as exc:
        _error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("descope-sync: interrupted; committed progress is kept, the next run resumes", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # unexpected: say what happened in one line, then keep the traceback
        _error(f"unexpected {type(exc).__name__}: {exc}")
        sys.stderr.write(format_exception_scrubbed(exc))
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
