"""One module per stream, `streams/<name>.py` (or a package), each with `run(ctx: StreamContext) -> StreamResult`.

A stream never imports another. `REGISTRY` maps each stream declared in `catalog.STREAM_SPECS` to
its module's `run`, in the declared order (the order the pipeline runs them).
"""

from collections.abc import Callable
from importlib import import_module

from descope_sync.catalog import STREAMS
from descope_sync.streams.base import StreamContext
from descope_sync.streams.result import StreamResult

REGISTRY: dict[str, Callable[[StreamContext], StreamResult]] = {
    name: import_module(f"{__name__}.{name}").run for name in STREAMS
}

__all__ = ["REGISTRY", "StreamContext", "StreamResult"]
