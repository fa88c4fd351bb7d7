"""The Descope client over real HTTP: malformed answers never pass as data, and no error carries the key."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from descope_sync import __version__
from descope_sync.descope import AUDIT_SEARCH_PATH, LICENCE_PATH, USER_SEARCH_PATH, Deadline, DescopeClient
from descope_sync.errors import (
    BudgetExhausted,
    DescopeAuthError,
    DescopeRequestError,
    DescopeUnavailableError,
)
from descope_sync.secrets import Secret
from tests.conftest import logged

KEY = "K2canned-server-key-0123456789"


class CannedServer:
    """Answers every POST with the next canned (status, body[, headers]) and records the requests (their
    bodies in `requests`, their paths and headers in `seen`). A status of ("slow", s) answers 200 after s seconds.
    Every GET (the licence) is answered `licence` (same form) and recorded in `licence_seen`."""

    def __init__(self) -> None:
        self.answers: list[tuple] = []
        self.requests: list[dict] = []
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.licence: tuple = (200, b'{"rateLimitTier": "tier2"}')
        self.licence_seen: list[tuple[str, dict[str, str]]] = []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                canned.licence_seen.append((self.path, dict(self.headers.items())))
                self._answer(canned.licence)

            def _answer(self, answer: tuple) -> None:
                status, body, *headers = answer
                if isinstance(status, tuple):
                    time.sleep(status[1])
                    status = 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in (headers[0] if headers else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                canned.requests.append(json.loads(self.rfile.read(length) or b"{}"))
                canned.seen.append((self.path, dict(self.headers.items())))
                self._answer(canned.answers.pop(0) if canned.answers else (200, b'{"users":[],"total":0}'))

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canned() -> Iterator[CannedServer]:
    server = CannedServer()
    yield server
    server.close()


def client_for(url: str, key: str = KEY, attempts: int = 3) -> DescopeClient:
    return DescopeClient(url, "P2test", Secret(key), max_attempts=attempts, sleep=lambda _s: None)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"[]", "the answer is not a JSON object"),
        (b'{"users": {"a": 1}, "total": 1}', "'users' is a dict, not a list"),
        (b'{"users": null, "total": 0}', "'users' is a NoneType, not a list"),
        (b'{"users": [{"userId": "U1"}], "total": "2500"}', "'total' is str '2500', not a non-negative integer"),
        (b'{"users": [{"userId": "U1"}], "total": true}', "'total' is bool True, not a non-negative integer"),
        (b'{"users": [{"userId": "U1"}], "total": -1}', "'total' is int -1, not a non-negative integer"),
        (b'{"users": [{"userId": "U1"}]}', "a page of 1 users without 'total'"),
        (b'{"users": [{"userId": "U1"}, {"userId": "U2"}], "total": 1}', "a page of 2 users with 'total' 1"),
    ],
)
def test_answers_of_the_wrong_shape_are_retried_then_fail_without_becoming_data(canned, body, why):
    canned.answers = [(200, body)] * 3
    client = client_for(canned.url)
    with pytest.raises(DescopeUnavailableError) as caught:
        client.search_users({"limit": 10})
    assert f"last: malformed response body ({why});" in str(caught.value)
    assert len(canned.requests) == 3  # every attempt used, none accepted
    assert client.stats.malformed == 3


def test_a_malformed_answer_then_a_good_one_returns_the_good_one(canned):
    canned.answers = [(200, b'{"users": "oops"}'), (200, b'{"users": [{"userId": "U1"}], "total": 1}')]
    page = client_for(canned.url).search_users({})
    assert [u["userId"] for u in page.items] == ["U1"] and page.total == 1 and page.fits


@pytest.mark.parametrize(("body", "total"), [(b"{}", 0), (b'{"total": 4}', 4), (b'{"users": []}', 0)])
def test_protobuf_style_empty_answers_parse_as_unproved_emptiness(canned, body, total):
    """Protobuf's JSON leaves out an empty list and a zero total: either missing proves nothing."""
    canned.answers = [(200, body), (200, b'{"users": [], "total": 0}')]
    client = client_for(canned.url)
    omitted = client.search_users({})
    explicit = client.search_users({})
    assert (omitted.items, omitted.total, omitted.omitted) == ([], total, True)
    assert (explicit.items, explicit.total, explicit.omitted) == ([], 0, False)


