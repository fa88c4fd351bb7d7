"""`descope-sync reset --stream S`: the stream's cursor starts over, so the next run re-reads it.

Landing stays append-only: a reset is one `_sync_runs` row with status `reset`, and the cursor query
(`contract.cursor_sql`) counts only the rows that finished after a stream's latest reset. Nothing
landed is deleted; the re-read rows land again beside the old ones and dbt keeps one version of each
user (newest `modifiedTime`) and one row per audit event (`event_id`).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from descope_sync.contract import AUDIT_RETENTION_DAYS, RunStatus
from descope_sync.landing.base import LandingWriter, SyncRun
from descope_sync.timeutil import utcnow

# Streams that keep a cursor. ip_locations keeps none: every run looks up the addresses that have no
# location for the current GeoIP database.
RESETTABLE_STREAMS: tuple[str, ...] = ("audit_events", "users")

_RE_READ = {
    "audit_events": f"the audit events of the last {AUDIT_RETENTION_DAYS} days (all Descope keeps)",
    "users": "every user, in a full sweep",
}


def describe_reset(stream: str, cursor: datetime | None) -> str:
    """What resetting `stream` will do, in one line."""
    where = f"its cursor ({cursor.isoformat(sep=' ')} UTC)" if cursor else "its cursor (none yet)"
    return (
        f"reset {stream}: {where} starts over and the next run re-reads {_RE_READ[stream]}; "
        "landed rows are kept and dbt keeps one copy of each"
    )


def record_reset(writer: LandingWriter, stream: str, previous: datetime | None, now: datetime | None = None) -> SyncRun:
    """Append the `reset` row that starts `stream`'s cursor over."""
    at = now or utcnow()
    row = SyncRun(
        run_id=uuid.uuid4().hex,
        stream=stream,
        status=RunStatus.RESET,
        started_at=at,
        finished_at=at,
        details={"previous_cursor": previous.isoformat() if previous else None},
    )
    writer.record_run(row)
    return row
