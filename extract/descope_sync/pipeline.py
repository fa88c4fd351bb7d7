"""One run: open the writer, run the streams in order, return a summary. CLI and function share it.

Each stream gets its own share of the run's time budget (`Settings.stream_budget_shares`), taken
from what is left when it starts, so a slow stream cannot starve the ones after it and time a
stream leaves unused flows to the next. Whatever a stream raises is recorded as a `failed` row in
`_sync_runs` (its message scrubbed of secrets) and the other streams still run, except after an
authentication failure, which would fail them all the same way.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from descope_sync import interrupts
from descope_sync.config import Settings
from descope_sync.contract import STREAMS, RunStatus, worst_status
from descope_sync.descope import Deadline, DescopeClient
from descope_sync.errors import DescopeAuthError, DescopeUnreachable, SyncError
from descope_sync.landing.base import LandingWriter, SyncRun
from descope_sync.landing.factory import open_writer
from descope_sync.preflight import check_inputs
from descope_sync.progress import Progress
from descope_sync.secrets import scrub
from descope_sync.streams import REGISTRY, StreamContext
from descope_sync.streams.result import StreamResult
from descope_sync.timeutil import utcnow

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    streams: list[StreamResult] = field(default_factory=list)
    requests: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> RunStatus:
        return worst_status(s.status for s in self.streams)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": str(self.status),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "streams": [s.as_dict() for s in self.streams],
            "requests": self.requests,
        }


# Streams stop reading this long before the run's deadline, so their last batch can still be committed
# (a BigQuery load job takes seconds); the writer's own waits end with the run's deadline itself.
COMMIT_RESERVE_SECONDS = 30.0
COMMIT_RESERVE_SHARE = 0.25  # ... or this share of a smaller budget


def work_deadline(run_deadline: Deadline) -> Deadline:
    """The part of the run's budget the streams may spend reading: all of it but the commit reserve."""
    left = run_deadline.remaining()
    if run_deadline.seconds is None:
        return Deadline(None, clock=run_deadline.clock)
    reserve = min(COMMIT_RESERVE_SECONDS, COMMIT_RESERVE_SHARE * run_deadline.seconds)
    return Deadline(max(0.0, left - reserve), clock=run_deadline.clock)


def stream_deadline(run_deadline: Deadline, shares: Mapping[str, float], remaining_streams: Sequence[str]) -> Deadline:
    """This stream's budget: its share of what is left, among the streams still to run."""
    left = run_deadline.remaining()
    if left == float("inf"):
        return Deadline(None, clock=run_deadline.clock)
    weights = [max(0.0, float(shares.get(name, 0.0))) for name in remaining_streams]
    total = sum(weights)
    share = weights[0] / total if total > 0 else 1.0 / len(remaining_streams)
    return Deadline(max(0.0, left * share), clock=run_deadline.clock)


def run_extract(
    settings: Settings,
    *,
    streams: Sequence[str] = STREAMS,
    progress: Progress | None = None,
    now: Callable[[], datetime] = utcnow,
    deadline: Deadline | None = None,
) -> RunSummary:
    """Run `streams`; `deadline` (default: `settings.max_seconds` from now) bounds every request and wait.

    The Cloud Function passes the deadline it started when the request arrived, so the Secret Manager
    reads before the run count against the same budget."""
    unknown = set(streams) - set(STREAMS)
    if unknown:
        raise SyncError(f"unknown stream(s) {', '.join(sorted(unknown))}: choose from {', '.join(STREAMS)}")
    check_inputs(settings, streams)  # before the first request: a bad input fails in a second, not after a stream
    progress = progress or Progress()
    run_id = uuid.uuid4().hex
    summary = RunSummary(run_id=run_id, started_at=now())
    run_deadline = deadline if deadline is not None else Deadline(settings.max_seconds)
    reading = work_deadline(run_deadline)
    writer = open_writer(settings)
    writer.deadline = run_deadline
    client = DescopeClient(
        settings.base_url,
        settings.project_id,
        settings.management_key,
        deadline=reading,
        max_retry_after=settings.max_retry_after_seconds,
        backoff_base=settings.retry_backoff_seconds,
        on_wait=progress.wait,
        sleep=progress.sleep,  # a countdown on a terminal
    )
    try:
        writer.ensure_tables()
        selected = [name for name in STREAMS if name in streams]
        for index, name in enumerate(selected):
            interrupts.check()  # no stream starts after a Ctrl-C or SIGTERM
            client.deadline = stream_deadline(reading, settings.stream_budget_shares, selected[index:])
            ctx = StreamContext(
                stream=name,
                run_id=run_id,
                batch_id=f"{run_id}:{name}",
                settings=settings,
                client=client,
                writer=writer,
                progress=progress,
                now=now,
            )
            result = _run_stream(name, ctx)
            summary.streams.append(result)
            if result.message and result.status != RunStatus.FAILED:  # a failure is the summary's to tell, once
                (log.info if result.status == RunStatus.SUCCESS else log.warning)(result.message)
            if result.details.get("auth_failed") or result.details.get("unreachable"):
                break  # every other stream would be rejected (or fail to connect) the same way
    finally:
        progress.close()  # the live line ends before any message that follows (summary, error, interrupt)
        client.close()
        writer.close()
    summary.finished_at = now()
    stats = client.stats
    summary.requests = {
        "total": stats.requests,
        "rate_limited": stats.rate_limited,
        "rate_limit_wait_seconds": round(stats.rate_limit_wait_seconds, 1),
        "retries": stats.retries,
        "malformed": stats.malformed,
    }
    log.info(
        "extract %s: %d requests, %d rate-limited (%.0fs waited), %d retries",
        summary.status,
        stats.requests,
        stats.rate_limited,
        stats.rate_limit_wait_seconds,
        stats.retries,
    )
    return summary


def _run_stream(name: str, ctx: StreamContext) -> StreamResult:
    started_at = ctx.now()
    try:
        return REGISTRY[name](ctx)
    except SyncError as exc:
        interrupts.reraise_if_interrupted(exc)
        message = scrub(str(exc))
        log.debug("%s failed: %s", name, message)  # the caller prints it (CLI) or logs it (function), once
        result = StreamResult(name, status=RunStatus.FAILED, message=message)
        result.details["auth_failed"] = isinstance(exc, DescopeAuthError)
        if isinstance(exc, DescopeUnreachable):
            result.details["unreachable"] = True
    except Exception as exc:  # a bug or an environment problem: keep the traceback (scrubbed by the log filter)
        interrupts.reraise_if_interrupted(exc)  # e.g. DuckDB's "Query interrupted": the signal, not a failure
        message = scrub(f"unexpected {type(exc).__name__}: {exc}")
        log.exception("%s failed: %s", name, message)
        result = StreamResult(name, status=RunStatus.FAILED, message=message)
    _record_failure(ctx.writer, ctx.run_id, name, started_at, ctx.now(), result.message or "")
    return result


def _record_failure(
    writer: LandingWriter, run_id: str, stream: str, started_at: datetime, finished_at: datetime, message: str
) -> None:
    try:
        writer.record_run(
            SyncRun(
                run_id=run_id,
                stream=stream,
                status=RunStatus.FAILED,
                started_at=started_at,
                finished_at=finished_at,
                error=message[:2000],
            )
        )
    except Exception:  # the warehouse itself may be what failed; the summary still says so
        log.exception("could not record the failure of %s in _sync_runs", stream)
