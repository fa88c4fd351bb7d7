"""One module per stream, each with `run(ctx: StreamContext) -> StreamResult`. A stream never imports another.

`REGISTRY` maps each name in `contract.STREAMS` to its `run`; the pipeline runs them in contract order.
"""

from collections.abc import Callable

from descope_sync.streams import audit_events, ip_locations, users
from descope_sync.streams.base import StreamContext
from descope_sync.streams.result import StreamResult

REGISTRY: dict[str, Callable[[StreamContext], StreamResult]] = {
    "audit_events": audit_events.run,
    "users": users.run,
    "ip_locations": ip_locations.run,
}

__all__ = ["REGISTRY", "StreamContext", "StreamResult"]
