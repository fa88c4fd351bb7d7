"""A Descope management-API simulator: a real HTTP/1.1 server on loopback over a :class:`World`.

Endpoints (POST, JSON body, ``Authorization: Bearer <projectId>:<managementKey>``):
``/v2/mgmt/user/search``, ``/v2/mgmt/user/search/test``, ``/v1/mgmt/audit/search``; and
``GET /v1/mgmt/license`` (same auth; see :mod:`.licence`).
Test control (no auth, loopback clients only): ``GET /_sim/truth``, ``POST /_sim/mutate``
(``{"creates": n, "modifies": n, "deletes": n, "logins": n}``), ``GET /_sim/stats``,
``GET``/``POST /_sim/faults`` (``{"max_offset": n|null, "answer_fault": {"user_search": f|null,
"audit_search": f|null}}``; keys left out stay as they are; answers the faults now in force).

Choices made where Descope's docs are silent or disagree (the extractor must survive them).
Where Descope's own sources disagree the world's :class:`.dialect.Dialect` picks the reading;
the default (``Dialect.documented()``) is named first, the alternate in brackets.

Dialect points
- ``audit_from``: audit ``from`` is inclusive [exclusive]; ``audit_to``: ``to`` exclusive
  [inclusive]; both epoch ms compared with ``int(occurred)``.
- ``audit_oldest_first``: ``oldestFirst: true`` is honoured [ignored: always newest first].
- ``audit_page``: ``page`` is honoured [ignored: every answer is page 0]; ``audit_size``: ``size`` is
  honoured [ignored: every answer holds up to 1000 events]. The ``sdk_only`` preset ignores all three
  (what a server honouring only the official SDKs' ``from``/``to``/``actions`` would do: the newest
  1000 events of the range and its ``total``).
- ``omit_empty``: false [true: protobuf-style JSON: every field holding ``false``, ``0``, ``""``,
  ``[]``, ``{}`` (or null) is omitted, recursively, in users and events (``{"a": {"b": 0}}`` loses
  ``a`` too; list items stay), and at the top level (``users``/``audits`` when empty, ``total``
  when 0: an empty answer is ``{}``)]. Objects inserted with ``put_user`` / ``add_event`` are
  served verbatim in both.
- ``user_time_unit``: user-search time filters are epoch ms, compared with ``createdTime * 1000``
  / ``modifiedTime * 1000`` [s: compared with the second-valued times directly].
- ``user_from``: ``from*`` exclusive [inclusive]; ``user_to``: ``to*`` inclusive [exclusive].
- ``login_flow_done``: none: no ``LoginFlowDone`` events at all [paired: every successful
  login, impersonations included, also logs a ``LoginFlowDone`` for the same user 1-40 ms later
  with its own ``ID`` and the same device, method and address; counting both double-counts].

Users
- A time filter of ``0`` (or ``null``, or absent) means "no bound", as a protobuf default
  would, in both units: so ``fromModifiedTime: 0`` is *not* a filter and returns legacy users too.
- Users without ``modifiedTime`` (legacy, bulk imports) never match a modified-time bound; users
  without an integer ``createdTime`` (only ``put_user`` makes them) never match a created-time
  bound, appear in unfiltered searches and sort first in createdTime ascending order (last
  descending), as if their createdTime were minus infinity. Both still count in ``total``.
- When both modified and created bounds are given, both apply.
- ``limit``: absent or 0 means 100; larger than ``max_page_size`` is silently capped;
  negative is a 400. ``page`` is 0-based; offset = ``page * effective_limit``. A page past
  the end is ``{"users": [], "total": N}``. ``total`` counts every match, not the page.
- Default order: createdTime asc, then userId asc. ``sort`` accepts createdTime,
  modifiedTime, userId, email, name (anything else is a 400); ties are broken by userId in
  the direction of the first sort entry. Sorting by modifiedTime puts users without it first
  (ascending). Paging is plain offset paging over the live data: users created, modified or
  deleted between two page requests shift the offsets (skips and repeats happen, as in Descope).
- ``withTestUser`` defaults to false (test users excluded); ``testUsersOnly`` and the
  ``/search/test`` path return test users only. ``statuses``, ``tenantIds``, ``roleNames``,
  ``userIds``, ``loginIds``, ``phones`` and ``emails`` filter too (emails compare trimmed and
  lower-cased); ``text`` keeps users with a top-level string (or string list item) containing it,
  case-insensitively. Other filters the SDK can send (``customAttributes``, ``ssoAppIds``,
  ``tenantRoleIds``, ...) are accepted and ignored: see ``stats["ignored_fields"]``.
- Numbers may be sent as JSON numbers or digit strings (protobuf JSON accepts both for int64).
- ``put_user`` records are served exactly as given (any fields, any types). One whose ``userId``
  is not a non-empty string is served and counted but cannot be found by ``userIds`` and sorts
  as userId ``""``. A string UTF-8 cannot encode (a lone surrogate) is served as its JSON escape
  (that object is serialized with ``ensure_ascii``); every other object keeps non-ASCII as UTF-8.

Audit
- ``from`` / ``to`` absent or 0: ``from = now - 30 days`` and ``to = now`` (so with an exclusive
  ``to`` an event in the current millisecond is not returned by a default ``to``). ``from``
  older than ``now - 30 days`` is a 400 (E011001); the world's clock is "now". ``to`` may be
  in the future.
- ``size``: absent or 0 means 1000; larger is silently capped at 1000; ``page`` 0-based.
- Order: newest first by default. Ties on ``occurred`` are ordered by the event ``ID``, or, for
  events without one (~20%), by ``sha256("userId|action|occurred|device|method|remoteAddress")``
  hex (see ``generate.event_hash``); the order is total and stable, so offset pages over an
  unchanging window are consistent.
- Filters implemented: actions, excludedActions, userIds, remoteAddresses, devices, methods, geos,
  externalIds (any of the event's), tenants (any of the event's; with ``noTenants: true`` events
  without tenants too), text (a top-level string or string list item containing it,
  case-insensitively). Others (``searchFields``, ``actorIds``, ...) are accepted and ignored;
  each search body's field that is not implemented and holds more than a default is counted in
  ``stats["ignored_fields"]`` as ``"<family>.<field>"``.
- ``occurred`` is a string of epoch-ms digits; ``ID`` is missing on ~20% of events.
- ``remoteAddress``: 94% a home IP of the user; ~3% a decorated form of the client IP
  (``"1.2.3.4:443"``, ``"[2001:4860:4860::8888]:443"``, ``"8.8.8.8, 10.0.0.1"`` = X-Forwarded-For
  with the client first, ``"10.0.0.1, 8.8.8.8"`` = a private proxy first); 1% another public IP;
  2% private, IPv6, empty or garbage (``"unknown"``, ``"1.2.3"``). The world remembers each
  event's undecorated client IP; ``geo`` is the client IP's country.
- ~1% of ``LoginSucceed`` have method ``Impersonate`` (with an ``actorId``); the truth does not
  count them as the user's activity.
- Late indexing: with ``World(index_delay_ms=(lo, hi))`` an event is visible (returned and
  counted) only once ``now >= occurred + delay``, the delay drawn per event, generated history
  included. ``World.login(occurred_ms=<past>)`` and ``World.add_event`` insert events that
  occurred in the past but are indexed only now.
- Deletions: ``UserDeleted`` (one user, ``userId``) or ``UsersDeleted`` (bulk: no ``userId``,
  ``actorId`` an admin, IDs in ``data.userIds`` with the users' first loginIds in
  ``externalIds``, or, with ``World(bulk_ids_in="externalIds")``, the IDs in ``externalIds``
  and no ``data.userIds``; always an ``ID``). Some deletions log nothing (``event=None``).

Licence (:mod:`.licence`)
- ``GET /v1/mgmt/license`` answers ``{"rateLimitTier": tier}`` (``Simulator(licence=Licence(...))``;
  default ``tier3``; no tier: ``{}``; ``Licence(failure=503)``: that status). Auth as the API
  endpoints (401 without the key; the SDKs send only ``Authorization`` here); no rate limit, no
  chaos; counted in ``stats["licence_reads"]``.
- Every search request's ``x-descope-license`` header is counted in ``stats["licence_header"]`` as
  ``matched`` / ``missing`` / ``mismatched`` (against the tier served). With
  ``RateLimits(unlicensed_share=s)`` requests that do not match go to a bucket of their own per family
  holding ``max(1, int(limit * s))`` requests per window (the edge's stricter default bucket), its
  429s counted in ``stats["rate_limited_without_licence"]``; with ``None`` (default) all share one.

Errors, limits, faults, chaos
- Bad auth: 401 ``E011003``; the key is never echoed. Unknown path: 404 ``E011004``; wrong
  method: 405. Body that is not a JSON object, or a badly typed field: 400 ``E011001``.
- Rate limits are sliding windows per project and endpoint family (user search and its
  ``/test`` variant share one). Over the limit: 429 ``E130429`` with ``Retry-After`` = whole
  seconds until a slot frees (at least 1). Rejected requests do not use a slot. Checked after
  auth, before the body is parsed.
- ``max_offset`` (None by default), like a search engine's max result window: a user or audit
  search whose offset (``page * effective page size``) is >= ``max_offset`` answers no items,
  with the true ``total``.
- ``answer_fault`` per endpoint family (``user_search`` / ``audit_search``), applied to every
  200 answer of that family after the dialect's shape: ``empty_object`` (``{}``),
  ``missing_total``, ``string_total`` (``"total": "N"``), ``missing_list``, ``bad_list`` (the list
  key holds ``{"0": item, ...}``). See :mod:`.answer`. The fault ``echo_key`` answers 400
  ``E011001`` instead, its ``errorMessage`` quoting the management key the request sent (a server
  that echoes what it was given: every error path must keep the key out).
- Chaos (per API request, seeded, after auth and rate limiting): a 429 (``Retry-After:
  retry_after``), else a 5xx (500/502/503/520; JSON or HTML body), else for user search
  possibly 1-3 world mutations before the answer is computed (whatever the outcome, like time
  passing), and finally maybe a 200 whose body is truncated JSON. Audit requests get no
  mutations.
- Responses are ``Content-Type: application/json`` without a charset (UTF-8, non-ASCII not
  escaped), always with ``Content-Length``; keep-alive is supported. Request bodies must carry
  ``Content-Length`` (chunked request bodies are not supported).

World and scale
- ``World(users=N)`` holds N live users plus N/200 users deleted inside the audit window (their
  audit history, incl. ``UserDeleted``, stays). Objects are generated lazily and serialized once
  per user version. With the default ``logins_per_user=4`` expect ~6 audit events per user
  (~12 s to build 100k users); for 1M users pass e.g. ``logins_per_user=0.05`` (~15 s, ~1 GB).
- ~15% of users have no ``modifiedTime``; ~40% have ``modifiedTime == createdTime``; a bulk
  import of max(5, 3%) users (``World(bulk_import=N)``: exactly N) shares one ``createdTime``
  second and has no ``modifiedTime``.

Truth (``GET /_sim/truth``, ``World.truth()``; see :mod:`.truth`)
- Only what audit search can see now counts: ``events`` (every visible event, oldest first, as
  served), ``event_client_ips`` (each event's undecorated client IP, aligned with ``events``;
  the address itself when it was not decorated, valid IP or not) and ``pending_events`` (how
  many are logged but not yet indexed).
- ``users``: live users with a userId exactly as search serves them in the dialect;
  ``users_without_id``: put_user records without one; ``user_count``: the ``total`` of a search
  with ``withTestUser: true`` and no filter (both kinds, test users included).
- ``logins``: every visible ``contract.LOGIN_ACTIONS`` event (``LoginSucceed``; never
  ``LoginFlowDone``), including Impersonate and deleted users' logins, oldest first.
- ``deleted_user_ids``: single, bulk and silent deletions (ghosts included), in order.
- ``expected_activity`` per live user with a userId: ``login_count``, ``first_login_time_ms``,
  ``last_login_time_ms``, ``last_login_ip`` (the undecorated client IP when it is a valid IP,
  private ones included, else None) and ``last_login_remote_address`` (raw), over visible logins
  excluding method ``Impersonate``; the last login is the one with the greatest
  ``(occurred, contract.event_id(event))``. Users without logins: count 0, the rest ``None``.
- ``now_ms`` (the world's clock when the truth was taken) and ``dialect``.
"""

