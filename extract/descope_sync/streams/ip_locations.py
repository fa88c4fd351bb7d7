"""The ip_locations stream: every address in `audit_events` not yet located by this database build.

Each distinct `audit_events.remote_address` without an `ip_locations` row for the current
(database_type, database_built_at) is looked up once and appended, a chunk at a time, each
chunk committed with its `_sync_runs` checkpoint (`partial`, its own rows in `rows_loaded`).
The stream's last row says how it ended: `success` (no rows of its own) only once the writer's
answer came back empty, i.e. every address is located; a stop by the time budget leaves the
last checkpoint `partial` (or, before any chunk, one `partial` row with 0 rows). So a stream its
budget keeps stopping never records a `success`, and `descope-sync status` sees it go stale.

A lookup row keeps the raw value in `ip` (the join key) and the client address found in it
(`geo.client_ip`: a port or a forwarded-for list removed) in `client_ip`; the lookup and
`not_found_reason` are about `client_ip`. A newer database build looks every address up again
into new rows; older rows stay (landing is append-only) and dbt picks the latest lookup per address.

The writer's query is asked again for every chunk instead of being iterated while we append to
the table it reads: the chunk just landed drops out of the next answer, memory is bounded by a
chunk, and a run that stops half-way resumes with what is still missing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from descope_sync.contract import RunMode, RunStatus
from descope_sync.descope import Deadline
from descope_sync.geo import NOT_FOUND_REASONS, GeoDatabase
from descope_sync.landing.base import LandingWriter, SyncRun
from descope_sync.streams.base import StreamContext
from descope_sync.streams.result import StreamResult

log = logging.getLogger(__name__)

STREAM = "ip_locations"


def run_ip_locations(
    writer: LandingWriter,
    geo: GeoDatabase,
    batch_id: str,
    run_id: str,
    now: Callable[[], datetime],
    chunk_size: int = 50_000,
    deadline: Deadline | None = None,
) -> StreamResult:
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    started_at = now()
    result = StreamResult(STREAM)
    reasons: Counter[str] = Counter()
    found = 0
    previous: set[str] = set()
    while True:
        if deadline is not None and deadline.remaining() <= 0:
            result.status = RunStatus.PARTIAL
            result.message = "ip_locations stopped by its time budget; the next run looks up what is still missing"
            break
        chunk = _next_chunk(writer, geo, chunk_size)
        if not chunk:
            break
        if previous.intersection(chunk):
            # The rows just appended did not drop out of the writer's answer: stop, never spin.
            raise RuntimeError(
                "ip_locations: IPs landed in the previous chunk are still reported as not looked up "
                f"for {geo.database_type} built {geo.database_built_at.isoformat(sep=' ')}"
            )
        rows = geo.lookup_many(chunk, now(), batch_id)
        writer.append(
            STREAM,
            rows,
            run=SyncRun(
                run_id=run_id,
                stream=STREAM,
                status=RunStatus.PARTIAL,  # a checkpoint: only the empty answer after it proves the end
                started_at=started_at,
                finished_at=now(),
                rows_loaded=len(rows),
                mode=RunMode.INCREMENTAL,
            ),
        )
        for row in rows:
            if row["is_found"]:
                found += 1
            else:
                reasons[row["not_found_reason"]] += 1
        result.rows_loaded += len(rows)
        result.pages += 1
        previous = set(chunk)
        log.info("ip_locations: located %d IP(s) (%d so far)", len(rows), result.rows_loaded)
    if result.status == RunStatus.SUCCESS or result.pages == 0:
        # The stream's last word: `success` once every address is located (also when there was
        # nothing new), else `partial` for a run stopped before its first chunk. A run stopped
        # after some chunks already ends with a `partial` checkpoint.
        writer.record_run(
            SyncRun(
                run_id=run_id,
                stream=STREAM,
                status=result.status,
                started_at=started_at,
                finished_at=now(),
                rows_loaded=0,
                mode=RunMode.INCREMENTAL,
            )
        )
    result.details = {
        "looked_up": result.rows_loaded,
        "found": found,
        "not_found": {reason: reasons[reason] for reason in NOT_FOUND_REASONS},
        "database_type": geo.database_type,
        "database_built_at": geo.database_built_at.isoformat(sep=" "),
    }
    return result


def _next_chunk(writer: LandingWriter, geo: GeoDatabase, chunk_size: int) -> list[str]:
    """The first chunk of the writer's answer; the query (and its cursor) is closed before we write."""
    chunks = writer.ips_without_location(geo.database_type, geo.database_built_at, chunk_size)
    try:
        return next(iter(chunks), [])
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def run(ctx: StreamContext) -> StreamResult:
    from descope_sync.geo import GeoDatabase
    from descope_sync.geo_source import GcsDatabase

    database = ctx.settings.geoip_database
    if isinstance(database, GcsDatabase):  # fetched now, within this stream's share of the budget
        database = database.local_path(ctx.deadline)
    geo = GeoDatabase.open(database)
    try:
        return run_ip_locations(
            ctx.writer, geo, batch_id=ctx.batch_id, run_id=ctx.run_id, now=ctx.now, deadline=ctx.deadline
        )
    finally:
        geo.close()
