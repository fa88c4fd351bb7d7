"""Reading a request body's fields as Descope does, and the error bodies the simulator answers."""

from __future__ import annotations

import json
from typing import Any

# What a protobuf default holds: a field sent with one of these is as good as absent.
_DEFAULTS: tuple[Any, ...] = (None, False, 0, "", [], {})


class BadRequest(Exception):
    """A body or field the endpoint refuses: 400 ``E011001`` with this message."""


def error(code: str, description: str, message: str) -> bytes:
    """Descope's error body."""
    return json.dumps({"errorCode": code, "errorDescription": description, "errorMessage": message}).encode()


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object (an empty body is ``{}``)."""
    try:
        request = json.loads(body or b"{}")
    except ValueError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise BadRequest("body must be a JSON object")
    return request


def integer(q: dict[str, Any], key: str, default: int) -> int:
    """A JSON number or a string of digits (protobuf JSON accepts both for int64)."""
    value = q.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadRequest(f"{key} must be an integer")
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{key} must be an integer") from None


def boolean(q: dict[str, Any], key: str) -> bool:
    value = q.get(key, False)
    if not isinstance(value, bool | None):
        raise BadRequest(f"{key} must be a boolean")
    return bool(value)


def string(q: dict[str, Any], key: str) -> str:
    value = q.get(key) or ""
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value


def strings(q: dict[str, Any], key: str) -> list[str]:
    value = q.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{key} must be a list of strings")
    return value


def ignored(implemented: frozenset[str], q: dict[str, Any]) -> list[str]:
    """The fields of a body the simulator does not implement and that hold more than a default."""
    return [key for key, value in q.items() if key not in implemented and value not in _DEFAULTS]