@pytest.mark.parametrize("body", [b"{}", b'{"total": 4}', b'{"users": []}'])
def test_when_the_server_is_known_to_send_lists_and_totals_a_body_lacking_them_is_malformed(canned, body):
    canned.answers = [(200, body)] * 3
    with pytest.raises(DescopeUnavailableError, match="lacks 'users' or 'total'"):
        client_for(canned.url).search_users({}, require_explicit=True)


@pytest.mark.parametrize("bad_key", [KEY + "\n", KEY + "\r\nX-Injected: 1", "K2-ключ-" + KEY])
def test_a_key_requests_refuses_to_send_gives_an_error_without_the_key(canned, bad_key):
    client = client_for(canned.url, key=bad_key)
    with pytest.raises(DescopeRequestError) as caught:
        client.search_users({})
    shown = "".join(traceback.format_exception(caught.value))
    assert KEY not in shown and "ключ" not in shown
    assert re.fullmatch(
        f"a request to {USER_SEARCH_PATH} could not be sent \\((InvalidHeader|UnicodeEncodeError)\\); check "
        "DESCOPE_BASE_URL, DESCOPE_PROJECT_ID and that DESCOPE_MANAGEMENT_KEY holds only the key",
        str(caught.value),
    )
    assert canned.requests == []  # nothing was sent


# ------------------------------------------------------------------------------ what goes out, what comes back

EMPTY = b'{"users": [], "total": 0}'
ONE_USER = b'{"users": [{"userId": "U1"}], "total": 1}'


def waiting_client(url: str, **kwargs) -> tuple[DescopeClient, list[float], list[tuple[str, float]]]:
    """A client whose waits are recorded instead of slept: (client, sleeps, on_wait calls)."""
    sleeps: list[float] = []
    waits: list[tuple[str, float]] = []
    kwargs.setdefault("max_attempts", 3)
    client = DescopeClient(
        url, "P2test", Secret(KEY), sleep=sleeps.append, on_wait=lambda why, s: waits.append((why, s)), **kwargs
    )
    return client, sleeps, waits


def test_each_search_posts_its_body_to_its_endpoint_with_the_project_and_key(canned):
    canned.answers = [(200, EMPTY), (200, b'{"audits": [], "total": 0}'), (200, EMPTY)]
    client = DescopeClient(canned.url + "/", "P2test", Secret(KEY))  # a trailing slash in the base URL is fine
    client.search_users({"limit": 7})
    client.search_audit({"from": 1})
    client.search_users({"limit": 8})
    assert canned.requests == [{"limit": 7}, {"from": 1}, {"limit": 8}]
    assert [path for path, _ in canned.seen] == [USER_SEARCH_PATH, AUDIT_SEARCH_PATH, USER_SEARCH_PATH]
    for _, headers in canned.seen:
        assert headers["Authorization"] == f"Bearer P2test:{KEY}"
        assert headers["x-descope-project-id"] == "P2test"
        assert headers["Content-Type"] == "application/json"
        assert headers["User-Agent"] == f"descope-sync/{__version__}"
        assert headers["x-descope-license"] == "tier2"  # the licence's tier, read before the first search
    assert client.stats.requests == 3
    assert client.stats.by_path == {USER_SEARCH_PATH: 2, AUDIT_SEARCH_PATH: 1}


@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_key_fails_at_once_naming_what_to_check(canned, status):
    canned.answers = [(status, b'{"errorCode": "E061001"}')]
    client, sleeps, _ = waiting_client(canned.url)
    with pytest.raises(DescopeAuthError) as caught:
        client.search_users({})
    message = str(caught.value)
    assert f"({status})" in message and "P2test" in message
    assert "DESCOPE_MANAGEMENT_KEY" in message and "DESCOPE_PROJECT_ID" in message
    assert KEY not in message
    assert len(canned.requests) == 1 and sleeps == []


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (b'{"errorCode": "E011002", "errorMessage": "Request is invalid"}', "HTTP 400 E011002: Request is invalid"),
        (b'{"errorCode": "E011002", "errorDescription": "Bad request"}', "HTTP 400 E011002: Bad request"),
        (b'{"errorCode": "E011002", "errorMessage": "", "errorDescription": "Both"}', "HTTP 400 E011002: Both"),
        (b'{"errorCode": "E011002"}', "HTTP 400 E011002: "),
        (b'{"errorCode": "", "errorMessage": "no code"}', "HTTP 400"),
        (b'["errorCode"]', "HTTP 400"),
        (b"<html>bad request</html>", "HTTP 400"),
    ],
)
def test_a_refused_request_fails_at_once_with_the_servers_error(canned, body, shown):
    canned.answers = [(400, body)]
    client, sleeps, _ = waiting_client(canned.url)
    with pytest.raises(DescopeRequestError) as caught:
        client.search_users({})
    assert str(caught.value) == f"Descope refused {USER_SEARCH_PATH}: {shown}"
    assert len(canned.requests) == 1 and sleeps == []


