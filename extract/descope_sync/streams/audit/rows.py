"""An audit event as landed, and the small facts about events the readers share."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from descope_sync.contract import event_id
from descope_sync.timeutil import from_ms, parse_epoch_ms

STREAM = "audit_events"


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


def occurred_ms(event: Any) -> int | None:
    return parse_epoch_ms(event.get("occurred")) if isinstance(event, dict) else None


def event_key(event: Any) -> str:
    return event_id(event) if isinstance(event, dict) else repr(event)


def older_than(events: list[Any], ms: int) -> int:
    """How many of `events` the next range, from `ms`, no longer counts: those older than `ms`, and those whose
    time cannot be read (the server counts them where it files them: taking them out errs low, which is safe)."""
    return sum(1 for e in events if (occurred_ms(e) or -1) < ms)


def descending(occs: list[int]) -> bool:
    return len(occs) > 1 and occs[0] > occs[-1] and occs == sorted(occs, reverse=True)