from __future__ import annotations

import collections
import contextlib
import hmac
import ipaddress
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .answer import FAULT_FAMILIES, answer, check_fault
from .dialect import Dialect
from .licence import HEADER_OUTCOMES, LICENCE_PATH, Licence
from .store import USER_SORT_FIELDS, dumps
from .tenants import TENANTS_PATH, TenantDirectory
from .world import World

log = logging.getLogger(__name__)

RETENTION_MS = 30 * 86_400 * 1000
MAX_AUDIT_PAGE = 1000
USER_PATHS = ("/v2/mgmt/user/search", "/v2/mgmt/user/search/test")
AUDIT_PATH = "/v1/mgmt/audit/search"
API_PATHS = {USER_PATHS[0]: "user_search", USER_PATHS[1]: "user_search", AUDIT_PATH: "audit_search"}
API_PATHS[TENANTS_PATH] = "tenant_load"  # GET (simulator/tenants.py); every other API path is a POST
CHAOS_5XX = (500, 502, 503, 520)
# The body fields each search implements; any other field holding more than a protobuf default is
# accepted, ignored and counted in stats["ignored_fields"] (so a test can see a filter it asked for
# was not applied).
SEARCH_FIELDS = {
    "user_search": frozenset(
        {"limit", "page", "sort", "fromCreatedTime", "toCreatedTime", "fromModifiedTime", "toModifiedTime"}
        | {"withTestUser", "testUsersOnly", "statuses", "tenantIds", "emails", "userIds", "roleNames"}
        | {"loginIds", "phones", "text"}
    ),
    "audit_search": frozenset(
        {"from", "to", "size", "page", "oldestFirst", "actions", "excludedActions", "userIds"}
        | {"remoteAddresses", "devices", "methods", "geos", "tenants", "externalIds", "noTenants", "text"}
    ),
}


