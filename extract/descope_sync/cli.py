"""The `descope-sync` command: run, extract, transform, status, runs, sql, simulate, demo."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from descope_sync import interrupts
from descope_sync.config import REQUIRED_AUDIT_ACTIONS, Settings, load_settings, load_warehouse_settings
from descope_sync.contract import STREAMS, RunStatus, worst_status
from descope_sync.demo import DEFAULT_DEMO_PATH
from descope_sync.envfile import load_env_file
from descope_sync.errors import ConfigError, SyncError
from descope_sync.landing.factory import open_writer
from descope_sync.logs import configure_logging, install_excepthooks
from descope_sync.pipeline import RunSummary, run_extract
from descope_sync.progress import Progress, end_live_lines
from descope_sync.report import dbt_status, overall_status, print_dbt, print_extract
from descope_sync.reset import RESETTABLE_STREAMS, describe_reset, record_reset
from descope_sync.secrets import format_exception_scrubbed, scrub
from descope_sync.simulator_package import require_simulator, simulator_installed
from descope_sync.status import ACKNOWLEDGE_ENV, DEFAULT_MAX_AGE_SECONDS, acknowledged_through, read_status, render
from descope_sync.transform import FRESHNESS, run_dbt

log = logging.getLogger("descope_sync")

# Exit codes (README lists them): the worst status of a run decides, failed > data_loss > incomplete > partial.
EXIT_OK = 0  # success: every stream (and dbt) succeeded
EXIT_FAILED = 1  # a stream or dbt failed, or any error (one line says why)
EXIT_USAGE = 2  # bad command line (argparse)
EXIT_PARTIAL = 3  # stopped by the time budget; progress committed, the next run resumes
EXIT_DATA_LOSS = 4  # audit events older than the retention can never be read
EXIT_INCOMPLETE = 5  # finished but not proved complete (e.g. the source reported far fewer users)
EXIT_STALE = 6  # `status`: a stream's last success is older than --max-age-seconds (or it never succeeded)
# `status` only, beside 4 and 6 (descope_sync.status.EXIT_CODES decides): 7 a stream's last run failed,
# 8 users deletions not applied (sweep held, unproved or too old), 9 a row stamped in the future.
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT); SIGTERM exits 143: 128 + the signal's number
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
  130  interrupted by Ctrl-C (143: SIGTERM); committed progress is kept, the next run resumes from it
`run` still builds dbt after a partial, incomplete or data_loss extract, not after a failed one.
`status` exits 0 when healthy, else 4, 7, 8, 5, 9 or 6 (see `descope-sync status --help`)."""

STATUS_EPILOG = """exit codes (one stream's problem is enough; the worst kind found wins, in this order):
  4  data_loss: audit events were lost for good and nobody acknowledged it
     (DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH='<finished_at of the loss>' once known)
  7  failed: a stream's last run failed (its error is shown)
  8  deletions not applied: the last users sweep was held back by the deletion valve or did not prove its
     count, or no sweep was accepted within --reconcile-days plus --max-age-seconds
  5  incomplete: a stream's last run finished without proving what it read
  9  clock skew: a _sync_runs row is stamped more than 5 minutes in the future
  6  stale: a stream's last success is older than --max-age-seconds, or it never succeeded
  0  healthy: none of the above
  1  the warehouse could not be read (one line says why)
Every problem is one line under "problem:" (and in "problems" with --json, per stream and overall).
Reads only the warehouse, read-only: no Descope credentials needed."""


LOG_FORMATS = ("text", "json")


def _add_global_flags(parser: argparse.ArgumentParser, *, on_subcommand: bool) -> None:
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


