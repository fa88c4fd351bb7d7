"""What the users stream knows about the server it reads: the profile, probed or remembered.

A probe costs three or four one-row searches, so its findings (filter unit, empty-value style,
whether `sort` is honoured) are remembered in the `details` of the stream's `_sync_runs` rows and
re-probed when older than `MAX_AGE`, before every sweep, and whenever an answer contradicts them
(see `ProfileContradicted`). Descope's count is never remembered: every run reads it, together
with a witness (the most recently modified user) that lets a run check the remembered unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from descope_sync.descope import Page

MAX_AGE = timedelta(days=7)
NEWEST_FIRST = [{"field": "modifiedTime", "desc": True}]


class ProfileContradicted(Exception):
    """An answer disagrees with the remembered profile: re-probe before anything lands on it."""


@dataclass
class ServerProfile:
    """What the run knows about the server it talks to."""

    total: int  # Descope's count of every user (test users included), read by this run
    unit: str  # "ms" or "s": the unit of user-search time filters
    explicit_empty: bool  # the server sends empty lists and zero totals
    sort_honoured: bool = False  # a newest-first search proved to return the newest user
    probed_at: datetime | None = None
    fresh: bool = True  # probed by this run (else remembered)
    witness_modified_s: int | None = None  # the newest user's modifiedTime (epoch s), when sort is honoured

    def remembered(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "explicit_empty": self.explicit_empty,
            "sort_honoured": self.sort_honoured,
            "probed_at": self.probed_at.isoformat() if self.probed_at else None,
        }


def recall(details: dict[str, Any] | None, now: datetime) -> dict[str, Any] | None:
    """A remembered profile that may be used without a probe, or None."""
    profile = (details or {}).get("profile")
    if not isinstance(profile, dict) or profile.get("unit") not in ("ms", "s") or not profile.get("sort_honoured"):
        return None
    try:
        probed_at = datetime.fromisoformat(str(profile["probed_at"]))
    except (KeyError, ValueError):
        return None
    if (probed_at.tzinfo is None) != (now.tzinfo is None) or not (now - MAX_AGE < probed_at <= now):
        return None
    return {
        "unit": profile["unit"],
        "explicit_empty": bool(profile.get("explicit_empty")),
        "sort_honoured": True,
        "probed_at": probed_at,
    }


def modified_s(user: Any) -> int | None:
    """A user's modifiedTime (epoch s) when it is an integer."""
    value = user.get("modifiedTime") if isinstance(user, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_answer(profile: ServerProfile, field_name: str, lo: int, hi: int | None, answer: Page) -> None:
    """Raise ProfileContradicted when an answer for whole seconds [lo, hi] cannot be right under a
    remembered profile: an item whose time lies outside the window (a neighbouring second is
    allowed), or no user at all in a modifiedTime window reaching from before the witness to now
    (the witness was modified in [lo, hi]; a false alarm, a witness deleted or modified again since,
    costs only a probe)."""
    if profile.fresh:
        return
    for user in answer.items:
        value = user.get(field_name) if isinstance(user, dict) else None
        numeric = isinstance(value, int) and not isinstance(value, bool)
        if numeric and (value < lo - 1 or (hi is not None and value > hi + 1)):
            raise ProfileContradicted(f"a user with {field_name} {value} in an answer for seconds [{lo}, {hi}]")
    witness = profile.witness_modified_s
    reaches = witness is not None and lo <= witness and (hi is None or witness <= hi)
    if field_name == "modifiedTime" and reaches and answer.total == 0:
        raise ProfileContradicted(f"no user modified since {lo}, but the newest user was modified at {witness}")
    if answer.omitted and profile.explicit_empty:
        raise ProfileContradicted("an answer omitted its empty values")