@dataclass(frozen=True)
class RateLimits:
    """``(requests, window_seconds)`` per endpoint family, per project (sliding window)."""

    user_search: tuple[int, float] = (200, 60.0)
    audit_search: tuple[int, float] = (10, 60.0)
    tenant_load: tuple[int, float] = (100, 60.0)
    # Requests without the matching x-descope-license header: a stricter bucket of their own holding
    # this share of each limit (None: no separate bucket).
    unlicensed_share: float | None = None


DEFAULT_PROJECT_ID = "P2simulatorproject00000000000000"
DEFAULT_MANAGEMENT_KEY = "K2sim-secret-key"


@dataclass(frozen=True)
class ChaosConfig:
    """Per-request fault probabilities (seeded); see the module docstring for the order."""

    seed: int = 1
    p_429: float = 0.1
    p_5xx: float = 0.1
    p_malformed: float = 0.03
    p_mutation: float = 0.5
    mutations_per_hit: tuple[int, int] = (1, 3)
    retry_after: int = 1
    # A burst of at most this many mid-scan mutations, then calm: a source that changes on every
    # request can never be read to an exact state, so tests compare with the truth once it settles.
    # None: no limit.
    max_mutations: int | None = 60

    @classmethod
    def none(cls) -> ChaosConfig:
        """A calm server: no faults, no mutations."""
        return cls(p_429=0.0, p_5xx=0.0, p_malformed=0.0, p_mutation=0.0)

    @classmethod
    def storm(cls, seed: int = 1) -> ChaosConfig:
        """A 429 storm: 60% of requests are rate-limited (other faults as by default)."""
        return cls(seed=seed, p_429=0.6)