def _add_warehouse_flags(parser: argparse.ArgumentParser) -> None:
    """--target and --duckdb-path, for the commands that read or write a warehouse without Descope."""
    parser.add_argument(
        "--target",
        choices=sorted(TARGETS),
        default=os.environ.get("DESCOPE_TARGET", "local"),
        help="local = DuckDB file, bigquery = production (env DESCOPE_TARGET)",
    )
    parser.add_argument("--duckdb-path", help="DuckDB file (env DUCKDB_PATH, default ./warehouse.duckdb)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="descope-sync",
        description="Descope users and login history -> append-only landing tables -> dbt marts. "
        "The management key is read from DESCOPE_MANAGEMENT_KEY (or Secret Manager), never from a flag.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_global_flags(parser, on_subcommand=False)
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
    _add_warehouse_flags(transform)
    transform.add_argument(
        "--full-refresh",
        action="store_true",
        help="drop and rebuild the incremental models from the landing tables (descope_raw is not touched)",
    )
    transform.add_argument("--select", action="append", default=[], help="dbt node selection (repeatable)")
    transform.add_argument("--exclude", action="append", default=[], help="dbt nodes to leave out (repeatable)")
    _add_unit_tests_flag(transform)
    status = sub.add_parser(
        "status",
        help="per stream: last run, cursor, lag, data loss, users sweeps; non-zero on any problem (exit codes below)",
        epilog=STATUS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_warehouse_flags(status)
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
    status.add_argument(
        "--reconcile-days",
        type=_number_type("a number of days > 0", 0, False),
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
    _add_warehouse_flags(reset)
    simulate = sub.add_parser("simulate", help="serve the Descope simulator in the foreground")
    simulate.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 to serve on (default 8765)")
    simulate.add_argument("--users", type=int, default=1000, help="users in the simulated project (default 1000)")
    simulate.add_argument(
        "--seed", type=int, default=7, help="random seed: the same seed builds the same project (default 7)"
    )
    simulate.add_argument("--chaos", action="store_true", help="429s, 5xx, malformed bodies, mid-scan mutations")
    simulate.add_argument(
        "--dialect",
        type=_dialect,
        default="documented",
        help="how to read the API where Descope's sources disagree: documented, alternate, sdk_only (audit search "
        "honours only from/to/actions: the newest 1000 and total), or overrides such as "
        "'omit_empty=true,audit_page=ignored' (see descope_sim.dialect)",
    )
    report = sub.add_parser(
        "report", help="write one self-contained HTML report of the activity marts (and GA4 attribution)"
    )
    _add_warehouse_flags(report)
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
        _add_global_flags(subcommand, on_subcommand=True)
    return parser


def _add_explore_commands(sub: Any) -> None:
    """`runs` and `sql`: they only read the local warehouse (opened read-only)."""
    runs = sub.add_parser("runs", help="recent runs per stream: status, rows, duration, cursor (read-only)")
    runs.add_argument("--duckdb-path", help="DuckDB file (env DUCKDB_PATH, default ./warehouse.duckdb)")
    runs.add_argument(
        "--limit",
        type=_number_type("a whole number >= 1", 1, True),
        default=5,
        help="runs shown per stream, newest first (default 5)",
    )
    runs.add_argument("--streams", type=_stream_list, default=list(STREAMS), help="comma-separated streams to show")
    sql = sub.add_parser(
        "sql",
        help="run SQL on the local warehouse, read-only: a statement, SQL on stdin, or a prompt",
        description="Read-only SQL on the DuckDB warehouse. Unqualified names look in descope_data_v2, "
        "descope_staging, then descope_raw: `descope-sync sql 'select * from users_clean limit 5'`.",
    )
    sql.add_argument("statement", nargs="?", help="the SQL to run; without it, SQL from stdin or a prompt")
    sql.add_argument("--duckdb-path", help="DuckDB file (env DUCKDB_PATH, default ./warehouse.duckdb)")


def _local_warehouse(args: argparse.Namespace) -> Path:
    return Path(args.duckdb_path or os.environ.get("DUCKDB_PATH") or "warehouse.duckdb")


def cmd_runs(args: argparse.Namespace) -> int:
    from descope_sync.readonly import connect_read_only
    from descope_sync.runs import recent_runs
    from descope_sync.runs import render as render_runs

    con = connect_read_only(_local_warehouse(args))
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

    con = connect_read_only(_local_warehouse(args))
    try:
        if args.statement is not None:
            execute(con, args.statement, sys.stdout, as_json=args.json)
            return EXIT_OK
        interactive = sys.stdin.isatty()
        failed = repl(con, (line.rstrip("\n") for line in sys.stdin), sys.stdout, interactive)
        return EXIT_OK if interactive or not failed else EXIT_FAILED
    finally:
        con.close()


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


def destructive_notes(settings: Settings) -> list[str]:
    """What the flags that can remove data from the marts will do, said before the run starts."""
    notes = []
    if settings.full_refresh:
        notes.append(
            "--full-refresh: every user is read again in a full sweep (landing stays append-only); once it "
            "reconciles, users Descope no longer has are removed from the marts at the next dbt build"
        )
    if settings.confirm_deletions_sweep_id:
        notes.append(
            f"confirming the deletions sweep {settings.confirm_deletions_sweep_id} held back: the users it would "
            "remove are removed from the marts at the next dbt build"
        )
    return notes


def cmd_extract(args: argparse.Namespace, transform: bool) -> int:
    settings = _settings(args)
    for note in destructive_notes(settings):
        print(f"descope-sync: {note}", file=sys.stderr)
    summary = run_extract(settings, streams=args.streams, progress=Progress())
    status = overall_status(summary)
    print_extract(summary, args.json, failures_inline=False)  # `_error` below says why, once
    if status == RunStatus.FAILED:
        _error(f"extract failed ({_failed_streams(summary)})")
        if transform:
            print("dbt build skipped: extraction failed")
        return EXIT_FAILED
    if transform:
        # The landing tables are consistent after a partial, incomplete or data_loss extract: build on them.
        fresh = _source_freshness(args.target, settings.duckdb_path)
        outcome = run_dbt("build", target=args.target, duckdb_path=settings.duckdb_path, unit_tests=args.unit_tests)
        print_dbt(outcome)
        built = dbt_status(outcome)
        if built == RunStatus.FAILED:
            _error("dbt build failed (see the errors above)")
            return EXIT_FAILED
        if not fresh:
            return _stale_sources()
        return exit_code(status, built)
    return exit_code(status)


def exit_code(*statuses: str) -> int:
    """The exit code of the worst of `statuses`."""
    return EXIT_CODES[worst_status(statuses)]


def _source_freshness(target: str, duckdb_path: Path | str) -> bool:
    """`dbt source freshness` (has each stream committed a run lately? `_descope__sources.yml`); False on
    an error. Warnings print and pass. It runs before the build, which goes ahead either way."""
    outcome = run_dbt(FRESHNESS, target=target, duckdb_path=duckdb_path)
    print_dbt(outcome)
    return outcome.success


def _stale_sources() -> int:
    _error("dbt source freshness: a stream has committed no run for longer than its error age (see above)")
    return EXIT_FAILED


def cmd_transform(args: argparse.Namespace) -> int:
    if args.full_refresh:
        print(
            "descope-sync: dbt --full-refresh: the incremental models are dropped and rebuilt from the landing "
            "tables (descope_raw is not touched)",
            file=sys.stderr,
        )
    duckdb_path = args.duckdb_path or os.environ.get("DUCKDB_PATH", "warehouse.duckdb")
    # A selection builds part of the project: freshness belongs to the whole build.
    fresh = _source_freshness(args.target, duckdb_path) if not (args.select or args.exclude) else True
    outcome = run_dbt(
        "build",
        target=args.target,
        full_refresh=args.full_refresh,
        select=args.select,
        exclude=args.exclude,
        duckdb_path=duckdb_path,
        unit_tests=args.unit_tests,
    )
    print_dbt(outcome)
    built = dbt_status(outcome)
    if built == RunStatus.FAILED:
        _error("dbt build failed (see the errors above)")
    elif not fresh:
        return _stale_sources()
    return exit_code(built)


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


def cmd_simulate(args: argparse.Namespace) -> int:
    require_simulator("simulate")
    from descope_sim import serve

    serve(port=args.port, users=args.users, chaos=args.chaos, seed=args.seed, dialect=args.dialect)
    return EXIT_OK


def _dialect(text: str):
    if not simulator_installed():
        return text  # cmd_simulate stops, saying how to install it
    from descope_sim import Dialect

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
    if args.command == "report":
        return cmd_report(args)
    if args.command == "runs":
        return cmd_runs(args)
    if args.command == "sql":
        return cmd_sql(args)
    if args.command == "reset":
        return cmd_reset(args)
    if args.command == "demo":
        from descope_sync.demo import run_demo

        return run_demo(users=args.users, seed=args.seed, duckdb_path=Path(args.duckdb_path))
    raise ConfigError(f"unknown command {args.command!r}")


def _env_file_flag(argv: Sequence[str] | None) -> Path | None:
    """`--env-file PATH` wherever it stands (the full parser checks the rest of the command line)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--env-file")
    known, _ = pre.parse_known_args(argv)
    return Path(known.env_file) if known.env_file else None


def main(argv: Sequence[str] | None = None) -> int:
    install_excepthooks()  # whatever escapes below prints its traceback without the key
    try:  # before the parser: its defaults read the environment, which the .env file completes
        from_env_file = load_env_file(_env_file_flag(argv))
    except SyncError as exc:
        _error(str(exc))
        return EXIT_FAILED
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "target", None) is not None and args.target not in TARGETS:
        parser.error(f"DESCOPE_TARGET must be one of {', '.join(sorted(TARGETS))}")
    configure_logging(json_lines=args.log_format == "json", verbose=args.verbose)
    if from_env_file:
        log.debug("settings from the env file (names only): %s", ", ".join(sorted(from_env_file)))
    with interrupts.handled():
        try:
            return _dispatch(args)
        except KeyboardInterrupt as exc:
            return _interrupted(getattr(exc, "signum", signal.SIGINT))
        except Exception as exc:
            if interrupts.received() is not None:  # the error is the interrupt's echo
                return _interrupted(interrupts.received())
            if isinstance(exc, SyncError):
                _error(str(exc))
                return EXIT_FAILED
            # unexpected: say what happened in one line, then keep the traceback
            _error(f"unexpected {type(exc).__name__}: {exc}")
            sys.stderr.write(format_exception_scrubbed(exc))
            return EXIT_FAILED


def _interrupted(signum: int) -> int:
    """One line (after ending a live progress line), then 128 + the signal: 130 for Ctrl-C, 143 for SIGTERM."""
    end_live_lines()
    name = signal.Signals(signum).name
    print(
        f"descope-sync: interrupted ({name}); committed progress is kept, the next run resumes from it",
        file=sys.stderr,
        flush=True,
    )
    return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
