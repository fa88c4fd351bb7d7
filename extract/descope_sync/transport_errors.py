"""Why a request never got an answer, in words that never quote a header (the key)."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests


@dataclass(frozen=True)
class TransportProblem:
    """Why a request never got an answer: `kind` is dns, refused, tls, timeout or connection."""

    kind: str
    text: str

    @property
    def fatal(self) -> bool:
        """Retrying cannot help: the name does not resolve or TLS cannot be agreed."""
        return self.kind in ("dns", "tls")


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and everything it wraps (requests and urllib3 nest the real cause two or three deep)."""
    found: list[BaseException] = []
    stack = [exc]
    while stack:
        current = stack.pop()
        if any(current is seen for seen in found):
            continue
        found.append(current)
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        nested += [arg for arg in current.args if isinstance(arg, BaseException)]
        stack += [n for n in nested if isinstance(n, BaseException)]
    return found


def describe_transport_error(exc: BaseException, timeout: float) -> TransportProblem:
    """The real cause of a transport failure, in words that never include a header (the key)."""
    causes = _causes(exc)
    gai = next((c for c in causes if isinstance(c, socket.gaierror)), None)
    if gai is not None or any(type(c).__name__ == "NameResolutionError" for c in causes):
        detail = gai.strerror if gai is not None and gai.strerror else "name not found"
        return TransportProblem("dns", f"DNS lookup failed ({detail})")
    if any(isinstance(c, (ssl.SSLError, requests.exceptions.SSLError)) for c in causes):
        reason = next((c for c in causes if isinstance(c, ssl.SSLError)), None)
        detail = (getattr(reason, "verify_message", None) or getattr(reason, "reason", None)) if reason else None
        return TransportProblem(
            "tls", f"TLS failed ({str(detail).lower().replace('_', ' ')})" if detail else "TLS failed"
        )
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return TransportProblem("refused", "connection refused (nothing listens there)")
    if any(isinstance(c, (requests.Timeout, socket.timeout, TimeoutError)) for c in causes):
        return TransportProblem("timeout", f"no answer within {timeout:g}s (timeout)")
    innermost = causes[-1] if causes else exc
    return TransportProblem("connection", f"connection failed ({type(innermost).__name__})")


def host_of(url: str) -> str:
    """`host[:port]` of a URL, nothing else (no path, no credentials)."""
    parsed = urlsplit(url)
    host = parsed.hostname or url
    return f"{host}:{parsed.port}" if parsed.port else host
