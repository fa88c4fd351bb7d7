"""A forwarding HTTP proxy on loopback that answers late: a slow Descope (before the simulator) or a slow
BigQuery (before the emulator), for the tests of the function's time budget.

`delay(method, path, number)` gives the seconds to hold request `number` (1-based, in arrival order)
before forwarding it; the wait ends early when the proxy stops, so a test never waits for a "hung" answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length"}

Delay = Callable[[str, str, int], float]


class SlowProxy:
    def __init__(self, target: str, delay: Delay) -> None:
        self.target = target.rstrip("/")
        self.delay = delay
        self.count = 0
        self.held: list[tuple[str, str, float]] = []  # (method, path, seconds) of every delayed request
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with outer._lock:
                    outer.count += 1
                    number = outer.count
                seconds = outer.delay(self.command, self.path, number)
                if seconds > 0:
                    outer.held.append((self.command, self.path, seconds))
                    if outer._stopping.wait(seconds):
                        self.close_connection = True
                        return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                try:
                    answer = requests.request(
                        self.command, outer.target + self.path, data=body, headers=headers, timeout=120
                    )
                except requests.RequestException:
                    self.send_error(502)
                    return
                content = answer.content
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-encoding":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SlowProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()


def measure(call: Callable[[], Any]) -> tuple[Any, float]:
    """(call's result, seconds it took)."""
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started