def test_the_servers_error_message_is_clipped(canned):
    canned.answers = [(404, json.dumps({"errorCode": "E1", "errorMessage": "m" * 1000}).encode())]
    client, _, _ = waiting_client(canned.url)
    with pytest.raises(DescopeRequestError) as caught:
        client.search_users({})
    assert str(caught.value) == f"Descope refused {USER_SEARCH_PATH}: " + ("HTTP 404 E1: " + "m" * 1000)[:300]


@pytest.mark.parametrize(
    ("retry_after", "waited"),
    [({"Retry-After": "3"}, 3.0), ({"Retry-After": "0.2"}, 1.0), ({"Retry-After": "soon"}, 5.0), ({}, 5.0)],
)
def test_a_429_waits_what_retry_after_says_at_least_a_second_and_is_not_a_failure(canned, retry_after, waited):
    canned.answers = [(429, b"{}", retry_after)] * 4 + [(200, ONE_USER)]  # more 429s than attempts
    client, sleeps, waits = waiting_client(canned.url, max_attempts=2)
    page = client.search_users({})
    assert [u["userId"] for u in page.items] == ["U1"]
    assert sleeps == [waited] * 4
    assert waits == [(f"rate limited on {USER_SEARCH_PATH} (429)", waited)] * 4
    assert (client.stats.rate_limited, client.stats.rate_limit_wait_seconds) == (4, 4 * waited)
    assert (client.stats.retries, client.stats.requests) == (0, 5)


def test_a_retry_after_longer_than_the_cap_waits_the_cap(canned):
    canned.answers = [(429, b"{}", {"Retry-After": "3600"}), (200, EMPTY)]
    client, sleeps, _ = waiting_client(canned.url, max_retry_after=7.5)
    client.search_users({})
    assert sleeps == [7.5]


def test_rate_limiting_that_never_ends_fails_after_the_allowed_waits(canned):
    canned.answers = [(429, b"{}", {"Retry-After": "1"})] * 10
    client, sleeps, _ = waiting_client(canned.url, max_rate_limit_waits=3)
    with pytest.raises(DescopeUnavailableError) as caught:
        client.search_users({})
    assert str(caught.value) == f"Descope kept rate-limiting {USER_SEARCH_PATH} (3 waits); try again later"
    assert sleeps == [1.0] * 3 and len(canned.requests) == 4


@pytest.mark.parametrize("status", [500, 502, 503, 504, 520, 521, 522, 524, 530])
def test_server_errors_are_retried_with_growing_jittered_backoff(canned, status):
    canned.answers = [(status, b"{}")] * 3 + [(200, ONE_USER)]
    client, sleeps, waits = waiting_client(canned.url, max_attempts=4, backoff_base=0.5, backoff_cap=1.5)
    page = client.search_users({})
    assert page.total == 1
    # attempt n (from 0) waits between half and all of min(cap, base * 2**n): 0.5, 1, then the cap 1.5
    for waited, ceiling in zip(sleeps, [0.5, 1.0, 1.5], strict=True):
        assert ceiling / 2 <= waited <= ceiling
    assert [why for why, _ in waits] == [f"HTTP {status} on {USER_SEARCH_PATH}, retry {n}" for n in (1, 2, 3)]
    assert (client.stats.retries, client.stats.requests) == (3, 4)


def test_server_errors_that_never_end_fail_after_max_attempts_saying_where_the_next_run_resumes(canned):
    canned.answers = [(503, b"{}")] * 10
    client, sleeps, _ = waiting_client(canned.url, max_attempts=3)
    with pytest.raises(DescopeUnavailableError) as caught:
        client.search_audit({})
    assert str(caught.value).startswith(f"Descope request {AUDIT_SEARCH_PATH} failed 3 times, last: HTTP 503;")
    assert "the next run resumes there" in str(caught.value)
    assert len(canned.requests) == 3 and len(sleeps) == 2  # no wait after the last attempt


