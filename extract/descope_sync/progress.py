"""Progress for long work: one live line on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

log = logging.getLogger("descope_sync.progress")

_live_lines: set[Progress] = set()


def end_live_lines() -> None:
    """End any live progress line, so the next message starts on a line of its own."""
    for progress in list(_live_lines):
        progress.end_line()


class Progress:
    def __init__(self, stream: TextIO | None = None, interval: float = 5.0) -> None:
        self._out = stream or sys.stderr
        self._tty = hasattr(self._out, "isatty") and self._out.isatty()
        self._interval = interval
        self._last_log = 0.0
        self._counts: dict[str, list[int]] = {}
        self._live = False

    def page(self, stream: str, rows: int) -> None:
        pages_rows = self._counts.setdefault(stream, [0, 0])
        pages_rows[0] += 1
        pages_rows[1] += rows
        line = f"{stream}: {pages_rows[0]} pages, {pages_rows[1]} rows"
        if self._tty:
            self._out.write("\r\033[K" + line)
            self._out.flush()
            self._live = True
            _live_lines.add(self)
        elif time.monotonic() - self._last_log >= self._interval:
            self._last_log = time.monotonic()
            log.info(line)

    def wait(self, reason: str, seconds: float) -> None:
        self.note(f"{reason}; waiting {seconds:.1f}s")

    def note(self, message: str) -> None:
        if self._tty:
            self._out.write("\r\033[K" + message + "\n")
            self._out.flush()
            self._live = False
        else:
            log.info(message)

    def end_line(self) -> None:
        """Finish the live line where it stands (before a message that must not overwrite it)."""
        if self._tty and self._live:
            self._out.write("\n")
            self._out.flush()
        self._live = False
        _live_lines.discard(self)

    def done(self, stream: str) -> None:
        pages, rows = self._counts.get(stream, [0, 0])
        if self._tty and self._live:
            self._out.write("\r\033[K")
            self._live = False
        log.info("%s: finished, %d pages, %d rows", stream, pages, rows)


class SilentProgress(Progress):
    def page(self, stream: str, rows: int) -> None:
        pass

    def note(self, message: str) -> None:
        log.debug(message)

    def done(self, stream: str) -> None:
        pass
