"""The Descope management-API client: auth, the licence handshake, retries, Retry-After and the time budget.

docs/design.md ("Answers", "Transport errors", "Licence") describes each rule.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests

from descope_sync import __version__, catalog, interrupts
from descope_sync.deadline import Deadline
from descope_sync.errors import (
    BudgetExhausted,
    DescopeAuthError,
    DescopeRequestError,
    DescopeUnavailableError,
    DescopeUnreachable,
    MalformedAnswer,
)
from descope_sync.pages import Page, parse_page
from descope_sync.secrets import Secret
from descope_sync.transport_errors import describe_transport_error, host_of

log = logging.getLogger(__name__)
T = TypeVar("T")

USER_SEARCH_PATH = catalog.api_path("users")
AUDIT_SEARCH_PATH = catalog.api_path("audit_events")
LICENCE_PATH = "/v1/mgmt/license"
LICENCE_HEADER = "x-descope-license"
LICENCE_TIMEOUT = 5.0  # the SDKs' handshake timeout
# A tier goes into a header: anything else (a newline, an object) is treated as no tier.
_TIER = re.compile(r"[A-Za-z0-9._-]{1,64}")
RETRYABLE_STATUS = {500, 502, 503, 504, 520, 521, 522, 524, 530}
# Transport failures worth another attempt; every other requests error means the request itself
# cannot be sent (a bad URL, a header value requests refuses): retrying will not help.
RETRYABLE_TRANSPORT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


# How often a refused connection is tried again: once, quickly (a server restarting), not a long series.
REFUSED_ATTEMPTS = 2


@dataclass
class ClientStats:
    requests: int = 0
    rate_limited: int = 0
    rate_limit_wait_seconds: float = 0.0
    retries: int = 0
    malformed: int = 0
    by_path: dict[str, int] = field(default_factory=dict)  # the searches; the licence read is not among them
    licence_reads: int = 0


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
        self._licence_read = False
        self.rate_limit_tier: str | None = None  # the licence's tier, sent as x-descope-license once read

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
        headers = {
            "Authorization": f"Bearer {self._project_id}:{self._key.reveal()}",
            "x-descope-project-id": self._project_id,
            "Content-Type": "application/json",
            "User-Agent": f"descope-sync/{__version__}",
        }
        if self.rate_limit_tier:
            headers[LICENCE_HEADER] = self.rate_limit_tier
        return headers

    def _read_licence(self) -> None:
        """Read the licence's rate-limit tier once per client; only a rejected key stops the run."""
        if self._licence_read:
            return
        self._licence_read = True
        self.stats.licence_reads += 1
        problem = self._fetch_tier()
        if problem is None:
            log.info("Descope licence read: rate-limit tier %s", self.rate_limit_tier)
        else:
            log.warning(
                "Descope licence not read (%s): requests go without the %s header, so Descope may apply "
                "a stricter rate limit; extraction goes on",
                problem,
                LICENCE_HEADER,
            )

    def _fetch_tier(self) -> str | None:
        """Set `rate_limit_tier` from the licence; None on success, else what went wrong (no secret)."""
        timeout = min(LICENCE_TIMEOUT, self.timeout, max(0.1, self.deadline.remaining()))
        headers = {name: value for name, value in self._headers().items() if name != "Content-Type"}
        try:
            response = self._session.get(self.base_url + LICENCE_PATH, headers=headers, timeout=timeout)
        except Exception as exc:  # requests puts header values (the key) into some messages: the type only
            return f"the request failed ({type(exc).__name__})"
        if response.status_code in (401, 403):
            raise self._auth_error(response.status_code)
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        try:
            decoded = response.json()
        except ValueError:
            return "the answer is not JSON"
        tier = decoded.get("rateLimitTier") if isinstance(decoded, dict) else None
        if not isinstance(tier, str) or not _TIER.fullmatch(tier):
            return "the answer holds no rateLimitTier" if not tier else "the rateLimitTier is not a tier name"
        self.rate_limit_tier = tier
        return None

    def _auth_error(self, status: int) -> DescopeAuthError:
        return DescopeAuthError(
            f"Descope rejected the management key ({status}) for project "
            f"{self._project_id}: check DESCOPE_MANAGEMENT_KEY and DESCOPE_PROJECT_ID"
        )

    def _wait(self, seconds: float, reason: str) -> None:
        if seconds > self.deadline.remaining():
            raise BudgetExhausted(f"{reason}: waiting {seconds:.0f}s would pass the time budget")
        if self._on_wait:
            self._on_wait(reason, seconds)  # it says so (once): progress.Progress.wait
        else:
            log.info("waiting %.1fs: %s", seconds, reason)
        self._sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * (2**attempt))
        return ceiling * (0.5 + self._random.random() / 2)  # jitter: half to full

    def _send(self, url: str, path: str, body: dict[str, Any] | None) -> requests.Response:
        """One HTTP request. Errors that cannot be retried leave without their message or chain:
        requests puts header values (the key) into some of them."""
        try:
            # a request sent just before the deadline waits only for what is left of it
            timeout = self.deadline.bound(self.timeout)
            if body is None:
                return self._session.get(url, headers=self._headers(), timeout=timeout)
            return self._session.post(url, json=body, headers=self._headers(), timeout=timeout)
        except RETRYABLE_TRANSPORT:
            raise
        except Exception as exc:
            raise DescopeRequestError(
                f"a request to {path} could not be sent ({type(exc).__name__}); check DESCOPE_BASE_URL, "
                "DESCOPE_PROJECT_ID and that DESCOPE_MANAGEMENT_KEY holds only the key"
            ) from None

    def get(self, path: str, parse: Callable[[Any, int], T]) -> T:
        """GET, then `parse(decoded_json, size_in_bytes)`; retried as `post` retries."""
        return self.post(path, None, parse)

    def post(self, path: str, body: dict[str, Any] | None, parse: Callable[[Any, int], T]) -> T:
        """POST `body` (None: a GET), then `parse(decoded_json, size_in_bytes)`; retries what can be retried."""
        url = self.base_url + path
        failures = 0
        rate_limit_waits = 0
        while True:
            interrupts.check()
            self.deadline.check()
            self._read_licence()
            self.stats.requests += 1
            self.stats.by_path[path] = self.stats.by_path.get(path, 0) + 1
            problem: str
            try:
                response = self._send(url, path, body)
            except RETRYABLE_TRANSPORT as exc:
                cause = describe_transport_error(exc, self.timeout)
                problem = f"{cause.text} talking to {host_of(self.base_url)}"
                if cause.fatal or (cause.kind == "refused" and failures + 1 >= REFUSED_ATTEMPTS):
                    raise DescopeUnreachable(
                        f"cannot reach Descope at {host_of(self.base_url)}: {cause.text}; "
                        "check DESCOPE_BASE_URL (or the project ID it is derived from) and the network"
                    ) from None
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
                    raise self._auth_error(status)
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
