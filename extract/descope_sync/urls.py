"""URLs credentials are sent to: https, or plain http to a loopback host only."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from descope_sync.errors import ConfigError


def printable_token(value: str) -> bool:
    """Printable ASCII without spaces: what a URL, or a header's key or project ID, can carry."""
    return all("\x21" <= c <= "\x7e" for c in value)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback  # 127.0.0.0/8 and ::1
    except ValueError:
        return False


def https_url(value: Any, label: str, why: str = "the management key travels in its Authorization header") -> str:
    """https://host[:port][/path]; plain http only to a loopback host (the simulator, a local proxy)."""
    rule = (
        f"{label} must be an https:// URL with a host (plain http:// only for localhost, 127.0.0.0/8 or [::1]); {why}"
    )
    if not isinstance(value, str):
        raise ConfigError(rule)
    url = value.strip()
    if not printable_token(url):
        raise ConfigError(f"{label} contains whitespace or a control character; {rule}")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ConfigError(f"{label} is not a valid URL; {rule}") from None
    scheme = parts.scheme.lower()
    if not host or scheme not in ("https", "http"):
        raise ConfigError(rule)
    if scheme == "http" and not is_loopback(host):
        raise ConfigError(f"{label} uses plain http:// to a host that is not loopback; {rule}")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"{label} must not carry a user name or password; {rule}")
    if parts.query or parts.fragment:
        raise ConfigError(f"{label} must not carry a query string or fragment; {rule}")
    return url.rstrip("/")


def service_url(value: Any, label: str) -> str:
    """A configurable API endpoint (Secret Manager, Cloud Build): https, or plain http to loopback only."""
    return https_url(value, label, "credentials travel in its Authorization header")
