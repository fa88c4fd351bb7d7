"""Ctrl-C (SIGINT) and SIGTERM: stop the run wherever it is, keep what was committed, exit 128 + signal.

The handler raises `Interrupted` (a KeyboardInterrupt, so no `except Exception` swallows it and dbt
cancels its queries as it does for Ctrl-C) and remembers the signal. Code that may turn the raise into
an ordinary error on its way out (DuckDB reports an interrupted query as "Query interrupted"; dbt
returns it as a failed result) calls `reraise_if_interrupted()` so the interrupt still wins. Pages are
committed with their cursor row in one transaction, so an interrupt loses at most the page in flight.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal; committed progress is kept."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_received: int | None = None


def received() -> int | None:
    """The signal that stopped this run, if one did."""
    return _received


def _handle(signum: int, _frame: FrameType | None) -> None:
    global _received
    if _received is not None:
        return  # already stopping: let the clean-up finish
    _received = signum
    raise Interrupted(signum)


def reraise_if_interrupted(cause: BaseException | None = None) -> None:
    """Raise `Interrupted` when a signal arrived: whatever error it caused on its way is its echo."""
    if _received is not None:
        raise Interrupted(_received) from cause


def check() -> None:
    """A point where the run may stop: raises `Interrupted` once a signal arrived."""
    reraise_if_interrupted()


@contextmanager
def handled() -> Iterator[None]:
    """Inside the block SIGINT and SIGTERM raise `Interrupted`; the previous handlers come back after, and
    the signal is forgotten (a process that runs again, a test worker or an embedding host, starts clean)."""
    global _received
    _received = None
    try:
        previous = {signum: signal.signal(signum, _handle) for signum in HANDLED}
    except ValueError:  # not the main thread (an embedding host): its own handlers stay
        previous = {}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _received = None
