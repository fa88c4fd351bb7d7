"""What the users stream knows about the server it reads: the profile, probed or remembered.

The rules (what is probed, when a remembered profile is used, what contradicts it) are in
docs/design.md, "users", step 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from descope_sync.descope import Page
from descope_sync.streams.users.records import epoch_s, modified_s

if TYPE_CHECKING:
    from descope_sync.streams.users.session import Session

MAX_AGE = timedelta(days=7)
NEWEST_FIRST = [{"field": "modifiedTime", "desc": True}]
TEN_YEARS_S = 10 * 366 * 86_400


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


def start(session: Session, remembered: dict[str, Any] | None) -> ServerProfile:
    """Descope's count and the newest user in one request; a probe unless `remembered` holds."""
    session.started_s = epoch_s(session.ctx.now())
    newest = session.search({"limit": 1, "page": 0, "sort": NEWEST_FIRST})
    if remembered is None:
        return probe(session, newest)
    session.profile = ServerProfile(
        total=newest.total, fresh=False, witness_modified_s=newest_modified(newest), **remembered
    )
    return session.profile


def probe(session: Session, newest: Page | None = None) -> ServerProfile:
    """The filter unit, the empty-value style and whether `sort` is honoured, asked of the server."""
    session.profile = None
    session.started_s = epoch_s(session.ctx.now())
    everyone = newest or session.search({"limit": 1, "page": 0, "sort": NEWEST_FIRST})
    unit, unit_answers = _probe_unit(session, everyone)
    answers = [everyone, *unit_answers]
    session.profile = profile = ServerProfile(everyone.total, unit, False, probed_at=session.ctx.now())
    # Sort is honoured when nobody was modified after the user a newest-first search returned.
    witness = newest_modified(everyone)
    if witness is not None and everyone.total > 1:
        later = session.count(session.bounds("modifiedTime", witness + 1, None))
        answers.append(later)
        profile.sort_honoured = later.total == 0
    profile.explicit_empty = any(not a.omitted and a.total == 0 for a in answers)
    return profile


def _probe_unit(session: Session, everyone: Page) -> tuple[str, list[Page]]:
    """The filter unit, from one request; a seconds server is asked once more, for its empty-value style."""
    now_s = epoch_s(session.ctx.now())
    # `toCreatedTime = now in seconds` selects everyone when filters are seconds, and only users
    # created in January 1970 when they are milliseconds.
    early = session.count({"toCreatedTime": now_s})
    if not (everyone.total > 0 and early.total * 2 > everyone.total):
        return "ms", [early]
    return "s", [early, session.count({"fromCreatedTime": now_s + TEN_YEARS_S})]


def newest_modified(answer: Page) -> int | None:
    return modified_s(answer.items[0]) if answer.items else None


def check_answer(profile: ServerProfile, field_name: str, lo: int, hi: int | None, answer: Page) -> None:
    """Raise ProfileContradicted when an answer for whole seconds [lo, hi] cannot be right under a
    remembered profile (docs/design.md, "users", step 1: the contradictions)."""
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