def test_an_answer_slower_than_the_timeout_is_abandoned_and_retried(canned):
    canned.answers = [(("slow", 1.5), ONE_USER), (200, ONE_USER)]
    client, _, waits = waiting_client(canned.url, timeout=0.3)
    assert client.search_users({}).total == 1
    host = canned.url.removeprefix("http://").rstrip("/")
    assert [why for why, _ in waits] == [
        f"no answer within 0.3s (timeout) talking to {host} on {USER_SEARCH_PATH}, retry 1"
    ]


def test_a_status_outside_the_retryable_ones_is_not_retried(canned):
    canned.answers = [(501, b"{}"), (200, EMPTY)]
    client, sleeps, _ = waiting_client(canned.url)
    with pytest.raises(DescopeRequestError, match="HTTP 501"):
        client.search_users({})
    assert sleeps == []


def test_a_body_that_is_not_json_is_retried_as_malformed(canned):
    canned.answers = [(200, b"<html>"), (200, ONE_USER)]
    client, _, waits = waiting_client(canned.url)
    assert client.search_users({}).total == 1
    assert waits[0][0] == f"malformed response body (not JSON) on {USER_SEARCH_PATH}, retry 1"


def test_a_wait_that_would_pass_the_time_budget_is_not_started(canned):
    canned.answers = [(429, b"{}", {"Retry-After": "30"})]
    now = [100.0]
    client, sleeps, waits = waiting_client(canned.url, deadline=Deadline(20, clock=lambda: now[0]))
    with pytest.raises(BudgetExhausted) as caught:
        client.search_users({})
    assert str(caught.value) == f"rate limited on {USER_SEARCH_PATH} (429): waiting 30s would pass the time budget"
    assert sleeps == [] and waits == []


def test_a_wait_that_ends_exactly_when_the_budget_does_is_taken(canned):
    canned.answers = [(429, b"{}", {"Retry-After": "20"}), (200, ONE_USER)]
    now = [100.0]
    client, sleeps, _ = waiting_client(canned.url, deadline=Deadline(20, clock=lambda: now[0]))
    assert client.search_users({}).total == 1
    assert sleeps == [20.0]


def test_each_wait_is_logged_with_its_reason_and_length(canned, caplog):
    canned.answers = [(429, b"{}", {"Retry-After": "3"}), (503, b"{}"), (200, ONE_USER)]
    sleeps: list[float] = []
    client = DescopeClient(
        canned.url, "P2test", Secret(KEY), sleep=sleeps.append, max_attempts=3, backoff_base=0.5, backoff_cap=0.5
    )
    with caplog.at_level(logging.INFO, logger="descope_sync.descope"):
        client.search_users({})
    waits = [m for m in logged(caplog) if m.startswith("waiting")]
    assert waits == [
        f"waiting 3.0s: rate limited on {USER_SEARCH_PATH} (429)",
        f"waiting {sleeps[1]:.1f}s: HTTP 503 on {USER_SEARCH_PATH}, retry 1",
    ]


def test_a_wait_with_a_listener_is_said_by_the_listener_alone(canned, caplog):
    canned.answers = [(429, b"{}", {"Retry-After": "3"}), (503, b"{}"), (200, ONE_USER)]
    client, sleeps, told = waiting_client(canned.url, backoff_base=0.5, backoff_cap=0.5)
    with caplog.at_level(logging.INFO, logger="descope_sync.descope"):
        client.search_users({})
    assert [m for m in logged(caplog) if "waiting" in m] == []  # progress.Progress.wait logs it, once
    assert told == [
        (f"rate limited on {USER_SEARCH_PATH} (429)", 3.0),
        (f"HTTP 503 on {USER_SEARCH_PATH}, retry 1", sleeps[1]),
    ]


def test_a_spent_budget_sends_nothing_more(canned):
    canned.answers = [(200, EMPTY)] * 2
    now = [100.0]
    client, _, _ = waiting_client(canned.url, deadline=Deadline(20, clock=lambda: now[0]))
    client.search_users({})
    now[0] = 119.9
    client.search_users({})  # 0.1s left: still sent
    now[0] = 120.0
    with pytest.raises(BudgetExhausted, match="time budget of 20s used up"):
        client.search_users({})
    assert len(canned.requests) == 2


