"""Ctrl-C (SIGINT) and SIGTERM stop a real `descope-sync run` cleanly wherever they land: in an HTTP
call, in a rate-limit wait, while DuckDB writes a page, in dbt. The run exits 130 (143 for SIGTERM)
with one line, no later stream starts, nothing is recorded failed, and the next run completes with
every user and login once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from descope_sim import ChaosConfig, RateLimits, Simulator, World
from descope_sync.contract import STREAMS
from tests.conftest import query

INTERRUPTED = "descope-sync: interrupted ({name}); committed progress is kept, the next run resumes from it"


def start_run(sim: Simulator, db: Path, tmp: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_")}
    env.update(
        DESCOPE_PROJECT_ID=sim.project_id,
        DESCOPE_MANAGEMENT_KEY=sim.management_key,
        DESCOPE_BASE_URL=sim.base_url,
        DUCKDB_PATH=str(db),
        DESCOPE_AUDIT_SETTLE_SECONDS="0",
        PYTHONUNBUFFERED="1",
        TMPDIR=str(tmp),  # where the DuckDB writer stages each page it loads
    )
    return subprocess.Popen(
        [sys.executable, "-m", "descope_sync.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float = 120, poll: float = 0.0005) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, "the run ended before the point the signal was meant for"
        assert time.monotonic() < deadline, "the point the signal was meant for was never reached"
        time.sleep(poll)


def in_an_http_call(sim: Simulator, tmp: Path, stdout: list[str]) -> Callable[[], bool]:
    """The third users page answers slowly: the client is blocked reading it."""
    seen = {"user_search": 0}
    event = threading.Event()

    def slow(phase: str, endpoint: str, request: dict, world: World) -> None:
        if phase == "before" and endpoint == "user_search" and not event.is_set():
            seen[endpoint] += 1
            if seen[endpoint] == 3:
                event.set()
                time.sleep(3)

    sim.on_request = slow
    return event.is_set


def in_a_rate_limit_wait(sim: Simulator, tmp: Path, stdout: list[str]) -> Callable[[], bool]:
    """Every answer is a 429 with Retry-After 60: the client sleeps on the first."""
    sim.chaos = ChaosConfig(p_429=1.0, p_5xx=0, p_malformed=0, p_mutation=0, retry_after=60)
    return lambda: sim.stats["served_429"] >= 1 and time.sleep(0.5) is None


def in_a_page_write(sim: Simulator, tmp: Path, stdout: list[str]) -> Callable[[], bool]:
    """A page of 1000 padded users (~12 MB) is being loaded: its staged file exists from just before
    DuckDB reads it until the insert is done, which takes far longer than the 20 ms waited here."""

    def staged() -> bool:
        for path in tmp.glob("descope-sync-landing-*/*.ndjson"):
            try:
                written = path.stat().st_size
            except FileNotFoundError:
                continue
            if written >= 8_000_000:  # a padded users page, not one of the small audit pages before it
                time.sleep(0.02)
                return True
        return False

    return staged


def in_dbt(sim: Simulator, tmp: Path, stdout: list[str]) -> Callable[[], bool]:
    """The extract has finished and dbt build runs (parsing and building take many seconds)."""
    return lambda: any(line.startswith("extract: ") for line in stdout) and time.sleep(3) is None


POINTS = {
    "http": (in_an_http_call, "users"),
    "rate-limit-wait": (in_a_rate_limit_wait, "audit_events"),
    "page-write": (in_a_page_write, "users"),
    "dbt": (in_dbt, None),
}


@pytest.mark.parametrize(
    ("point", "signum"),
    [
        ("http", signal.SIGINT),
        ("http", signal.SIGTERM),
        ("rate-limit-wait", signal.SIGINT),
        ("rate-limit-wait", signal.SIGTERM),
        ("page-write", signal.SIGINT),
        ("dbt", signal.SIGINT),
        ("dbt", signal.SIGTERM),
    ],
)
def test_a_signal_stops_the_run_cleanly_and_the_next_run_completes(tmp_path, point, signum):
    arm, stream = POINTS[point]
    sim = Simulator(
        World(seed=11, users=1500, user_padding_bytes=12_000 if point == "page-write" else 0),
        rate_limits=RateLimits(user_search=(100_000, 60.0), audit_search=(100_000, 1.0)),
    ).start()
    try:
        db = tmp_path / "warehouse.duckdb"
        staging = tmp_path / "tmp"
        staging.mkdir()
        stdout: list[str] = []
        reached = arm(sim, staging, stdout)
        proc = start_run(sim, db, staging)
        reader = threading.Thread(target=lambda: stdout.extend(iter(proc.stdout.readline, "")), daemon=True)
        reader.start()
        wait_for(reached, proc)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
        reader.join(timeout=10)

        assert proc.returncode == 128 + signum, err
        lines = err.strip().splitlines()
        assert lines[-1] == INTERRUPTED.format(name=signal.Signals(signum).name), err
        assert sum("interrupt" in line.lower() for line in lines) == 1, err
        assert "Traceback" not in err and " ERROR " not in err, err
        assert "dbt build: PASS" not in "".join(stdout)
        runs = query(db, "select stream, status from descope_raw._sync_runs")
        assert "failed" not in {status for _, status in runs}
        if stream is not None:  # no stream after the interrupted one started
            later = set(STREAMS[STREAMS.index(stream) + 1 :])
            assert not later & {s for s, _ in runs}, runs

        sim.on_request = None
        sim.chaos = ChaosConfig.none()
        rerun = start_run(sim, db, staging)
        out, err = rerun.communicate(timeout=600)
        assert rerun.returncode == 0, out + err
        truth = sim.world.truth()
        users = query(db, "select count(*), count(distinct user_id) from descope_data_v2.users")[0]
        assert users == (len(truth["users"]), len(truth["users"]))
        assert {r[0] for r in query(db, "select user_id from descope_data_v2.users")} == set(truth["users"])
        logins = query(db, "select count(*), count(distinct event_id) from descope_data_v2.user_logins")[0]
        assert logins == (len(truth["logins"]), len(truth["logins"]))
    finally:
        sim.stop()
