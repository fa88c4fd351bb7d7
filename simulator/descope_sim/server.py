"""The simulator: a real HTTP/1.1 server on loopback over a :class:`.world.World` (docs/simulator.md).

This module owns its lifecycle and settings (faults, counters, rate limits, chaos); ``routes`` maps each
request to the module that answers it.
"""

from __future__ import annotations

import contextlib
import hmac
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any

from . import control, routes
from .answer import FAULT_FAMILIES, check_fault
from .audit_search import search_audit
from .chaos import ChaosConfig, ChaosDice
from .handler import Handler
from .licence import Licence
from .limits import RateLimiter, RateLimits
from .stats import Stats
from .tenants import TenantDirectory
from .users_search import search_users
from .world import World

DEFAULT_PROJECT_ID = "P2simulatorproject00000000000000"
DEFAULT_MANAGEMENT_KEY = "K2sim-secret-key"


class Simulator:
    """The HTTP server. ``start()`` returns self; use ``base_url``; ``stop()`` (or ``with``)."""

    def __init__(
        self,
        world: World,
        project_id: str = DEFAULT_PROJECT_ID,
        management_key: str = DEFAULT_MANAGEMENT_KEY,
        chaos: ChaosConfig | None = None,
        rate_limits: RateLimits | None = None,
        max_page_size: int = 1000,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_offset: int | None = None,
        answer_fault: dict[str, str | None] | None = None,
        on_request: Callable[[str, str, dict[str, Any], World], None] | None = None,
        licence: Licence | None = None,
    ) -> None:
        self.world = world
        self.licence = licence or Licence()
        # A test's hand on the timing: called with ("before" | "after", family, request, world) around
        # computing each answer of the search endpoints, e.g. to change the data between two pages or
        # right after an answer was computed (while the client has not yet received it).
        self.on_request = on_request
        self.max_offset = max_offset
        self.answer_fault = answer_fault or {}
        self.project_id = project_id
        self._auth = f"Bearer {project_id}:{management_key}".encode()
        self.management_key = management_key  # tests and the demo hand it to the extractor
        self.chaos = chaos or ChaosConfig.none()
        self.rate_limits = rate_limits or RateLimits()
        self.max_page_size = max_page_size
        self.host, self.port = host, port
        self.lock = threading.Lock()  # the counters, the rate limiter and the chaos dice
        self.counters = Stats()
        self.limiter = RateLimiter(self.rate_limits)
        self.chaos_dice = ChaosDice(self.chaos.seed)
        self.tenants = TenantDirectory(world)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[Any] = set()

    def __repr__(self) -> str:  # never show the key
        return f"Simulator(project_id={self.project_id!r}, base_url={self.base_url if self._server else None!r})"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Simulator:
        if self._server is not None:
            return self
        bound = type("BoundHandler", (Handler,), {"simulator": self})
        server = ThreadingHTTPServer((self.host, self.port), bound)
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"descope-simulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self.lock:
            connections = list(self._connections)
        for conn in connections:  # idle keep-alive connections would otherwise linger
            with contextlib.suppress(OSError):
                conn.shutdown(2)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def track_connection(self, conn: Any, *, opened: bool) -> None:
        with self.lock:
            if opened:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # ------------------------------------------------------------------ requests
    def handle(
        self, method: str, path: str, headers: Any, body: bytes, client: str
    ) -> tuple[int, bytes, dict[str, str]]:
        """(status, body, extra headers) for one request."""
        return routes.dispatch(self, routes.Request(method, path, headers, body, client))

    def authorized(self, headers: Any) -> bool:
        return hmac.compare_digest((headers.get("Authorization") or "").encode(), self._auth)

    def _user_search(self, q: dict[str, Any], *, test_only: bool) -> bytes:
        return search_users(self, q, test_only=test_only)

    def _audit_search(self, q: dict[str, Any]) -> bytes:
        return search_audit(self, q)

    def count_response(self, status: int) -> None:
        with self.lock:
            self.counters.count_response(status)

    @property
    def stats(self) -> dict[str, Any]:
        with self.lock:
            return self.counters.snapshot()

    def mutate(self, creates: int = 0, modifies: int = 0, deletes: int = 0, logins: int = 0) -> dict[str, Any]:
        """Apply mutations to the world; returns the user ids touched per kind."""
        return control.apply_mutations(self, creates=creates, modifies=modifies, deletes=deletes, logins=logins)

    # ------------------------------------------------------------------ faults
    @property
    def answer_fault(self) -> dict[str, str | None]:
        """Fault per endpoint family applied to its 200 answers (None: normal); see :mod:`.answer`."""
        return self._answer_fault

    @answer_fault.setter
    def answer_fault(self, faults: dict[str, str | None]) -> None:
        for family, fault in faults.items():
            check_fault(family, fault)
        self._answer_fault = {family: faults.get(family) for family in FAULT_FAMILIES}

    @property
    def max_offset(self) -> int | None:
        """Like a search engine's max result window: a page whose offset is >= this answers no items."""
        return self._max_offset

    @max_offset.setter
    def max_offset(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError("max_offset must be None or an integer >= 0")
        self._max_offset = value

    def past_max_offset(self, page: int, page_size: int) -> bool:
        return self.max_offset is not None and page * page_size >= self.max_offset

    @property
    def faults(self) -> dict[str, Any]:
        return {"max_offset": self.max_offset, "answer_fault": dict(self.answer_fault)}

    def set_faults(self, max_offset: Any = ..., answer_fault: Any = ...) -> dict[str, Any]:
        """Change the server-side faults (an argument left out stays as it is); returns them all."""
        if answer_fault is not ...:
            if not isinstance(answer_fault, dict):
                raise ValueError("answer_fault must be an object of family: fault")
            for family, fault in answer_fault.items():
                check_fault(family, fault)
        if max_offset is not ...:
            self.max_offset = max_offset
        if answer_fault is not ...:
            self.answer_fault = {**self.answer_fault, **answer_fault}
        return self.faults