def test_without_a_budget_a_client_never_runs_out():
    assert Deadline().remaining() == float("inf")
    Deadline().check()


# ------------------------------------------------------------------------------ the licence handshake


def test_the_licence_is_read_once_before_the_first_search_with_the_key_and_never_again(canned):
    client, sleeps, _ = waiting_client(canned.url)
    for _ in range(3):
        client.search_users({})
    client.search_audit({})
    assert [path for path, _ in canned.licence_seen] == [LICENCE_PATH]
    assert canned.licence_seen[0][1]["Authorization"] == f"Bearer P2test:{KEY}"
    assert [headers.get("x-descope-license") for _, headers in canned.seen] == ["tier2"] * 4
    assert (client.stats.licence_reads, client.stats.requests, client.rate_limit_tier) == (1, 4, "tier2")
    assert sleeps == []


LICENCE_FAILURES = [
    ((503, b'{"errorCode": "E011500"}'), "HTTP 503"),
    ((404, b"{}"), "HTTP 404"),
    ((429, b"{}", {"Retry-After": "60"}), "HTTP 429"),
    ((500, b"<html>"), "HTTP 500"),
    ((200, b"{}"), "the answer holds no rateLimitTier"),
    ((200, b'{"rateLimitTier": ""}'), "the answer holds no rateLimitTier"),
    ((200, b"[]"), "the answer holds no rateLimitTier"),
    ((200, b'{"rateLimitTier": 4}'), "the rateLimitTier is not a tier name"),
    ((200, b'{"rateLimitTier": "tier1\\r\\nX-Injected: 1"}'), "the rateLimitTier is not a tier name"),
    ((200, b"<html>"), "the answer is not JSON"),
    ((("slow", 1.0), b'{"rateLimitTier": "tier2"}'), "the request failed (ReadTimeout)"),
]


@pytest.mark.parametrize(("licence", "problem"), LICENCE_FAILURES)
def test_a_licence_that_cannot_be_read_costs_only_the_header_and_one_warning(canned, caplog, licence, problem):
    canned.licence = licence
    canned.answers = [(200, ONE_USER)] * 3
    client, sleeps, _ = waiting_client(canned.url, timeout=0.3)
    with caplog.at_level(logging.INFO, logger="descope_sync.descope"):
        pages = [client.search_users({}) for _ in range(3)]
    assert [page.total for page in pages] == [1, 1, 1]
    assert len(canned.licence_seen) == 1  # one try, no retry, never asked again
    assert ["x-descope-license" in headers for _, headers in canned.seen] == [False] * 3
    assert logged(caplog, "WARNING") == [
        f"Descope licence not read ({problem}): requests go without the x-descope-license header, so Descope "
        "may apply a stricter rate limit; extraction goes on"
    ]
    assert sleeps == [] and client.stats.retries == 0


@pytest.mark.parametrize("status", [401, 403])
def test_a_key_the_licence_endpoint_rejects_fails_at_once_as_on_any_endpoint(canned, status):
    canned.licence = (status, b'{"errorCode": "E061001"}')
    client, sleeps, _ = waiting_client(canned.url)
    with pytest.raises(DescopeAuthError) as caught:
        client.search_users({})
    assert str(caught.value) == (
        f"Descope rejected the management key ({status}) for project P2test: check DESCOPE_MANAGEMENT_KEY "
        "and DESCOPE_PROJECT_ID"
    )
    assert canned.requests == [] and sleeps == []


def test_a_key_requests_refuses_to_send_leaves_no_trace_in_the_licence_warning(canned, caplog):
    client = client_for(canned.url, key=KEY + "\r\nX-Injected: 1")
    with caplog.at_level(logging.DEBUG), pytest.raises(DescopeRequestError) as caught:
        client.search_users({})
    assert logged(caplog, "WARNING")[0].startswith("Descope licence not read (the request failed (InvalidHeader))")
    shown = "\n".join(logged(caplog)) + "".join(traceback.format_exception(caught.value))
    assert KEY not in shown and canned.licence_seen == [] and canned.requests == []


def test_a_spent_budget_reads_no_licence(canned):
    now = [100.0]
    client, _, _ = waiting_client(canned.url, deadline=Deadline(20, clock=lambda: now[0]))
    now[0] = 120.0
    with pytest.raises(BudgetExhausted):
        client.search_users({})
    assert canned.licence_seen == [] and client.stats.licence_reads == 0
