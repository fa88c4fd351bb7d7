"""`run`, `extract` and `transform`: land what Descope has, then build the marts."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from descope_sync.cli.exit_codes import EXIT_FAILED, exit_code
from descope_sync.cli.flags import TARGETS
from descope_sync.cli.output import error
from descope_sync.config import Settings, load_settings
from descope_sync.contract import RunStatus
from descope_sync.pipeline import RunSummary, run_extract
from descope_sync.progress import Progress
from descope_sync.report import dbt_status, overall_status, print_dbt, print_extract
from descope_sync.transform import FRESHNESS, run_dbt


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


def _failed_streams(summary: RunSummary) -> str:
    failed = [f"{s.stream}: {s.message or 'failed'}" for s in summary.streams if s.status == RunStatus.FAILED]
    return "; ".join(failed) or "see the messages above"


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
        error(f"extract failed ({_failed_streams(summary)})")
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
            error("dbt build failed (see the errors above)")
            return EXIT_FAILED
        if not fresh:
            return _stale_sources()
        return exit_code(status, built)
    return exit_code(status)


def _source_freshness(target: str, duckdb_path: Path | str) -> bool:
    """`dbt source freshness` (has each stream committed a run lately? `_descope__sources.yml`); False on
    an error. Warnings print and pass. It runs before the build, which goes ahead either way."""
    outcome = run_dbt(FRESHNESS, target=target, duckdb_path=duckdb_path)
    print_dbt(outcome)
    return outcome.success


def _stale_sources() -> int:
    error("dbt source freshness: a stream has committed no run for longer than its error age (see above)")
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
        error("dbt build failed (see the errors above)")
    elif not fresh:
        return _stale_sources()
    return exit_code(built)
