"""The audit_events stream: `POST /v1/mgmt/audit/search` into `descope_raw.audit_events`.

Keyset paging over `occurred` with `oldestFirst`: every request asks for page 0 from the last
millisecond already landed (inclusive, so events sharing it are read again and skipped by
`event_id`), and the cursor commits with every landed page. Events inserted or expired while
we read cannot shift a page, a stopped run resumes at its last page, and a millisecond holding
more events than a page is read with offset pages. `from` never reaches past the 30-day
retention; a cursor older than that is recorded as a `data_loss` interval and reported loudly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from descope_sync.contract import RunStatus, event_id
from descope_sync.descope import DescopeClient
from descope_sync.errors import BudgetExhausted, DescopeRequestError
from descope_sync.landing.base import LandingWriter, SyncRun
from descope_sync.progress import Progress
from descope_sync.streams.result import StreamResult
from descope_sync.timeutil import from_ms, parse_epoch_ms, to_ms

log = logging.getLogger(__name__)

STREAM = "audit_events"
# Keep clear of the retention edge: the server's clock and ours differ a little.
RETENTION_MARGIN = timedelta(minutes=2)
MAX_DENSE_PAGES = 1000


def to_landing_row(event: Any, batch_id: str, extracted_at: datetime) -> tuple[dict[str, Any] | None, str | None]:
    """A landing row, or None and the reason the record goes to quarantine."""
    if not isinstance(event, dict):
        return None, "not an object"
    occurred_ms = parse_epoch_ms(event.get("occurred"))
    if occurred_ms is None:
        return None, "audit event without a usable 'occurred'"
    user_id = event.get("userId")
    remote = event.get("remoteAddress")
    action = event.get("action")
    return {
        "event_id": event_id(event),
        "action": action if isinstance(action, str) else None,
        "user_id": user_id if isinstance(user_id, str) and user_id else None,
        "occurred_at": from_ms(occurred_ms),
        "remote_address": remote if isinstance(remote, str) else None,
        "payload": event,
        "_batch_id": batch_id,
        "_extracted_at": extracted_at,
    }, None


def run_audit_events(
    client: DescopeClient,
    writer: LandingWriter,
    *,
    run_id: str,
    batch_id: str,
    now: Callable[[], datetime],
    progress: Progress,
    actions: Sequence[str] | None = None,
    overlap_seconds: int = 300,
    page_size: int = 1000,
    retention_days: int = 30,
) -> StreamResult:
    started_at = now()
    cursor = writer.latest_cursor(STREAM)
    retention_edge = started_at - timedelta(days=retention_days) + RETENTION_MARGIN
    window_to = started_at + timedelta(milliseconds=1)  # `to` is exclusive
    result = StreamResult(STREAM, details={"lost_interval": None})

    window_from = retention_edge if cursor is None else cursor - timedelta(seconds=overlap_seconds)
    if window_from < retention_edge:
        if cursor is not None and cursor < retention_edge:
            message = (
                f"audit events between {cursor.isoformat(sep=' ')} and {retention_edge.isoformat(sep=' ')} UTC are "
                f"older than Descope's {retention_days}-day retention and were never read: that history is lost"
            )
            writer.record_run(
                SyncRun(
                    run_id=run_id,
                    stream=STREAM,
                    status=RunStatus.DATA_LOSS,
                    started_at=started_at,
                    finished_at=now(),
                    cursor_from=cursor,
                    cursor_to=retention_edge,
                    error=message,
                )
            )
            log.warning("DATA LOSS: %s", message)
            progress.note("WARNING DATA LOSS: " + message)
            result.details["lost_interval"] = [cursor.isoformat(), retention_edge.isoformat()]
        window_from = retention_edge
    result.cursor_from = window_from

    from_ms_ = to_ms(window_from)
    to_ms_ = to_ms(window_to)
    landed_at_edge: set[str] = set()  # event ids at `from_ms_` already landed by this run
    quarantined = 0
    try:
        while True:
            body: dict[str, Any] = {
                "from": from_ms_,
                "to": to_ms_,
                "size": page_size,
                "page": 0,
                "oldestFirst": True,
            }
            if actions:
                body["actions"] = list(actions)
            response = client.search_audit(body)
            events = response.get("audits") or []
            if not isinstance(events, list):
                raise DescopeRequestError("audit search answered with a non-list 'audits'")
            total = response.get("total")
            rows, bad = _rows(events, batch_id, now())
            occurred = [to_ms(r["occurred_at"]) for r in rows]
            if occurred != sorted(occurred):
                raise DescopeRequestError(
                    "audit search ignored oldestFirst (events not in time order); cannot page safely"
                )
            fits = (isinstance(total, int) and len(events) >= total) or len(events) == 0
            if not fits and occurred and occurred[-1] == from_ms_:
                rows += _dense_millisecond(client, body, batch_id, now, len(events))
                next_from = from_ms_ + 1
            else:
                next_from = occurred[-1] if occurred else from_ms_
            new_rows, kept = [], set(landed_at_edge)
            for row in rows:
                if row["event_id"] not in kept:
                    kept.add(row["event_id"])
                    new_rows.append(row)
            if bad:
                writer.append("_quarantine", bad)
                quarantined += len(bad)
                log.warning("audit_events: quarantined %d malformed event(s)", len(bad))
            if fits:
                cursor_to, status = window_to, "success"
            else:
                cursor_to, status = from_ms(next_from), "partial"
            writer.append(
                "audit_events",
                new_rows,
                run=SyncRun(
                    run_id=run_id,
                    stream=STREAM,
                    status=status,
                    started_at=started_at,
                    finished_at=now(),
                    cursor_from=from_ms(from_ms_),
                    cursor_to=cursor_to,
                    rows_loaded=len(new_rows),
                ),
            )
            result.rows_loaded += len(new_rows)
            result.pages += 1
            result.cursor_to = cursor_to
            progress.page(STREAM, len(new_rows))
            if fits:
                break
            if not occurred:  # a malformed page with nothing usable: do not spin
                raise DescopeRequestError("audit search returned a page with no usable events")
            landed_at_edge = {r["event_id"] for r in rows if to_ms(r["occurred_at"]) == next_from}
            from_ms_ = next_from
            client.deadline.check()
    except BudgetExhausted as exc:
        result.status = "partial"
        behind = started_at - (result.cursor_to or window_from)
        result.message = (
            f"audit_events stopped: {exc}; progress is committed up to "
            f"{(result.cursor_to or window_from).isoformat(sep=' ')} UTC, {_human(behind)} behind; "
            "the next run continues from there"
        )
        result.details["behind_seconds"] = int(behind.total_seconds())
        progress.note(result.message)
    result.rows_quarantined = quarantined
    if result.status == "success":
        progress.done(STREAM)
    return result


def _rows(events: list[Any], batch_id: str, extracted_at: datetime) -> tuple[list[dict[str, Any]], list[dict]]:
    rows, bad = [], []
    for event in events:
        row, reason = to_landing_row(event, batch_id, extracted_at)
        if row is None:
            bad.append(
                {
                    "stream": STREAM,
                    "reason": reason,
                    "payload": event,
                    "_batch_id": batch_id,
                    "_extracted_at": extracted_at,
                }
            )
        else:
            rows.append(row)
    return rows, bad


def _dense_millisecond(
    client: DescopeClient,
    body: dict[str, Any],
    batch_id: str,
    now: Callable[[], datetime],
    first_page_len: int,
) -> list[dict[str, Any]]:
    """More events in one millisecond than a page holds: offset pages over [ms, ms + 1)."""
    dense = dict(body, to=body["from"] + 1)
    collected: list[dict[str, Any]] = []
    for page in range(MAX_DENSE_PAGES):
        dense["page"] = page
        events = client.search_audit(dense).get("audits") or []
        if not events:
            break
        rows, _ = _rows(events, batch_id, now())
        collected.extend(rows)
    return collected


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds // 60} minutes"
