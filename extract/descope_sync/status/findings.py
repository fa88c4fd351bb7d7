"""A stream's state as problems, one line each, of one `Check` each."""

from __future__ import annotations

from datetime import datetime

from descope_sync.contract import RunStatus
from descope_sync.status.checks import ACKNOWLEDGE_ENV, Check, Problem
from descope_sync.status.formats import duration, text
from descope_sync.status.model import USERS, StreamStatus, SweepStatus, finished


def findings(s: StreamStatus, now: datetime) -> list[Problem]:
    found: list[Problem] = []
    name = s.stream
    if s.data_loss is not None:
        loss = s.data_loss
        found.append(
            Problem(
                Check.DATA_LOSS,
                f"{name}: DATA LOSS not acknowledged: events between {text(loss.cursor_from)} and "
                f"{text(loss.cursor_to)} were never read (recorded at {text(loss.finished_at)}); once known, "
                f"acknowledge with {ACKNOWLEDGE_ENV}='{text(loss.finished_at)}'",
            )
        )
    last = s.last_run
    if last is not None and s.last_run_status in (RunStatus.FAILED, RunStatus.INCOMPLETE):
        check = Check.FAILED if s.last_run_status == RunStatus.FAILED else Check.INCOMPLETE
        error = _last_error(s)
        found.append(
            Problem(
                check,
                f"{name}: the last run ({last.run_id}, {text(finished(last))}) ended {s.last_run_status}"
                + (f": {error}" if error else ""),
            )
        )
    if s.sweep is not None:
        found += _sweep_findings(s.sweep)
    if s.future_row is not None:
        row = s.future_row
        ahead = (max(t for t in (row.started_at, row.finished_at) if t is not None) - now).total_seconds()
        found.append(
            Problem(
                Check.CLOCK_SKEW,
                f"{name}: a {row.status} row (run {row.run_id}) is stamped {duration(ahead)} in the future "
                f"(finished_at {text(row.finished_at)}): the clock that wrote it runs ahead, so no age read "
                "from it can be trusted",
            )
        )
    if s.stale:
        if s.last_success is None:
            found.append(Problem(Check.STALE, f"{name}: no successful run recorded"))
        else:
            found.append(
                Problem(
                    Check.STALE,
                    f"{name}: last success {text(finished(s.last_success))}, "
                    f"{duration(s.last_success_age_seconds)} ago",
                )
            )
    return found


def _sweep_findings(sweep: SweepStatus) -> list[Problem]:
    """Why users deleted in Descope may still be in the marts."""
    last = sweep.last_finished
    accepted = sweep.accepted
    newer = last is not None and (accepted is None or finished(last) > finished(accepted))
    if last is not None and newer and last.status != RunStatus.SUCCESS:
        details = last.details or {}
        if details.get("held"):
            why = (
                f"it would remove {details.get('would_remove')} of {details.get('live_before')} live users; "
                f"if that is right, confirm it with DESCOPE_CONFIRM_DELETIONS_SWEEP_ID={last.sweep_id}"
            )
            verb = "was held back by the deletion valve"
        else:
            why = " ".join((last.error or details.get("reason") or "it proved no deletion").split())[:300]
            verb = "was not accepted"
        return [
            Problem(
                Check.DELETIONS_NOT_APPLIED,
                f"{USERS}: sweep {last.sweep_id} ({text(finished(last))}) {verb}: {why}; "
                "until a sweep is accepted, users deleted in Descope stay in the marts",
            )
        ]
    if sweep.accepted is None:
        if sweep.open:
            return []  # the first sweep is under way; staleness says if it never ends
        return [
            Problem(
                Check.DELETIONS_NOT_APPLIED,
                f"{USERS}: no users sweep was ever accepted: users deleted in Descope stay in the marts",
            )
        ]
    if sweep.accepted_age_seconds is not None and sweep.accepted_age_seconds > sweep.max_age_seconds:
        return [
            Problem(
                Check.DELETIONS_NOT_APPLIED,
                f"{USERS}: the last accepted sweep ({sweep.accepted.sweep_id}) finished "
                f"{duration(sweep.accepted_age_seconds)} ago, more than the reconcile window plus the maximum "
                f"age ({duration(sweep.max_age_seconds)}): users deleted in Descope since may still be in the marts",
            )
        ]
    return []


def _last_error(s: StreamStatus) -> str:
    last = s.last_run
    error = last.error if last is not None and last.status == s.last_run_status else None
    return " ".join((error or "").split())[:300]
