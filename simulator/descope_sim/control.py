"""Test control (``/_sim/...``, loopback clients only, no key): the truth, the faults, the counters, and
changes to the world by count."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from .request_fields import BadRequest, error, integer
from .store import dumps

if TYPE_CHECKING:
    from .routes import Answer
    from .server import Simulator

MUTATION_KINDS = ("creates", "modifies", "deletes", "logins")


def truth(sim: Simulator, body: bytes) -> Answer:
    return 200, dumps(sim.world.truth()), {}


def faults(sim: Simulator, body: bytes) -> Answer:
    return 200, json.dumps(sim.faults).encode(), {}


def set_faults(sim: Simulator, body: bytes) -> Answer:
    """``{"max_offset": n|null, "answer_fault": {family: fault|null}}``; keys left out stay as they are."""
    try:
        request = json.loads(body or b"{}")
        if not isinstance(request, dict) or set(request) - {"max_offset", "answer_fault"}:
            raise ValueError("body must be an object with max_offset and/or answer_fault")
        return 200, json.dumps(sim.set_faults(**request)).encode(), {}
    except ValueError as exc:
        return 400, error("E011001", "Bad request", str(exc)), {}


def stats(sim: Simulator, body: bytes) -> Answer:
    return 200, json.dumps(sim.stats).encode(), {}


def mutate(sim: Simulator, body: bytes) -> Answer:
    """``{"creates": n, "modifies": n, "deletes": n, "logins": n}``: the user ids touched per kind."""
    try:
        request = json.loads(body or b"{}")
        if not isinstance(request, dict):
            raise BadRequest("body must be a JSON object")
        counts = {kind: integer(request, kind, 0) for kind in MUTATION_KINDS}
    except (ValueError, BadRequest) as exc:
        return 400, error("E011001", "Bad request", str(exc)), {}
    return 200, dumps(apply_mutations(sim, **counts)), {}


def apply_mutations(
    sim: Simulator, creates: int = 0, modifies: int = 0, deletes: int = 0, logins: int = 0
) -> dict[str, Any]:
    done: dict[str, list[str]] = {"created": [], "modified": [], "deleted": [], "logins": []}
    w = sim.world
    with w.lock:
        for _ in range(creates):
            done["created"].append(w.create_user()["userId"])
        for kind, n, change in (("modified", modifies, w.modify_user), ("deleted", deletes, w.delete_user)):
            for _ in range(n):
                with contextlib.suppress(LookupError):  # no generated user left to change
                    done[kind].append(change()["userId"])
        for _ in range(logins):
            with contextlib.suppress(LookupError):
                done["logins"].append(w.login()["userId"])
    with sim.lock:
        sim.counters.mutations += sum(len(v) for v in done.values())
    return done
