"""Progress for long work, answering "how long?": rows of the expected total, rate and time left.

On a terminal, one tqdm bar per stream (rows of `total`, rows/s, ETA) and a countdown bar while a
rate limit or a retry waits; a log line printed meanwhile clears the bar's line first, and the bar is
drawn again at its next update. Without a terminal (a file, a pipe, Cloud Logging): a plain log line
per stream at most every `interval` seconds with the same facts, and one line per wait. Either way
each wait is announced once, and a page that landed no rows (a window probed and found empty) is
not shown as progress.
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from tqdm import tqdm

log = logging.getLogger("descope_sync.progress")

COUNTDOWN_TICK = 0.5  # seconds between countdown redraws


@dataclass
class _StreamProgress:
    started: float
    rows: int = 0
    total: int | None = None
    last_line: float = field(default=-1e18)
    bar: Any = None  # a tqdm bar on a terminal


def _size() -> dict[str, int]:
    """The terminal's size ($COLUMNS, $LINES first) for tqdm; 100x24 where it says 0 (a new pseudo-terminal
    does, and tqdm then hides every bar)."""
    size = shutil.get_terminal_size((100, 24))
    return {"ncols": size.columns or 100, "nrows": max(size.lines, 2) if size.lines else 24}


def _count(n: float) -> str:
    return f"{n:,.0f}"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


# Every Progress drawing a bar now, so an interrupt can end their lines before it prints (end_live_lines).
_drawing: weakref.WeakSet[Progress] = weakref.WeakSet()


def end_live_lines() -> None:
    """End every live progress line, so the next message starts on a line of its own."""
    for progress in list(_drawing):
        progress.close()


class Progress:
    def __init__(
        self,
        stream: TextIO | None = None,
        interval: float = 5.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleeper: Callable[[float], None] = time.sleep,
    ) -> None:
        self._out = stream or sys.stderr
        self._tty = hasattr(self._out, "isatty") and self._out.isatty()
        self._interval = interval
        self._clock = clock
        self._sleeper = sleeper
        self._streams: dict[str, _StreamProgress] = {}
        self._filtered: list[logging.Handler] = []
        self._waiting_for = "waiting"  # the reason of the wait `sleep` counts down

    # ------------------------------------------------------------------ what the streams report
    def _state(self, stream: str) -> _StreamProgress:
        state = self._streams.get(stream)
        if state is None:
            state = self._streams[stream] = _StreamProgress(started=self._clock())
        return state

    def expect(self, stream: str, total: int) -> None:
        """`stream` expects `total` rows in all (Descope's `total`); may be called again as it learns more."""
        state = self._state(stream)
        state.total = max(int(total), state.rows)
        if state.bar is not None:
            state.bar.total = state.total
            state.bar.refresh()

    def page(self, stream: str, rows: int) -> None:
        state = self._state(stream)
        if rows <= 0:
            return  # an empty window or a checkpoint: nothing to show
        state.rows += rows
        if state.total is not None and state.rows > state.total:
            state.total = state.rows
        if self._tty:
            bar = self._bar(stream, state)
            if state.total is not None and bar.total != state.total:
                bar.total = state.total
            bar.update(rows)
            if bar.n == rows:  # its first rows: drawn now, whatever tqdm's minimum interval
                bar.refresh()
            return
        now = self._clock()
        if now - state.last_line >= self._interval:
            state.last_line = now
            log.info(self.line(stream))

    def line(self, stream: str) -> str:
        """`users: 4,000 of 10,000 rows (40%), 2,000 rows/s, about 3s left`."""
        state = self._state(stream)
        elapsed = max(self._clock() - state.started, 1e-9)
        rate = state.rows / elapsed
        parts = [f"{stream}: {_count(state.rows)}"]
        if state.total:
            parts[0] += f" of {_count(state.total)} rows ({100 * state.rows / state.total:.0f}%)"
        else:
            parts[0] += " rows"
        parts.append(f"{_count(rate)} rows/s")
        if state.total and rate > 0:
            parts.append(f"about {_duration((state.total - state.rows) / rate)} left")
        return ", ".join(parts)

    # ------------------------------------------------------------------ waits
    def wait(self, reason: str, seconds: float) -> None:
        """Announce a wait once (the client's `on_wait`); `sleep` then counts it down on a terminal."""
        self._waiting_for = reason
        self.note(f"{reason}; waiting {seconds:.1f}s")

    def sleep(self, seconds: float) -> None:
        """The client's sleep: a countdown bar on a terminal, a plain sleep otherwise."""
        if not self._tty or seconds < 2 * COUNTDOWN_TICK:
            self._sleeper(seconds)
            return
        end = self._clock() + seconds
        reason, self._waiting_for = self._waiting_for, "waiting"
        bar = tqdm(
            total=round(seconds),
            file=self._out,
            bar_format="{desc} |{bar}| {n:.0f}/{total:.0f}s",
            leave=False,
            **_size(),
        )
        try:
            while (left := end - self._clock()) > 0:
                bar.set_description_str(f"{reason}: {math.ceil(left)}s left", refresh=False)
                bar.n = round(seconds - left)
                bar.refresh()
                self._sleeper(min(COUNTDOWN_TICK, left))
            bar.set_description_str(f"{reason}: 0s left", refresh=False)
            bar.n = round(seconds)
            bar.refresh()
        finally:
            bar.close()

    # ------------------------------------------------------------------ messages and the end
    def note(self, message: str) -> None:
        """A message of its own line, logged once; a live bar's line is cleared first."""
        self._clear()
        log.info(message)

    def done(self, stream: str) -> None:
        state = self._state(stream)
        if state.bar is not None:
            state.bar.close()
            state.bar = None
        elapsed = self._clock() - state.started
        log.info("%s: finished, %s rows in %s", stream, _count(state.rows), _duration(elapsed))

    def close(self) -> None:
        """End every live line (before the summary, an error or an interrupt message)."""
        for state in self._streams.values():
            if state.bar is not None:
                state.bar.close()
                state.bar = None
        for handler in self._filtered:
            handler.removeFilter(self._clearing_filter)
        self._filtered = []
        _drawing.discard(self)

    # ------------------------------------------------------------------ terminal plumbing
    def _bar(self, stream: str, state: _StreamProgress) -> Any:
        if state.bar is None:
            state.bar = tqdm(
                total=state.total,
                file=self._out,
                desc=stream,
                unit=" rows",
                unit_scale=False,
                leave=False,
                **_size(),
                mininterval=0.2,
            )
            _drawing.add(self)
            self._route_logs_around_bars()
        return state.bar

    def _clear(self) -> None:
        for state in self._streams.values():
            if state.bar is not None:
                state.bar.clear()

    def _clearing_filter(self, record: logging.LogRecord) -> bool:
        self._clear()  # the log line then starts at the beginning of an empty line
        return True

    def _route_logs_around_bars(self) -> None:
        """Handlers that print to our terminal clear the bars' line before each log line."""
        if self._filtered:
            return
        for handler in logging.getLogger().handlers:
            if getattr(handler, "stream", None) is self._out:
                handler.addFilter(self._clearing_filter)
                self._filtered.append(handler)


class SilentProgress(Progress):
    def page(self, stream: str, rows: int) -> None:
        pass

    def note(self, message: str) -> None:
        log.debug(message)

    def done(self, stream: str) -> None:
        pass