class _BadRequest(Exception):
    pass


def _error(code: str, description: str, message: str) -> bytes:
    return json.dumps({"errorCode": code, "errorDescription": description, "errorMessage": message}).encode()


@dataclass
class _Stats:
    requests: collections.Counter = field(default_factory=collections.Counter)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    served_429: int = 0
    rate_limited: int = 0
    served_5xx: int = 0
    served_malformed: int = 0
    mutations: int = 0
    licence_reads: int = 0
    licence_header: collections.Counter = field(default_factory=collections.Counter)
    rate_limited_without_licence: int = 0
    ignored_fields: collections.Counter = field(default_factory=collections.Counter)

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "served_429": self.served_429,
            "rate_limited": self.rate_limited,
            "served_5xx": self.served_5xx,
            "served_malformed": self.served_malformed,
            "mutations": self.mutations,
            "licence_reads": self.licence_reads,
            "licence_header": {outcome: self.licence_header[outcome] for outcome in HEADER_OUTCOMES},
            "rate_limited_without_licence": self.rate_limited_without_licence,
            "ignored_fields": dict(self.ignored_fields),
        }


class _SlidingWindow:
    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.hits: collections.deque[float] = collections.deque()

    def acquire(self, now: float) -> int:
        """0 when a slot was taken, else the whole seconds to wait (>= 1)."""
        while self.hits and self.hits[0] <= now - self.window:
            self.hits.popleft()
        if len(self.hits) >= self.limit:
            return max(1, math.ceil(self.hits[0] + self.window - now))
        self.hits.append(now)
        return 0


