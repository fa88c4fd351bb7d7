"""The path every Descope API request takes: the key, the licence header, the family's rate limit,
chaos, the body, the test hooks and the answer faults, around one endpoint's answer
(docs/simulator.md, "Errors, limits, faults, chaos")."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .request_fields import BadRequest, error, ignored, json_object

if TYPE_CHECKING:
    from .routes import Answer, Request
    from .server import Simulator


def unauthorized() -> Answer:
    return 401, error("E011003", "Unauthorized", "invalid project id or management key"), {}


@dataclass(frozen=True)
class Endpoint:
    """An API endpoint: ``answer(simulator, body)`` gives the 200 body (or raises BadRequest);
    ``family`` names its rate limit (a RateLimits field) and its answer faults; fields of the body not in
    ``implemented`` that hold more than a default are counted as ignored; with ``mutations`` chaos may
    change the world before the answer is computed."""

    family: str
    implemented: frozenset[str]
    answer: Callable[[Simulator, dict[str, Any]], bytes]
    mutations: bool = False

    def __call__(self, sim: Simulator, request: Request) -> Answer:
        if not sim.authorized(request.headers):
            return unauthorized()
        outcome = sim.licence.header_outcome(request.headers)
        with sim.lock:
            sim.counters.licence_header[outcome] += 1
            wait, licensed = sim.limiter.acquire(self.family, licensed=outcome == "matched", now=time.monotonic())
            if wait:
                sim.counters.rate_limited += 1
                if not licensed:
                    sim.counters.rate_limited_without_licence += 1
                return (
                    429,
                    error("E130429", "Rate limit exceeded", f"too many requests, retry in {wait}s"),
                    {"Retry-After": str(wait)},
                )
            plan = sim.chaos_dice.plan(sim.chaos, mutations_allowed=self.mutations)
        if plan.mutations:
            with sim.world.lock:
                done = sum(len(sim.world.random_mutation()) for _ in range(plan.mutations))
            with sim.lock:
                sim.counters.mutations += done
        if plan.status == 429:
            return (
                429,
                error("E130429", "Rate limit exceeded", "simulated rate limit"),
                {"Retry-After": str(sim.chaos.retry_after)},
            )
        if plan.status:
            if plan.html:
                html = f"<html><head><title>{plan.status}</title></head><body><h1>{plan.status}</h1></body></html>"
                return plan.status, html.encode(), {"Content-Type": "text/html"}
            return plan.status, error("E011500", "Internal error", "simulated failure"), {}
        try:
            payload = self._answer(sim, request)
        except BadRequest as exc:
            return 400, error("E011001", "Bad request", str(exc)), {}
        if plan.malformed and len(payload) > 1:
            payload = payload[: max(1, int(len(payload) * plan.cut))]
            with sim.lock:
                sim.counters.served_malformed += 1
        return 200, payload, {}

    def _answer(self, sim: Simulator, request: Request) -> bytes:
        body = json_object(request.body)
        unimplemented = ignored(self.implemented, body)
        if unimplemented:
            with sim.lock:
                sim.counters.ignored_fields.update(f"{self.family}.{key}" for key in unimplemented)
        if sim.on_request is not None:
            sim.on_request("before", self.family, body, sim.world)
        if sim.answer_fault.get(self.family) == "echo_key":
            key = (request.headers.get("Authorization") or "").partition(":")[2]
            raise BadRequest(f"request rejected for the management key {key}: the body is not understood")
        payload = self.answer(sim, body)
        if sim.on_request is not None:
            sim.on_request("after", self.family, body, sim.world)
        return payload


def licence(sim: Simulator, request: Request) -> Answer:
    """``GET /v1/mgmt/license``: behind the key, outside rate limits and chaos (see :mod:`.licence`)."""
    if not sim.authorized(request.headers):
        return unauthorized()
    with sim.lock:
        sim.counters.licence_reads += 1
    status, payload = sim.licence.answer()
    return status, payload, {}
