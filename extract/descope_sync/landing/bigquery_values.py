"""Values crossing the BigQuery client: query parameters in, answers and job errors out."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from google.cloud import bigquery

_MAX_LISTED_ERRORS = 5
_MAX_ERROR_CHARS = 400


def string_param(name: str, value: str | None) -> bigquery.ScalarQueryParameter:
    return bigquery.ScalarQueryParameter(name, "STRING", value)


def strings_param(name: str, values: Sequence[str]) -> bigquery.ArrayQueryParameter:
    return bigquery.ArrayQueryParameter(name, "STRING", list(values))


def query_param(name: str, value: Any) -> bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter:
    """A parameter typed from its Python value (a list or tuple: an array of one type)."""
    if isinstance(value, list | tuple):
        kinds = {query_param("v", v).type_ for v in value} or {"STRING"}
        if len(kinds) != 1:
            raise TypeError(f"query parameter {name!r} mixes types")
        return bigquery.ArrayQueryParameter(name, kinds.pop(), list(value))
    if isinstance(value, bool):
        kind = "BOOL"
    elif isinstance(value, int):
        kind = "INT64"
    elif isinstance(value, float):
        kind = "FLOAT64"
    elif isinstance(value, datetime):
        kind = "TIMESTAMP"
    else:
        kind = "STRING"
    return bigquery.ScalarQueryParameter(name, kind, value)


def naive(value: Any) -> Any:
    """BigQuery's aware UTC timestamps as the naive UTC datetimes rows cross the interface as."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def details(value: Any) -> dict[str, Any]:
    """`_sync_runs.details` as read back (a JSON string or a decoded value) as a dict."""
    if value is None:
        return {}
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def chunks(values: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for value in values:
        chunk.append(value)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _clip(text: str) -> str:
    text = " ".join(str(text).split())  # one line
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def error_list(job: Any, exc: BaseException) -> str:
    """The job's error list (reason: message), else the exception's; clipped, one line."""
    errors = list(getattr(job, "errors", None) or []) or list(getattr(exc, "errors", None) or [])
    parts = []
    for error in errors[:_MAX_LISTED_ERRORS]:
        if isinstance(error, Mapping):
            reason, message = error.get("reason"), error.get("message")
            parts.append(_clip(f"{reason}: {message}" if reason else str(message)))
        else:
            parts.append(_clip(str(error)))
    if len(errors) > _MAX_LISTED_ERRORS:
        parts.append(f"and {len(errors) - _MAX_LISTED_ERRORS} more")
    if not parts:
        parts.append(_clip(f"{type(exc).__name__}: {exc}"))
    return "; ".join(parts)
