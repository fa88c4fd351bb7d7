"""The tenants stream: `GET /v1/mgmt/tenant/all` (the SDKs' `tenant.load_all`) into `descope_raw.tenants`.

A snapshot, no cursor: every run lands Descope's whole tenant list as one batch, committed with one
`success` row naming the batch (`details.batch_id`); dbt reads the newest such batch as the tenants
there are (a tenant missing from it is gone). Only a 200 whose body is an object holding a
`tenants` list of objects, each with a distinct string `id`, proves the list was read: any other
answer is retried like a 5xx and then fails the stream, landing nothing. A stop by the time budget
before the answer lands nothing either, and says so in a `partial` row. A tenant too large to land
(quarantined) makes the batch `incomplete`: it would read as gone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from descope_sync.catalog import api_path
from descope_sync.contract import RunStatus
from descope_sync.errors import BudgetExhausted, MalformedAnswer
from descope_sync.streams.base import StreamContext
from descope_sync.streams.result import StreamResult

STREAM = "tenants"


def parse_tenants(decoded: Any, size_bytes: int) -> list[dict[str, Any]]:
    """The tenant list of a `load_all` answer; MalformedAnswer unless it is all there."""
    if not isinstance(decoded, dict):
        raise MalformedAnswer("the answer is not a JSON object")
    if "tenants" not in decoded:
        raise MalformedAnswer("the answer holds no 'tenants' list")
    tenants = decoded["tenants"]
    if not isinstance(tenants, list):
        raise MalformedAnswer(f"'tenants' is a {type(tenants).__name__}, not a list")
    seen: set[str] = set()
    for tenant in tenants:
        if not isinstance(tenant, dict) or not isinstance(tenant.get("id"), str) or not tenant["id"]:
            raise MalformedAnswer("a tenant without a string 'id'")
        if tenant["id"] in seen:
            raise MalformedAnswer(f"tenant {tenant['id'][:40]!r} listed twice")
        seen.add(tenant["id"])
    return tenants


def to_landing_row(tenant: dict[str, Any], batch_id: str, extracted_at: datetime) -> dict[str, Any]:
    name = tenant.get("name")
    return {
        "tenant_id": tenant["id"],
        "name": name if isinstance(name, str) else None,
        "payload": tenant,
        "_batch_id": batch_id,
        "_extracted_at": extracted_at,
    }


def run(ctx: StreamContext) -> StreamResult:
    started_at = ctx.now()
    result = StreamResult(STREAM)
    try:
        tenants = ctx.client.get(api_path(STREAM), parse_tenants)
    except BudgetExhausted as exc:
        result.status = RunStatus.PARTIAL
        result.message = f"tenants stopped before the list was read: {exc}; nothing landed, the next run reads it"
        ctx.writer.record_run(ctx.run_row(RunStatus.PARTIAL, started_at, error=result.message))
        return result
    previous = _previous_snapshot_size(ctx) if not tenants else 0
    if previous > 0:
        # An empty 200 after a snapshot that held tenants proves nothing (an outage can answer an empty
        # list): it does not replace the snapshot. Nothing lands; the row is not `success`, so dbt keeps it.
        result.status = RunStatus.INCOMPLETE
        result.message = (
            "tenants: Descope answered an empty tenant list after a snapshot of "
            f"{previous}; not taken as a snapshot (the previous one stands)"
        )
        ctx.writer.record_run(ctx.run_row(RunStatus.INCOMPLETE, started_at, error=result.message))
        return result
    extracted_at = ctx.now()
    rows = [to_landing_row(tenant, ctx.batch_id, extracted_at) for tenant in tenants]
    # The rows first, then the row naming their batch: a batch without its `success` row is no snapshot.
    appended = ctx.writer.append(STREAM, rows)
    result.rows_loaded, result.rows_quarantined, result.pages = appended.landed, appended.quarantined, 1
    result.details = {"batch_id": ctx.batch_id, "tenants": len(rows)}
    if appended.quarantined:  # a tenant that did not land would read as gone: not a complete snapshot
        result.status = RunStatus.INCOMPLETE
        result.message = f"tenants: {appended.quarantined} tenant(s) too large to land went to _quarantine"
    ctx.writer.record_run(
        ctx.run_row(
            result.status, started_at, rows_loaded=appended.landed, error=result.message, details=result.details
        )
    )
    if result.status == RunStatus.SUCCESS:
        ctx.progress.done(STREAM)
    return result


def _previous_snapshot_size(ctx: StreamContext) -> int:
    """How many tenants the newest snapshot (the batch of the newest `success` row) held."""
    previous = ctx.writer.last_run(STREAM, statuses=[RunStatus.SUCCESS])
    return int(previous.details.get("tenants") or 0) if previous is not None else 0
