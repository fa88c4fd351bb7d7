"""A canned Descope for the client's tests: answers given in advance, requests recorded; clients that record
their waits."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from descope_sync.descope import DescopeClient
from descope_sync.secrets import Secret

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
