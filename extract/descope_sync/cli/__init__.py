"""The `descope-sync` command: run, extract, transform, status, reset, simulate, report, demo, runs, sql."""

from descope_sync.cli.app import main

__all__ = ["main"]
