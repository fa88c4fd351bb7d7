"""Every endpoint the simulator serves, in two tables.

A new Descope endpoint is a module that computes its answer and one line in ``ROUTES``: an
``api.Endpoint`` when it sits behind the key, its family's rate limit (a ``RateLimits`` field) and
chaos, as every management endpoint does; any ``(simulator, request) -> Answer`` function otherwise.
A new test-control endpoint is one line in ``CONTROL_ROUTES``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import api, audit_search, control, tenants, users_search
from .licence import LICENCE_PATH
from .request_fields import error

if TYPE_CHECKING:
    from .server import Simulator

Answer = tuple[int, bytes, dict[str, str]]  # (status, body, extra headers)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Any  # a Mapping with case-insensitive get (http.client.HTTPMessage)
    body: bytes
    client: str  # the client's address


@dataclass(frozen=True)
class Route:
    method: str
    answer: Callable[[Simulator, Request], Answer]


# The search answers are the simulator's own methods, so that a test can replace one on one simulator.
ROUTES: dict[str, Route] = {
    users_search.PATH: Route(
        "POST",
        api.Endpoint(
            users_search.FAMILY,
            users_search.IMPLEMENTED_FIELDS,
            lambda sim, body: sim._user_search(body, test_only=False),
            mutations=True,
        ),
    ),
    users_search.TEST_USERS_PATH: Route(
        "POST",
        api.Endpoint(
            users_search.FAMILY,
            users_search.IMPLEMENTED_FIELDS,
            lambda sim, body: sim._user_search(body, test_only=True),
            mutations=True,
        ),
    ),
    audit_search.PATH: Route(
        "POST",
        api.Endpoint(audit_search.FAMILY, audit_search.IMPLEMENTED_FIELDS, lambda sim, body: sim._audit_search(body)),
    ),
    tenants.TENANTS_PATH: Route(
        "GET", api.Endpoint(tenants.FAMILY, frozenset(), lambda sim, body: sim.tenants.answer())
    ),
    LICENCE_PATH: Route("GET", api.licence),
}

CONTROL_PREFIX = "/_sim/"
CONTROL_ROUTES: dict[tuple[str, str], Callable[[Simulator, bytes], Answer]] = {
    ("GET", "/_sim/truth"): control.truth,
    ("GET", "/_sim/faults"): control.faults,
    ("POST", "/_sim/faults"): control.set_faults,
    ("GET", "/_sim/stats"): control.stats,
    ("POST", "/_sim/mutate"): control.mutate,
}


def dispatch(sim: Simulator, request: Request) -> Answer:
    path = urlsplit(request.path).path
    with sim.lock:
        sim.counters.requests[path] += 1
    route = ROUTES.get(path)
    if route is not None:
        if request.method != route.method:
            return 405, error("E011005", "Method not allowed", f"use {route.method} for {path}"), {}
        return route.answer(sim, request)
    if path.startswith(CONTROL_PREFIX):
        if not _loopback(request.client):
            return 403, error("E011003", "Forbidden", "test control is for loopback clients"), {}
        answer = CONTROL_ROUTES.get((request.method, path))
        if answer is None:
            return 404, error("E011004", "Not found", f"no such control endpoint {request.method} {path}"), {}
        return answer(sim, request.body)
    return 404, error("E011004", "Not found", f"no such endpoint {path}"), {}


def _loopback(client: str) -> bool:
    try:
        return ipaddress.ip_address(client).is_loopback
    except ValueError:
        return False
