"""The human form of `status`: one line per stream, then each problem."""

from __future__ import annotations

from descope_sync.contract import RunStatus
from descope_sync.status.formats import duration, text
from descope_sync.status.model import WarehouseStatus, finished


def render(status: WarehouseStatus) -> str:
    """The human form: one line per stream, then each problem."""
    lines = [
        f"status: {'healthy' if status.healthy else 'UNHEALTHY'} "
        f"(checked {text(status.checked_at)} UTC, max age {duration(status.max_age_seconds)})"
    ]
    for s in status.streams:
        last = s.last_run
        last_text = f"{s.last_run_status} at {text(finished(last))}" if last else "never ran"
        success = f"{duration(s.last_success_age_seconds)} ago" if s.last_success else "never"
        cursor = f"{text(s.cursor)} (lag {duration(s.lag_seconds)})" if s.cursor else "none"
        lines.append(f"  {s.stream:<13} last run {last_text}; last success {success}; cursor {cursor}")
        if last is not None and last.status in (RunStatus.FAILED, RunStatus.INCOMPLETE) and last.error:
            lines.append(f"    last error: {' '.join(last.error.split())[:300]}")
    lines += [f"  problem: {problem}" for problem in status.problems]
    return "\n".join(lines)
