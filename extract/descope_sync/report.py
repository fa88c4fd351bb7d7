"""What a run prints and what its status means: the same for `run`, `extract`, `transform`, `demo` and the function."""

from __future__ import annotations

import json
from typing import Any

from descope_sync.contract import RunStatus, worst_status
from descope_sync.pipeline import RunSummary
from descope_sync.secrets import scrub
from descope_sync.transform import DbtOutcome


def overall_status(summary: RunSummary) -> RunStatus:
    """The run's status: the summary's own, made no better than its worst stream."""
    return worst_status([summary.status, *(s.status for s in summary.streams)])


def summary_dict(summary: RunSummary) -> dict[str, Any]:
    """`RunSummary.as_dict()` with the run's status as `overall_status` sees it."""
    payload = summary.as_dict()
    payload["status"] = str(overall_status(summary))
    return payload


def print_extract(summary: RunSummary, as_json: bool = False) -> None:
    if as_json:
        print(scrub(json.dumps(summary_dict(summary), indent=2, default=str)))
        return
    lines = [f"extract: {overall_status(summary)}"]
    for s in summary.streams:
        extra = f", {s.rows_quarantined} quarantined" if s.rows_quarantined else ""
        lines.append(f"  {s.stream:<13} {s.status:<10} {s.rows_loaded:>8} rows in {s.pages} pages{extra}")
        if s.message and s.status != RunStatus.SUCCESS:
            lines.append(f"    {s.message}")
    print(scrub("\n".join(lines)))


def print_dbt(outcome: DbtOutcome) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(outcome.counts.items()))
    lines = [f"  dbt {outcome.command}: {'PASS' if outcome.success else 'FAIL'} ({counts})"]
    lines += [f"    warn: {line}" for line in outcome.warnings]
    lines += [f"    error: {line}" for line in outcome.failures]
    print(scrub("\n".join(lines)))
