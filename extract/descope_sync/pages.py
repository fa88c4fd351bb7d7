"""A search answer validated into a `Page`, or `MalformedAnswer` (docs/design.md, "Answers")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from descope_sync.errors import MalformedAnswer


@dataclass(frozen=True)
class Page:
    """One validated answer of a search endpoint."""

    items: list[Any]
    total: int
    omitted: bool  # the answer left out its list and/or its total (protobuf-style empty values)
    size_bytes: int

    @property
    def fits(self) -> bool:
        """Everything the query matched is in this page."""
        return len(self.items) >= self.total


def parse_page(decoded: Any, list_key: str, size_bytes: int, *, require_explicit: bool = False) -> Page:
    """Validate a search answer: `{list_key: [...], "total": int}`; raises MalformedAnswer."""
    if not isinstance(decoded, dict):
        raise MalformedAnswer("the answer is not a JSON object")
    omitted = False
    if list_key in decoded:
        items = decoded[list_key]
        if not isinstance(items, list):
            raise MalformedAnswer(f"'{list_key}' is a {type(items).__name__}, not a list")
    else:
        items, omitted = [], True
    if "total" in decoded:
        total = decoded["total"]
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise MalformedAnswer(f"'total' is {type(total).__name__} {total!r:.20}, not a non-negative integer")
    elif items:
        raise MalformedAnswer(f"a page of {len(items)} {list_key} without 'total'")
    else:
        total, omitted = 0, True
    if len(items) > total:
        raise MalformedAnswer(f"a page of {len(items)} {list_key} with 'total' {total}")
    if omitted and require_explicit:
        raise MalformedAnswer(f"the answer lacks '{list_key}' or 'total', which this server always sends")
    return Page(items, total, omitted, size_bytes)
