"""The kinds of problem `status` reports, worst first, and the exit code of each."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEFAULT_MAX_AGE_SECONDS = 26 * 3600  # a daily schedule plus two hours of slack
DEFAULT_RECONCILE_DAYS = 7.0
ACKNOWLEDGE_ENV = "DESCOPE_ACKNOWLEDGE_AUDIT_DATA_LOSS_THROUGH"
# A row stamped up to this far ahead of the clock reading it is ordinary drift between two machines.
CLOCK_SKEW_TOLERANCE_SECONDS = 300


class Check(StrEnum):
    """The kinds of problem `status` reports (docs/design.md, "What status checks")."""

    DATA_LOSS = "data_loss"
    FAILED = "failed"
    DELETIONS_NOT_APPLIED = "deletions_not_applied"
    INCOMPLETE = "incomplete"
    CLOCK_SKEW = "clock_skew"
    STALE = "stale"


# Worst first: the command exits with the code of the first kind found.
PRECEDENCE: tuple[Check, ...] = (
    Check.DATA_LOSS,
    Check.FAILED,
    Check.DELETIONS_NOT_APPLIED,
    Check.INCOMPLETE,
    Check.CLOCK_SKEW,
    Check.STALE,
)
EXIT_HEALTHY = 0
EXIT_CODES: dict[Check, int] = {
    Check.DATA_LOSS: 4,
    Check.INCOMPLETE: 5,
    Check.STALE: 6,
    Check.FAILED: 7,
    Check.DELETIONS_NOT_APPLIED: 8,
    Check.CLOCK_SKEW: 9,
}


@dataclass(frozen=True)
class Problem:
    check: Check
    text: str  # one line, starting with the stream's name
