"""Progress answers "how long?": rows of the total, rate, time left; one line per wait; the live line
ends before any other message. Without a terminal it prints plain lines; on one, tqdm bars."""

from __future__ import annotations

import io
import logging
import re
import time

from descope_sim import RateLimits
from descope_sync.pipeline import run_extract
from descope_sync.progress import Progress
from tests.conftest import logged, query, settings_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_say_rows_of_the_total_the_rate_and_the_time_left(caplog):
    clock = FakeClock()
    progress = Progress(io.StringIO(), interval=5, clock=clock)
    with caplog.at_level(logging.INFO, logger="descope_sync.progress"):
        progress.expect("users", 10_000)
        clock.now += 2
        progress.page("users", 4_000)  # the first page prints at once
        clock.now += 1
        progress.page("users", 1_000)  # within the interval: silent
        clock.now += 5
        progress.page("users", 1_000)
        progress.done("users")
    assert logged(caplog) == [
        "users: 4,000 of 10,000 rows (40%), 2,000 rows/s, about 3s left",
        "users: 6,000 of 10,000 rows (60%), 750 rows/s, about 5s left",
        "users: finished, 6,000 rows in 8s",
    ]


def test_pages_that_land_nothing_are_not_progress(caplog):
    clock = FakeClock()
    progress = Progress(io.StringIO(), interval=0, clock=clock)
    with caplog.at_level(logging.INFO, logger="descope_sync.progress"):
        for _ in range(20):
            progress.page("users", 0)  # probe windows, checkpoints
        clock.now += 1
        progress.page("users", 500)
    assert logged(caplog) == ["users: 500 rows, 500 rows/s"]


def test_a_wait_counts_down_on_a_terminal_and_the_line_is_gone_afterwards():
    clock = FakeClock()
    out = Terminal()
    progress = Progress(out, clock=clock, sleeper=clock.sleep)
    progress.wait("rate limited on /v1/mgmt/audit/search (429)", 3)
    progress.sleep(3)
    assert clock.now == 1003
    text = out.getvalue()
    shown = [part.split(" |")[0] for part in text.split("\r") if "left" in part]
    assert shown == [f"rate limited on /v1/mgmt/audit/search (429): {n}s left" for n in (3, 3, 2, 2, 1, 1, 0)], shown
    assert "3/3s" in text  # counted down to the end
    assert text.endswith("\r"), repr(text[-80:])  # and the line cleared: the next message starts clean


def test_a_log_line_on_a_terminal_starts_on_a_cleared_line(caplog):
    out = Terminal()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        progress = Progress(out, clock=FakeClock())
        progress.expect("audit_events", 2_000)
        progress.page("audit_events", 1_000)
        assert "audit_events" in out.getvalue() and "1000/2000" in out.getvalue()
        before = len(out.getvalue())
        logging.getLogger("descope_sync.test").warning("something to say")
        written = out.getvalue()[before:]
        # tqdm clears the bar's line (carriage return, blanks, carriage return) before the message
        assert re.match(r"^\r\s*\rsomething to say\n", written), repr(written)
        progress.close()
        assert not handler.filters  # the terminal's handler is as it was
    finally:
        root.removeHandler(handler)


def test_each_rate_limit_wait_is_said_once(simulator, tmp_path, caplog):
    sim = simulator(users=600, rate_limits=RateLimits(user_search=(100_000, 60.0), audit_search=(1, 1.0)))
    settings = settings_for(sim, tmp_path / "w.duckdb", max_retry_after_seconds=5)
    with caplog.at_level(logging.INFO):
        summary = run_extract(settings, streams=["audit_events"], progress=Progress(io.StringIO()))
    assert summary.status == "success"
    assert summary.requests["rate_limited"] >= 1
    messages = logged(caplog)
    waits = [m for m in messages if "rate limited" in m and "waiting" in m]
    assert len(waits) == summary.requests["rate_limited"], messages
    assert all(re.fullmatch(r"rate limited on \S+ \(429\); waiting \d+\.\ds", m) for m in waits), waits


def _in_a_terminal(args: list[str], env_extra: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """`descope-sync ARGS` with a pseudo-terminal as stdin, stdout and stderr; (exit code, what it showed)."""
    import os
    import pty
    import select
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_")}
    env.update(env_extra, COLUMNS="120", LINES="40")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "descope_sync.cli", *args], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            shown += data
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=10), shown.decode(errors="replace")


def test_on_a_terminal_bars_show_the_total_and_waits_count_down_and_log_lines_start_clean(simulator, tmp_path):
    sim = simulator(users=1500, rate_limits=RateLimits(user_search=(100_000, 60.0), audit_search=(3, 2.0)))
    code, shown = _in_a_terminal(
        ["extract", "--streams", "audit_events,users"],
        {
            "DESCOPE_PROJECT_ID": sim.project_id,
            "DESCOPE_MANAGEMENT_KEY": sim.management_key,
            "DESCOPE_BASE_URL": sim.base_url,
            "DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        },
    )
    assert code == 0, shown
    [(landed,)] = query(tmp_path / "w.duckdb", "select count(*) from descope_raw.audit_events")
    # a bar of rows out of Descope's total, with a rate
    assert re.search(rf"audit_events:\s+\d+%\|[^|]*\| \d+/{landed}\b.* rows/s\]", shown), shown[:2000]
    assert re.search(r"rate limited on \S+ \(429\): \ds left \|", shown), shown[:4000]  # the countdown
    log_lines = [line for line in shown.split("\n") if re.search(r"\d\d:\d\d:\d\d (INFO|WARNING) ", line)]
    assert any("audit_events: finished" in line for line in log_lines)
    for line in log_lines:
        visible = line.rstrip("\r").rsplit("\r", 1)[-1]  # what the terminal shows after carriage returns
        assert re.match(r"\d\d:\d\d:\d\d (INFO|WARNING) ", visible), repr(line)
    waits = [line for line in log_lines if "(429); waiting" in line]
    assert waits and len(waits) == shown.count("waiting")  # each wait said once (the countdown says "left")
