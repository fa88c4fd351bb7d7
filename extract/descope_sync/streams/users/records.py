"""What the users stream reads off one user record: its key, its times, whether it has an id."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import datetime, timedelta
from typing import Any

from descope_sync.timeutil import EPOCH

MAX_EPOCH_S = 253_402_300_799  # 9999-12-31 23:59:59


def epoch_s(value: datetime) -> int:
    return (value - EPOCH) // timedelta(seconds=1)


def at(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def fingerprint(user: Any) -> str:
    return hashlib.sha1(json.dumps(user, sort_keys=True, default=str).encode()).hexdigest()


def key(user: Any) -> str:
    """A user's id; for a record without one, its content."""
    return user["userId"] if has_id(user) else "?" + fingerprint(user)


def has_id(user: Any) -> bool:
    """What `Session.land` lands; anything else it quarantines."""
    return isinstance(user, dict) and isinstance(user.get("userId"), str) and user["userId"] != ""


def field(user: Any, name: str) -> Any:
    return user.get(name) if isinstance(user, dict) else None


def modified_s(user: Any) -> int | None:
    """A user's modifiedTime (epoch s) when it is an integer."""
    value = field(user, "modifiedTime")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def in_seconds(value: Any, lo: int, hi: int) -> bool:
    """`value` is an integer time (epoch s) in [lo, hi]."""
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def without_id_in(users: list[Any], field_name: str, lo: int, hi: int) -> int:
    """How many of `users` lack a userId and have `field_name` in whole seconds [lo, hi]."""
    return sum(1 for u in users if not has_id(u) and in_seconds(field(u, field_name), lo, hi))


def keyset_cut(users: list[Any], field_name: str) -> int | None:
    """The last user's `field_name` (epoch s) when every user has one and they are in order, else None."""
    values = [field(u, field_name) for u in users]
    if not values or not all(in_seconds(v, 1, MAX_EPOCH_S) for v in values):
        return None
    return values[-1] if all(a <= b for a, b in itertools.pairwise(values)) else None


def keys_in(users: list[Any], lo: int, hi: int) -> set[str]:
    """The distinct users (records without an id told apart by content) with createdTime in [lo, hi]."""
    return {key(u) for u in users if in_seconds(field(u, "createdTime"), lo, hi)}
