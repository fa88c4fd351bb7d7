"""One run: open the writer, run the streams in order, return a summary. CLI and function share it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from descope_sync.config import Settings
from descope_sync.descope import Deadline, DescopeClient
from descope_sync.errors import DescopeAuthError, SyncError
from descope_sync.landing.base import SyncRun
from descope_sync.landing.factory import open_writer
from descope_sync.progress import Progress
from descope_sync.secrets import scrub
from descope_sync.streams.result import StreamResult
from descope_sync.timeutil import utcnow

log = logging.getLogger(__name__)

STREAMS = ("users", "audit_events", "ip_locations")


@dataclass
class RunSummary:
    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    streams: list[StreamResult] = field(default_factory=list)

    @property
    def status(self) -> str:
        statuses = {s.status for s in self.streams}
        if "failed" in statuses:
            return "failed"
        if "partial" in statuses:
            return "partial"
        return "success"

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "streams": [s.as_dict() for s in self.streams],
        }


def run_extract(
    settings: Settings,
    *,
    streams: Sequence[str] = STREAMS,
    progress: Progress | None = None,
    now: Callable[[], datetime] = utcnow,
) -> RunSummary:
    unknown = set(streams) - set(STREAMS)
    if unknown:
        raise SyncError(f"unknown stream(s) {', '.join(sorted(unknown))}: choose from {', '.join(STREAMS)}")
    progress = progress or Progress()
    run_id = uuid.uuid4().hex
    summary = RunSummary(run_id=run_id, started_at=now())
    deadline = Deadline(settings.max_seconds)
    client = DescopeClient(
        settings.base_url,
        settings.project_id,
        settings.management_key,
        deadline=deadline,
        max_retry_after=settings.max_retry_after_seconds,
        on_wait=progress.wait,
    )
    writer = open_writer(settings)
    try:
        writer.ensure_tables()
        for stream in STREAMS:
            if stream not in streams:
                continue
            started_at = now()
            try:
                result = _run_stream(stream, settings, client, writer, run_id, now, progress)
            except SyncError as exc:
                message = scrub(str(exc))
                result = StreamResult(stream, status="failed", message=message)
                writer.record_run(
                    SyncRun(
                        run_id=run_id,
                        stream=stream,
                        status="failed",
                        started_at=started_at,
                        finished_at=now(),
                        error=message,
                    )
                )
                log.error("%s failed: %s", stream, message)
                summary.streams.append(result)
                if isinstance(exc, DescopeAuthError):
                    break  # every other stream would be rejected the same way
                continue
            summary.streams.append(result)
            if result.message:
                (log.warning if result.status != "success" else log.info)(result.message)
    finally:
        client.close()
        writer.close()
    summary.finished_at = now()
    summary_stats = client.stats
    log.info(
        "extract %s: %d requests, %d rate-limited (%.0fs waited), %d retries",
        summary.status,
        summary_stats.requests,
        summary_stats.rate_limited,
        summary_stats.rate_limit_wait_seconds,
        summary_stats.retries,
    )
    return summary


def _run_stream(stream, settings, client, writer, run_id, now, progress) -> StreamResult:
    batch_id = f"{run_id}:{stream}"
    if stream == "users":
        from descope_sync.streams.users import run_users

        return run_users(
            client,
            writer,
            run_id=run_id,
            batch_id=batch_id,
            now=now,
            progress=progress,
            full_refresh=settings.full_refresh,
            overlap_seconds=settings.users_overlap_seconds,
            page_size=settings.users_page_size,
        )
    if stream == "audit_events":
        from descope_sync.streams.audit_events import run_audit_events

        return run_audit_events(
            client,
            writer,
            run_id=run_id,
            batch_id=batch_id,
            now=now,
            progress=progress,
            actions=settings.audit_actions,
            overlap_seconds=settings.audit_overlap_seconds,
            page_size=settings.audit_page_size,
            retention_days=settings.audit_retention_days,
        )
    from descope_sync.geo import GeoDatabase
    from descope_sync.streams.ip_locations import run_ip_locations

    geo = GeoDatabase.open(settings.geoip_database)
    try:
        return run_ip_locations(writer, geo, batch_id=batch_id, run_id=run_id, now=now)
    finally:
        geo.close()
