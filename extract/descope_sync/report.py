"""What a run prints: the streams' outcome and dbt's, the same for `run`, `extract`, `transform` and `demo`."""

from __future__ import annotations

import json

from descope_sync.pipeline import RunSummary
from descope_sync.transform import DbtOutcome


def print_extract(summary: RunSummary, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps(summary.as_dict(), indent=2))
        return
    print(f"extract: {summary.status}")
    for s in summary.streams:
        extra = f", {s.rows_quarantined} quarantined" if s.rows_quarantined else ""
        print(f"  {s.stream:<13} {s.status:<8} {s.rows_loaded:>8} rows in {s.pages} pages{extra}")
        if s.message and s.status != "success":
            print(f"    {s.message}")


def print_dbt(outcome: DbtOutcome) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(outcome.counts.items()))
    print(f"  dbt {outcome.command}: {'PASS' if outcome.success else 'FAIL'} ({counts})")
    for line in outcome.warnings:
        print(f"    warn: {line}")
    for line in outcome.failures:
        print(f"    error: {line}")
