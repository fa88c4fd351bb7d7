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


def print_extract(summary: RunSummary, as_json: bool = False, failures_inline: bool = True) -> None:
    """The run's summary; `failures_inline=False` leaves failed streams' messages to the caller's error line."""
    if as_json:
        print(scrub(json.dumps(summary_dict(summary), indent=2, default=str)))
        return
    lines = [f"extract: {overall_status(summary)}"]
    for s in summary.streams:
        extra = f", {s.rows_quarantined} quarantined" if s.rows_quarantined else ""
        lines.append(f"  {s.stream:<13} {s.status:<10} {s.rows_loaded:>8} rows in {s.pages} pages{extra}")
        if s.status == RunStatus.FAILED and not failures_inline:
            continue
        if s.message and s.status != RunStatus.SUCCESS:
            lines.append(f"    {s.message}")
    print(scrub("\n".join(lines)))


# dbt tests that raise the alarm for a state the extractor reports with its own status: when they are
# all that failed, the build did its job and the run's status is theirs, not `failed`.
ALARM_TESTS: dict[str, tuple[RunStatus, str]] = {
    "assert_no_audit_data_loss": (
        RunStatus.DATA_LOSS,
        "audit events were lost for good (descope_raw._sync_runs, status data_loss); once known, acknowledge "
        "them with DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH='<finished_at of the loss>' "
        "or dbt --vars '{acknowledge_audit_data_loss_through: \"<timestamp>\"}'",
    ),
    "assert_no_held_users_sweep": (
        RunStatus.INCOMPLETE,
        "a users sweep would delete more users than allowed and deleted nobody; if the deletions are real, "
        "confirm them with DESCOPE_CONFIRM_DELETIONS_SWEEP_ID=<sweep id> (the failing row names it) "
        "or dbt --vars '{confirm_deletions_sweep_id: \"<sweep id>\"}'",
    ),
}


def dbt_status(outcome: DbtOutcome) -> RunStatus:
    """SUCCESS, the worst alarm status when only alarm tests failed, else FAILED."""
    if outcome.success:
        return RunStatus.SUCCESS
    if outcome.failed_nodes and all(name in ALARM_TESTS for name in outcome.failed_nodes):
        return worst_status(ALARM_TESTS[name][0] for name in outcome.failed_nodes)
    return RunStatus.FAILED


def print_dbt(outcome: DbtOutcome) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(outcome.counts.items()))
    lines = [f"  dbt {outcome.command}: {'PASS' if outcome.success else 'FAIL'} ({counts})"]
    lines += [f"    warn: {line}" for line in outcome.warnings]
    lines += [f"    error: {line}" for line in outcome.failures]
    alarms = [name for name in dict.fromkeys(outcome.failed_nodes) if name in ALARM_TESTS]
    lines += [f"    {name}: {ALARM_TESTS[name][1]}" for name in alarms]
    print(scrub("\n".join(lines)))
