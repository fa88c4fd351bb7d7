"""How long an audit backlog takes to read at Descope's rate limit, in words a person reads."""

from __future__ import annotations

import math
from datetime import timedelta

# Descope's rate limit on audit searches (docs/descope-api.md): with `audit_page_size` events a search,
# it sets how long a backlog takes to read, whatever the extractor does.
DESCOPE_AUDIT_SEARCHES_PER_MINUTE = 10


def human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds // 60} minutes"


def backlog_estimate(events: int, page_size: int, behind: timedelta) -> str:
    """How long `events` take at Descope's audit limit (10 searches a minute, `page_size` events each)."""
    minutes = math.ceil(events / max(1, page_size)) / DESCOPE_AUDIT_SEARCHES_PER_MINUTE
    took = f"{minutes:.0f} minutes" if minutes < 120 else f"{minutes / 60:.1f} hours"
    return (
        f"{events:,} events to read ({human(behind)} behind): about {took} at Descope's limit of "
        f"{DESCOPE_AUDIT_SEARCHES_PER_MINUTE} audit searches a minute, {page_size:,} events each"
    )
