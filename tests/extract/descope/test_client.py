"""The Descope client over real HTTP: malformed answers never pass as data, and no error carries the key."""

from __future__ import annotations

import json
import logging
import re
import traceback

import pytest

from descope_sync import __version__
from descope_sync.descope import AUDIT_SEARCH_PATH, USER_SEARCH_PATH, Deadline, DescopeClient
from descope_sync.errors import (
    BudgetExhausted,
    DescopeAuthError,
    DescopeRequestError,
    DescopeUnavailableError,
)
from descope_sync.secrets import Secret
from tests.conftest import logged
from tests.extract.descope.conftest import EMPTY, KEY, ONE_USER, client_for, waiting_client


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
