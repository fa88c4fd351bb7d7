"""The HTTP/1.1 side: one handler thread per connection, keep-alive, every answer JSON with a length."""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from .request_fields import error

if TYPE_CHECKING:
    from .server import Simulator

log = logging.getLogger(__name__)


class Handler(BaseHTTPRequestHandler):
    """Bound to one simulator by a subclass (``Simulator.start``). Request bodies need a Content-Length."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "DescopeSimulator/1.0"
    timeout = 120
    simulator: Simulator

    def setup(self) -> None:
        super().setup()
        self.simulator.track_connection(self.connection, opened=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.simulator.track_connection(self.connection, opened=False)

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        try:
            status, payload, extra = self.simulator.handle(
                method, self.path, self.headers, body, self.client_address[0]
            )
        except Exception:  # a simulator bug must not kill the connection thread silently
            log.exception("simulator failed on %s %s", method, self.path)
            status, payload, extra = 500, error("E011500", "Internal error", "simulator bug"), {}
        self.simulator.count_response(status)
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
