"""UTC helpers: the warehouse stores naive UTC datetimes; Descope speaks epoch seconds and ms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(1970, 1, 1)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def to_ms(value: datetime) -> int:
    return (value - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def from_epoch_seconds(value: Any) -> datetime | None:
    """Descope's createdTime/modifiedTime (epoch seconds, maybe a numeric string); None if absent or odd."""
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if not 0 <= seconds < 32503680000:  # before year 3000
        return None
    return EPOCH + timedelta(seconds=seconds)


def parse_epoch_ms(value: Any) -> int | None:
    """Audit `occurred`: a string of epoch-ms digits (numbers accepted too); None if unusable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        text = str(value).strip()
        ms = int(text) if text.isdigit() else int(float(text))
    except (TypeError, ValueError, OverflowError):
        return None
    return ms if 0 <= ms < 32503680000000 else None