class Simulator:
    """The HTTP server. ``start()`` returns self; use ``base_url``; ``stop()`` (or ``with``)."""

    def __init__(
        self,
        world: World,
        project_id: str = DEFAULT_PROJECT_ID,
        management_key: str = DEFAULT_MANAGEMENT_KEY,
        chaos: ChaosConfig | None = None,
        rate_limits: RateLimits = RateLimits(),
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
        # A test's hand on the timing: called with ("before" | "after", endpoint, request, world) around
        # computing each answer of the search endpoints, e.g. to change the data between two pages or
        # right after an answer was computed (while the client has not yet received it).
        self.on_request = on_request
        self.max_offset = max_offset
        self.answer_fault = answer_fault or {}
        self.project_id = project_id
        self._auth = f"Bearer {project_id}:{management_key}".encode()
        self.management_key = management_key  # tests and the demo hand it to the extractor
        self.chaos = chaos or ChaosConfig.none()
        self.rate_limits = rate_limits
        self.max_page_size = max_page_size
        self.host, self.port = host, port
        self._chaos_rng = random.Random(self.chaos.seed)
        self._lock = threading.Lock()  # stats, limiter, chaos RNG
        self._limiters = {
            "user_search": _SlidingWindow(*rate_limits.user_search),
            "audit_search": _SlidingWindow(*rate_limits.audit_search),
            "tenant_load": _SlidingWindow(*rate_limits.tenant_load),
        }
        share = rate_limits.unlicensed_share
        self._unlicensed_limiters = (
            {}
            if share is None
            else {
                family: _SlidingWindow(max(1, int(limit * share)), window)
                for family, (limit, window) in (
                    ("user_search", rate_limits.user_search),
                    ("audit_search", rate_limits.audit_search),
                    ("tenant_load", rate_limits.tenant_load),
                )
            }
        )
        self.tenants = TenantDirectory(world)
        self._stats = _Stats()
        self._mutations_planned = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[Any] = set()

    def __repr__(self) -> str:  # never show the key
        return f"Simulator(project_id={self.project_id!r}, base_url={self.base_url if self._server else None!r})"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Simulator:
        if self._server is not None:
            return self
        sim = self

        class Handler(_Handler):
            simulator = sim

        server = ThreadingHTTPServer((self.host, self.port), Handler)
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
        with self._lock:
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

    @property
    def stats(self) -> dict[str, Any]:
        with self._lock:
            return self._stats.snapshot()

    # ------------------------------------------------------------------ dispatch
    def handle(
        self, method: str, path: str, headers: Any, body: bytes, client: str
    ) -> tuple[int, bytes, dict[str, str]]:
        """(status, body, extra headers) for one request."""
        path = urlsplit(path).path
        with self._lock:
            self._stats.requests[path] += 1
        if path in API_PATHS:
            expected = "GET" if path == TENANTS_PATH else "POST"
            if method != expected:
                return 405, _error("E011005", "Method not allowed", f"use {expected} for {path}"), {}
            return self._api(API_PATHS[path], path, headers, body)
        if path == LICENCE_PATH:
            if method != "GET":
                return 405, _error("E011005", "Method not allowed", f"use GET for {path}"), {}
            return self._licence(headers)
        if path.startswith("/_sim/"):
            try:
                loopback = ipaddress.ip_address(client).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                return 403, _error("E011003", "Forbidden", "test control is for loopback clients"), {}
            return self._control(method, path, body)
        return 404, _error("E011004", "Not found", f"no such endpoint {path}"), {}

    def _authorized(self, headers: Any) -> bool:
        return hmac.compare_digest((headers.get("Authorization") or "").encode(), self._auth)

    def _licence(self, headers: Any) -> tuple[int, bytes, dict[str, str]]:
        if not self._authorized(headers):
            return 401, _error("E011003", "Unauthorized", "invalid project id or management key"), {}
        with self._lock:
            self._stats.licence_reads += 1
        status, payload = self.licence.answer()
        return status, payload, {}

    def _api(self, endpoint: str, path: str, headers: Any, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        if not self._authorized(headers):
            return 401, _error("E011003", "Unauthorized", "invalid project id or management key"), {}
        outcome = self.licence.header_outcome(headers)
        with self._lock:
            self._stats.licence_header[outcome] += 1
            licensed = outcome == "matched" or not self._unlicensed_limiters
            limiter = self._limiters[endpoint] if licensed else self._unlicensed_limiters[endpoint]
            wait = limiter.acquire(time.monotonic())
            if wait:
                self._stats.rate_limited += 1
                if not licensed:
                    self._stats.rate_limited_without_licence += 1
                return (
                    429,
                    _error("E130429", "Rate limit exceeded", f"too many requests, retry in {wait}s"),
                    {"Retry-After": str(wait)},
                )
            plan = self._chaos_plan(endpoint)
        if plan["mutations"]:
            with self.world.lock:
                done = sum(len(self.world.random_mutation()) for _ in range(plan["mutations"]))
            with self._lock:
                self._stats.mutations += done
        if plan["status"] == 429:
            return (
                429,
                _error("E130429", "Rate limit exceeded", "simulated rate limit"),
                {"Retry-After": str(self.chaos.retry_after)},
            )
        if plan["status"]:
            if plan["html"]:
                code = plan["status"]
                html = f"<html><head><title>{code}</title></head><body><h1>{code}</h1></body></html>"
                return code, html.encode(), {"Content-Type": "text/html"}
            return plan["status"], _error("E011500", "Internal error", "simulated failure"), {}
        try:
            try:
                request = json.loads(body or b"{}")
            except ValueError as exc:
                raise _BadRequest(f"body is not valid JSON: {exc}") from None
            if not isinstance(request, dict):
                raise _BadRequest("body must be a JSON object")
            ignored = _ignored(endpoint, request)
            if ignored:
                with self._lock:
                    self._stats.ignored_fields.update(f"{endpoint}.{key}" for key in ignored)
            if self.on_request is not None:
                self.on_request("before", endpoint, request, self.world)
            if self.answer_fault.get(endpoint) == "echo_key":
                key = (headers.get("Authorization") or "").partition(":")[2]
                raise _BadRequest(f"request rejected for the management key {key}: the body is not understood")
            if endpoint == "user_search":
                payload = self._user_search(request, test_only=path == USER_PATHS[1])
            elif endpoint == "tenant_load":
                payload = self.tenants.answer()
            else:
                payload = self._audit_search(request)
            if self.on_request is not None:
                self.on_request("after", endpoint, request, self.world)
        except _BadRequest as exc:
            return 400, _error("E011001", "Bad request", str(exc)), {}
        if plan["malformed"] and len(payload) > 1:
            payload = payload[: max(1, int(len(payload) * plan["cut"]))]
            with self._lock:
                self._stats.served_malformed += 1
        return 200, payload, {}

    def _chaos_plan(self, endpoint: str) -> dict[str, Any]:
        """Decide this request's faults (caller holds ``self._lock``)."""
        c, rng = self.chaos, self._chaos_rng
        plan: dict[str, Any] = {"status": 0, "html": False, "mutations": 0, "malformed": False, "cut": 1.0}
        roll = rng.random()
        if roll < c.p_429:
            plan["status"] = 429
        elif roll < c.p_429 + c.p_5xx:
            plan["status"] = rng.choice(CHAOS_5XX)
            plan["html"] = rng.random() < 0.5
        if endpoint == "user_search" and c.p_mutation and rng.random() < c.p_mutation:
            wanted = rng.randint(*c.mutations_per_hit)
            if c.max_mutations is not None:
                wanted = min(wanted, c.max_mutations - self._mutations_planned)
            plan["mutations"] = max(0, wanted)
            self._mutations_planned += plan["mutations"]
        if not plan["status"] and c.p_malformed and rng.random() < c.p_malformed:
            plan["malformed"], plan["cut"] = True, rng.uniform(0.1, 0.9)
        return plan

    # ------------------------------------------------------------------ API
    def _user_search(self, q: dict[str, Any], *, test_only: bool) -> bytes:
        limit = _int(q, "limit", 0)
        if limit < 0:
            raise _BadRequest("limit must be >= 0")
        limit = min(limit or 100, self.max_page_size)
        page = _int(q, "page", 0)
        if page < 0:
            raise _BadRequest("page must be >= 0")
        sort = []
        raw_sort = q.get("sort") or []
        if not isinstance(raw_sort, list):
            raise _BadRequest("sort must be a list")
        for item in raw_sort:
            if not isinstance(item, dict) or item.get("field") not in USER_SORT_FIELDS:
                raise _BadRequest(f"unsupported sort {item!r}; fields: {', '.join(USER_SORT_FIELDS)}")
            sort.append((item["field"], bool(item.get("desc", False))))
        dialect = self.world.dialect
        query = {
            "sort": sort,
            "created": dialect.user_bounds(_int(q, "fromCreatedTime", 0) or None, _int(q, "toCreatedTime", 0) or None),
            "modified": dialect.user_bounds(
                _int(q, "fromModifiedTime", 0) or None, _int(q, "toModifiedTime", 0) or None
            ),
            "with_test_users": _bool(q, "withTestUser"),
            "test_users_only": test_only or _bool(q, "testUsersOnly"),
            "statuses": _strings(q, "statuses"),
            "tenant_ids": _strings(q, "tenantIds"),
            "emails": _strings(q, "emails"),
            "user_ids": _strings(q, "userIds"),
            "role_names": _strings(q, "roleNames"),
            "login_ids": _strings(q, "loginIds"),
            "phones": _strings(q, "phones"),
            "text": _string(q, "text"),
        }
        if self._past_window(page, limit):
            users, total = self.world.search_users_raw(limit=0, page=0, **query)
        else:
            users, total = self.world.search_users_raw(limit=limit, page=page, **query)
        return answer("users", users, total, omit_empty=dialect.omit_empty, fault=self.answer_fault.get("user_search"))

    def _past_window(self, page: int, limit: int) -> bool:
        max_offset = self.max_offset
        return max_offset is not None and page * limit >= max_offset

    def _audit_search(self, q: dict[str, Any]) -> bytes:
        dialect = self.world.dialect
        now_ms = int(self.world.now() * 1000)
        from_ms = _int(q, "from", 0) or now_ms - RETENTION_MS
        to_ms = _int(q, "to", 0) or now_ms
        if from_ms < now_ms - RETENTION_MS:
            raise _BadRequest("from is older than the 30 day retention")
        size = _int(q, "size", 0)
        if size < 0:
            raise _BadRequest("size must be >= 0")
        size = min(size or MAX_AUDIT_PAGE, MAX_AUDIT_PAGE) if dialect.audit_size == "honoured" else MAX_AUDIT_PAGE
        page = _int(q, "page", 0)
        if page < 0:
            raise _BadRequest("page must be >= 0")
        page = page if dialect.audit_page == "honoured" else 0
        oldest_first = _bool(q, "oldestFirst") and dialect.audit_oldest_first == "honoured"
        lo, hi = dialect.audit_bounds(from_ms, to_ms)
        past = self._past_window(page, size)
        blobs, total = self.world.search_audit(
            from_ms=lo,
            to_ms=hi,
            size=0 if past else size,
            page=0 if past else page,
            oldest_first=oldest_first,
            actions=_strings(q, "actions"),
            excluded_actions=_strings(q, "excludedActions"),
            user_ids=_strings(q, "userIds"),
            remote_addresses=_strings(q, "remoteAddresses"),
            devices=_strings(q, "devices"),
            methods=_strings(q, "methods"),
            geos=_strings(q, "geos"),
            tenants=_strings(q, "tenants"),
            external_ids=_strings(q, "externalIds"),
            no_tenants=_bool(q, "noTenants"),
            text=_string(q, "text"),
        )
        return answer(
            "audits", blobs, total, omit_empty=dialect.omit_empty, fault=self.answer_fault.get("audit_search")
        )

    # ------------------------------------------------------------------ test control
    def _control(self, method: str, path: str, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        if path == "/_sim/truth" and method == "GET":
            return 200, dumps(self.world.truth()), {}
        if path == "/_sim/faults" and method == "GET":
            return 200, json.dumps(self.faults).encode(), {}
        if path == "/_sim/faults" and method == "POST":
            try:
                request = json.loads(body or b"{}")
                if not isinstance(request, dict) or set(request) - {"max_offset", "answer_fault"}:
                    raise ValueError("body must be an object with max_offset and/or answer_fault")
                return 200, json.dumps(self.set_faults(**request)).encode(), {}
            except ValueError as exc:
                return 400, _error("E011001", "Bad request", str(exc)), {}
        if path == "/_sim/stats" and method == "GET":
            return 200, json.dumps(self.stats).encode(), {}
        if path == "/_sim/mutate" and method == "POST":
            try:
                request = json.loads(body or b"{}")
                if not isinstance(request, dict):
                    raise _BadRequest("body must be a JSON object")
                counts = {k: _int(request, k, 0) for k in ("creates", "modifies", "deletes", "logins")}
            except (ValueError, _BadRequest) as exc:
                return 400, _error("E011001", "Bad request", str(exc)), {}
            return 200, dumps(self.mutate(**counts)), {}
        return 404, _error("E011004", "Not found", f"no such control endpoint {method} {path}"), {}

    def mutate(self, creates: int = 0, modifies: int = 0, deletes: int = 0, logins: int = 0) -> dict[str, Any]:
        """Apply mutations to the world; returns the user ids touched per kind."""
        done: dict[str, list[str]] = {"created": [], "modified": [], "deleted": [], "logins": []}
        w = self.world
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
        with self._lock:
            self._stats.mutations += sum(len(v) for v in done.values())
        return done

    def _track(self, conn: Any, opened: bool) -> None:
        with self._lock:
            if opened:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _count_response(self, status: int) -> None:
        with self._lock:
            self._stats.statuses[status] += 1
            if status == 429:
                self._stats.served_429 += 1
            elif status >= 500:
                self._stats.served_5xx += 1


def _int(q: dict[str, Any], key: str, default: int) -> int:
    value = q.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _BadRequest(f"{key} must be an integer")
    try:
        return int(value)
    except ValueError:
        raise _BadRequest(f"{key} must be an integer") from None


def _bool(q: dict[str, Any], key: str) -> bool:
    value = q.get(key, False)
    if not isinstance(value, bool | None):
        raise _BadRequest(f"{key} must be a boolean")
    return bool(value)


def _string(q: dict[str, Any], key: str) -> str:
    value = q.get(key) or ""
    if not isinstance(value, str):
        raise _BadRequest(f"{key} must be a string")
    return value


def _ignored(endpoint: str, q: dict[str, Any]) -> list[str]:
    """The fields of a search body the simulator does not implement and that hold more than a default."""
    return [key for key, value in q.items() if key not in SEARCH_FIELDS[endpoint] and value not in _DEFAULTS]


_DEFAULTS: tuple[Any, ...] = (None, False, 0, "", [], {})


def _strings(q: dict[str, Any], key: str) -> list[str]:
    value = q.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _BadRequest(f"{key} must be a list of strings")
    return value


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "DescopeSimulator/1.0"
    timeout = 120
    simulator: Simulator

    def setup(self) -> None:
        super().setup()
        self.simulator._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.simulator._track(self.connection, False)

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        try:
            status, payload, extra = self.simulator.handle(
                method, self.path, self.headers, body, self.client_address[0]
            )
        except Exception:  # a simulator bug must not kill the connection thread silently
            log.exception("simulator failed on %s %s", method, self.path)
            status, payload, extra = 500, _error("E011500", "Internal error", "simulator bug"), {}
        self.simulator._count_response(status)
        self.send_response(status)
        headers = {"Content-Type": "application/json", **extra}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("simulator: " + format, *args)


def serve(port: int, users: int, chaos: bool, seed: int, dialect: Dialect | str | None = None) -> None:
    """Run a simulator in the foreground until Ctrl-C.

    ``dialect``: a :class:`.dialect.Dialect`, or text for :meth:`.dialect.Dialect.parse`
    (``None``: documented). It accepts the credentials in DESCOPE_PROJECT_ID / DESCOPE_MANAGEMENT_KEY when they are set
    (so one environment serves the simulator and the extractor), else its own demo values.
    """
    import os

    project_id = os.environ.get("DESCOPE_PROJECT_ID") or DEFAULT_PROJECT_ID
    key_from_env = os.environ.get("DESCOPE_MANAGEMENT_KEY")
    if isinstance(dialect, str):
        dialect = Dialect.parse(dialect)
    dialect = dialect or Dialect()
    print(f"Building a world of {users} users (seed {seed}, dialect {dialect.describe()})...", flush=True)
    world = World(seed=seed, users=users, project_id=project_id, dialect=dialect)
    sim = Simulator(
        world,
        project_id=project_id,
        management_key=key_from_env or DEFAULT_MANAGEMENT_KEY,
        chaos=ChaosConfig(seed=seed) if chaos else None,
        port=port,
    ).start()
    print(f"Descope simulator listening on {sim.base_url}", flush=True)
    print(f"  export DESCOPE_BASE_URL={sim.base_url}")
    print(f"  export DESCOPE_PROJECT_ID={sim.project_id}")
    if key_from_env:
        print("  DESCOPE_MANAGEMENT_KEY: the value already in your environment")
    else:
        print(f"  export DESCOPE_MANAGEMENT_KEY={DEFAULT_MANAGEMENT_KEY}   # the simulator's demo key, not a secret")
    print(f"  chaos: {'on' if chaos else 'off'}; truth at {sim.base_url}/_sim/truth; Ctrl-C stops", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        print("simulator stopped", flush=True)
