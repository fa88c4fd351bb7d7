"""The Descope management-API client: auth, retries, Retry-After, time budget, answer validation.

Every 200 answer is parsed into a `Page` that has the promised shape, or it is malformed and
retried like a 5xx: a body that is not a JSON object, a list or `total` of the wrong type, a page
longer than its `total`, or (when the caller knows the server sends them) a missing list or total.
Protobuf-style JSON may omit an empty list and a zero `total`, so `{}` parses as an empty page with
`omitted=True`: callers prove emptiness at a higher level instead of trusting it. Paging lives in
the streams.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests

from descope_sync import __version__
from descope_sync.errors import (
    BudgetExhausted,
    DescopeAuthError,
    DescopeRequestError,
    DescopeUnavailableError,
    MalformedAnswer,
)
from descope_sync.secrets import Secret

log = logging.getLogger(__name__)
T = TypeVar("T")

USER_SEARCH_PATH = "/v2/mgmt/user/search"
AUDIT_SEARCH_PATH = "/v1/mgmt/audit/search"
RETRYABLE_STATUS = {500, 502, 503, 504, 520, 521, 522, 524, 530}
# Transport failures worth another attempt; every other requests error means the request itself
# cannot be sent (a bad URL, a header value requests refuses): retrying will not help.
RETRYABLE_TRANSPORT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


@dataclass(frozen=True)
class Page:
    """One validated answer of a search endpoint."""

    items: list[Any]
    total: int
    omitted: bool  # the answer left out its list and/or its total (protobuf-style empty values)
    size_bytes: int

    @property
    def fits(self) -> bool:
        """Everything the query matched is in this page."""
        return len(self.items) >= self.total


def parse_page(decoded: Any, list_key: str, size_bytes: int, *, require_explicit: bool = False) -> Page:
    """Validate a search answer: `{list_key: [...], "total": int}`; raises MalformedAnswer."""
    if not isinstance(decoded, dict):
        raise MalformedAnswer("the answer is not a JSON object")
    omitted = False
    if list_key in decoded:
        items = decoded[list_key]
        if not isinstance(items, list):
            raise MalformedAnswer(f"'{list_key}' is a {type(items).__name__}, not a list")
    else:
        items, omitted = [], True
    if "total" in decoded:
        total = decoded["total"]
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise MalformedAnswer(f"'total' is {type(total).__name__} {total!r:.20}, not a non-negative integer")
    elif items:
        raise MalformedAnswer(f"a page of {len(items)} {list_key} without 'total'")
    else:
        total, omitted = 0, True
    if len(items) > total:
        raise MalformedAnswer(f"a page of {len(items)} {list_key} with 'total' {total}")
    if omitted and require_explicit:
        raise MalformedAnswer(f"the answer lacks '{list_key}' or 'total', which this server always sends")
    return Page(items, total, omitted, size_bytes)


@dataclass
class ClientStats:
    requests: int = 0
    rate_limited: int = 0
    rate_limit_wait_seconds: float = 0.0
    retries: int = 0
    malformed: int = 0
    by_path: dict[str, int] = field(default_factory=dict)


@dataclass
class Deadline:
    """A wall-clock budget shared by every request of a run (None: no budget)."""

    seconds: float | None = None
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def remaining(self) -> float:
        if self.seconds is None:
            return float("inf")
        return self.seconds - (self.clock() - self.started)

    def check(self) -> None:
        if self.remaining() <= 0:
            raise BudgetExhausted(f"time budget of {self.seconds:.0f}s used up")

    def bound(self, seconds: float) -> float:
        """`seconds` cut to what is left of the budget (>= 1 ms): a timeout or wait never outlasts it."""
        return max(0.001, min(seconds, self.remaining()))


class DescopeClient:
    def __init__(
        self,
        base_url: str,
        project_id: str,
        management_key: Secret,
        *,
        timeout: float = 60.0,
        max_attempts: int = 6,
        max_rate_limit_waits: int = 60,
        max_retry_after: float = 120.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        deadline: Deadline | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[str, float], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._project_id = project_id
        self._key = management_key
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_rate_limit_waits = max_rate_limit_waits
        self.max_retry_after = max_retry_after
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.deadline = deadline or Deadline()
        self._sleep = sleep
        self._on_wait = on_wait
        self._session = requests.Session()
        self._random = random.Random()
        self.stats = ClientStats()

    def close(self) -> None:
        self._session.close()

    def search_users(
        self, body: dict[str, Any], *, require_explicit: bool = False, check: Callable[[Page], None] | None = None
    ) -> Page:
        return self._search(USER_SEARCH_PATH, "users", body, require_explicit, check)

    def search_audit(
        self, body: dict[str, Any], *, require_explicit: bool = False, check: Callable[[Page], None] | None = None
    ) -> Page:
        return self._search(AUDIT_SEARCH_PATH, "audits", body, require_explicit, check)

    def _search(
        self,
        path: str,
        list_key: str,
        body: dict[str, Any],
        require_explicit: bool,
        check: Callable[[Page], None] | None,
    ) -> Page:
        def parse(decoded: Any, size: int) -> Page:
            page = parse_page(decoded, list_key, size, require_explicit=require_explicit)
            if check is not None:
                check(page)
            return page

        return self.post(path, body, parse)

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._project_id}:{self._key.reveal()}",
            "x-descope-project-id": self._project_id,
            "Content-Type": "application/json",
            "User-Agent": f"descope-sync/{__version__}",
        }

    def _wait(self, seconds: float, reason: str) -> None:
        if seconds > self.deadline.remaining():
            raise BudgetExhausted(f"{reason}: waiting {seconds:.0f}s would pass the time budget")
        if self._on_wait:
            self._on_wait(reason, seconds)
        log.info("waiting %.1fs: %s", seconds, reason)
        self._sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * (2**attempt))
        return ceiling * (0.5 + self._random.random() / 2)  # jitter: half to full

    def _send(self, url: str, path: str, body: dict[str, Any]) -> requests.Response:
        """One HTTP request. Errors that cannot be retried leave without their message or chain:
        requests puts header values (the key) into some of them."""
        try:
            # a request sent just before the deadline waits only for what is left of it
            timeout = self.deadline.bound(self.timeout)
            return self._session.post(url, json=body, headers=self._headers(), timeout=timeout)
        except RETRYABLE_TRANSPORT:
            raise
        except Exception as exc:
            raise DescopeRequestError(
                f"a request to {path} could not be sent ({type(exc).__name__}); check DESCOPE_BASE_URL, "
                "DESCOPE_PROJECT_ID and that DESCOPE_MANAGEMENT_KEY holds only the key"
            ) from None

    def post(self, path: str, body: dict[str, Any], parse: Callable[[Any, int], T]) -> T:
        """POST, then `parse(decoded_json, size_in_bytes)`; retries what can be retried."""
        url = self.base_url + path
        failures = 0
        rate_limit_waits = 0
        while True:
            self.deadline.check()
            self.stats.requests += 1
            self.stats.by_path[path] = self.stats.by_path.get(path, 0) + 1
            problem: str
            try:
                response = self._send(url, path, body)
            except RETRYABLE_TRANSPORT as exc:
                problem = f"connection error ({type(exc).__name__})"
            else:
                status = response.status_code
                if status == 200:
                    try:
                        decoded = response.json()
                    except ValueError:
                        problem = "malformed response body (not JSON)"
                    else:
                        try:
                            return parse(decoded, len(response.content))
                        except MalformedAnswer as exc:
                            problem = f"malformed response body ({exc})"
                            self.stats.malformed += 1
                elif status in (401, 403):
                    raise DescopeAuthError(
                        f"Descope rejected the management key ({status}) for project "
                        f"{self._project_id}: check DESCOPE_MANAGEMENT_KEY and DESCOPE_PROJECT_ID"
                    )
                elif status == 429:
                    rate_limit_waits += 1
                    self.stats.rate_limited += 1
                    if rate_limit_waits > self.max_rate_limit_waits:
                        raise DescopeUnavailableError(
                            f"Descope kept rate-limiting {path} ({rate_limit_waits - 1} waits); try again later"
                        )
                    wait = min(_retry_after(response), self.max_retry_after)
                    self.stats.rate_limit_wait_seconds += wait
                    self._wait(wait, f"rate limited on {path} (429)")
                    continue
                elif status in RETRYABLE_STATUS:
                    problem = f"HTTP {status}"
                else:
                    raise DescopeRequestError(f"Descope refused {path}: {_describe_error(response)}")
            failures += 1
            if failures >= self.max_attempts:
                raise DescopeUnavailableError(
                    f"Descope request {path} failed {failures} times, last: {problem}; nothing past "
                    "the last committed cursor was recorded, so the next run resumes there"
                )
            self.stats.retries += 1
            self._wait(self._backoff(failures - 1), f"{problem} on {path}, retry {failures}")


def _retry_after(response: requests.Response) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(1.0, float(value))
    except ValueError:
        return 5.0


def _describe_error(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("errorCode"):
        message = body.get("errorMessage") or body.get("errorDescription") or ""
        return f"HTTP {response.status_code} {body['errorCode']}: {message}"[:300]
    return f"HTTP {response.status_code}"
