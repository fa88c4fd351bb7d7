"""The Descope client over real HTTP: malformed answers never pass as data, and no error carries the key."""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from descope_sync.descope import DescopeClient
from descope_sync.errors import DescopeRequestError, DescopeUnavailableError
from descope_sync.secrets import Secret

KEY = "K2canned-server-key-0123456789"


class CannedServer:
    """Answers every POST with the next canned (status, body) and records the requests."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, bytes]] = []
        self.requests: list[dict] = []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                canned.requests.append(json.loads(self.rfile.read(length) or b"{}"))
                status, body = canned.answers.pop(0) if canned.answers else (200, b'{"users":[],"total":0}')
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

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
        (b"[]", "not a JSON object"),
        (b'{"users": {"a": 1}, "total": 1}', "not a list"),
        (b'{"users": null, "total": 0}', "not a list"),
        (b'{"users": [{"userId": "U1"}], "total": "2500"}', "not a non-negative integer"),
        (b'{"users": [{"userId": "U1"}], "total": true}', "not a non-negative integer"),
        (b'{"users": [{"userId": "U1"}], "total": -1}', "not a non-negative integer"),
        (b'{"users": [{"userId": "U1"}]}', "without 'total'"),
        (b'{"users": [{"userId": "U1"}, {"userId": "U2"}], "total": 1}', "with 'total' 1"),
    ],
)
def test_answers_of_the_wrong_shape_are_retried_then_fail_without_becoming_data(canned, body, why):
    canned.answers = [(200, body)] * 3
    client = client_for(canned.url)
    with pytest.raises(DescopeUnavailableError) as caught:
        client.search_users({"limit": 10})
    assert why in str(caught.value)
    assert len(canned.requests) == 3  # every attempt used, none accepted
    assert client.stats.malformed == 3


def test_a_malformed_answer_then_a_good_one_returns_the_good_one(canned):
    canned.answers = [(200, b'{"users": "oops"}'), (200, b'{"users": [{"userId": "U1"}], "total": 1}')]
    page = client_for(canned.url).search_users({})
    assert [u["userId"] for u in page.items] == ["U1"] and page.total == 1 and page.fits


def test_protobuf_style_empty_answers_parse_as_unproved_emptiness(canned):
    canned.answers = [(200, b"{}"), (200, b'{"users": [], "total": 0}')]
    client = client_for(canned.url)
    omitted = client.search_users({})
    explicit = client.search_users({})
    assert (omitted.items, omitted.total, omitted.omitted) == ([], 0, True)
    assert (explicit.items, explicit.total, explicit.omitted) == ([], 0, False)


def test_when_the_server_is_known_to_send_lists_and_totals_a_body_lacking_them_is_malformed(canned):
    canned.answers = [(200, b"{}")] * 3
    with pytest.raises(DescopeUnavailableError, match="lacks 'users' or 'total'"):
        client_for(canned.url).search_users({}, require_explicit=True)


@pytest.mark.parametrize("bad_key", [KEY + "\n", KEY + "\r\nX-Injected: 1", "K2-ключ-" + KEY])
def test_a_key_requests_refuses_to_send_gives_an_error_without_the_key(canned, bad_key):
    client = client_for(canned.url, key=bad_key)
    with pytest.raises(DescopeRequestError) as caught:
        client.search_users({})
    shown = "".join(traceback.format_exception(caught.value))
    assert KEY not in shown and "ключ" not in shown
    assert "DESCOPE_MANAGEMENT_KEY" in str(caught.value)
    assert canned.requests == []  # nothing was sent
