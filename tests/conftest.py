"""Shared fixtures: a real simulator on a free loopback port and settings that point at it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest

from descope_sim import ChaosConfig, RateLimits, Simulator, World
from descope_sync.config import Settings, load_settings


def pytest_configure(config):
    """Under pytest-xdist every worker gets dbt artifacts (target/, logs/) of its own."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        os.environ.setdefault("DBT_TARGET_PATH", f"target/pytest-{worker}")
        os.environ.setdefault("DBT_LOG_PATH", f"logs/pytest-{worker}")


# The test files that take longest (the sum of their tests' times in a full run, 2026-12-07), longest first.
# Under `--dist loadfile` a worker takes a whole file at a time, in collection order (`make pytest`
# passes --no-loadscope-reorder, without which xdist orders files by their number of tests, and these,
# with few tests each, came last): started first, no long file is still running on one worker while
# the other has nothing left to do. The rest keep pytest's order.
SLOWEST_FILES = (
    "tests/transform/test_deletion_sweeps.py",
    "tests/e2e/test_end_to_end.py",
    "tests/e2e/test_interrupts.py",
    "tests/bigquery/test_dbt_parity.py",
    "tests/transform/test_audit_data_loss.py",
    "tests/e2e/test_fail_closed_runs.py",
    "tests/e2e/test_demo.py",
    "tests/transform/test_source_freshness.py",
    "tests/e2e/test_reset.py",
    "tests/bigquery/test_cli_on_bigquery.py",
    "tests/bigquery/test_live_users_rule.py",
    "tests/transform/test_project_rules.py",
    "tests/transform/test_dedup_order.py",
    "tests/transform/test_full_refresh_equals_incremental.py",
    "tests/gcp/test_function_deadline.py",
)


def pytest_collection_modifyitems(config, items):
    first = {path: rank for rank, path in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: first.get(item.nodeid.split("::", 1)[0], len(first)))


FAST_LIMITS = RateLimits(user_search=(100_000, 60.0), audit_search=(10, 1.0))


@pytest.fixture
def simulator() -> Iterator[Callable[..., Simulator]]:
    """Factory: simulator(users=..., chaos=..., **server_kwargs) -> a started Simulator."""
    started: list[Simulator] = []

    def make(
        users: int = 200,
        seed: int = 7,
        chaos: ChaosConfig | None = None,
        world: World | None = None,
        **kwargs: Any,
    ) -> Simulator:
        kwargs.setdefault("rate_limits", FAST_LIMITS)
        sim = Simulator(world or World(seed=seed, users=users), chaos=chaos, **kwargs).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def settings_for(sim: Simulator, duckdb_path: Path, **overrides: Any) -> Settings:
    values = {
        "project_id": sim.project_id,
        "management_key": sim.management_key,
        "base_url": sim.base_url,
        "duckdb_path": str(duckdb_path),
        "warehouse": "duckdb",
        "max_retry_after_seconds": 5,
        "audit_settle_seconds": 0,
        "retry_backoff_seconds": 0.01,
    }
    values.update(overrides)
    return load_settings(values, env={})


def query(path: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def latest_landed_users(path: Path) -> dict[str, dict[str, Any]]:
    """The newest landed version of each user, by modifiedTime then extraction order (what dbt keeps)."""
    import json

    rows = query(
        path,
        """
        select user_id, payload from (
            select user_id, payload, row_number() over (
                partition by user_id order by modified_at desc nulls last, _extracted_at desc
            ) as rn
            from descope_raw.users
        ) where rn = 1
        """,
    )
    return {user_id: json.loads(payload) for user_id, payload in rows}


def logged(caplog, level: str | None = None) -> list[str]:
    """The messages caplog captured (at `level` only, when given), in order."""
    return [r.getMessage() for r in caplog.records if level is None or r.levelname == level]


def cursor(db: Path, stream: str):
    """The newest cursor committed for `stream` since its latest reset (None: none yet)."""
    return query(
        db,
        "select max(r.cursor_to) from descope_raw._sync_runs as r where r.stream = ? "
        "and r.status in ('success', 'partial', 'incomplete', 'data_loss') "
        "and not exists (select 1 from descope_raw._sync_runs as z where z.stream = r.stream "
        "and z.status = 'reset' and z.finished_at >= r.finished_at)",
        [stream],
    )[0][0]


@contextmanager
def killed_while_appending(monkeypatch, kill: Callable[[str, Any], bool]) -> Iterator[None]:
    """Inside the block the process "dies" (SystemExit, before anything is written) at the first
    DuckDBLandingWriter.append for which `kill(table, run)` is true, and the block must end so; the
    real append is back after it. `kill` may keep state (kill the nth append, kill twice)."""
    from descope_sync.landing.duckdb import DuckDBLandingWriter

    original = DuckDBLandingWriter.append

    def append(self, table, rows, run=None):
        if kill(table, run):
            raise SystemExit(f"killed before appending to {table}")
        return original(self, table, rows, run)

    monkeypatch.setattr(DuckDBLandingWriter, "append", append)
    try:
        with pytest.raises(SystemExit):
            yield
    finally:
        monkeypatch.setattr(DuckDBLandingWriter, "append", original)


def land_audit_cursor(path: Path, cursor, run_id: str = "an-earlier-run"):
    """A warehouse whose audit_events cursor is `cursor` (a successful run ended there); returns it."""
    from datetime import timedelta

    from descope_sync.landing.base import SyncRun
    from descope_sync.landing.duckdb import DuckDBLandingWriter

    with DuckDBLandingWriter(path) as writer:
        writer.ensure_tables()
        writer.record_run(
            SyncRun(
                run_id=run_id,
                stream="audit_events",
                status="success",
                started_at=cursor,
                finished_at=cursor,
                cursor_from=cursor - timedelta(hours=1),
                cursor_to=cursor,
            )
        )
    return cursor


def land_old_audit_cursor(path: Path, days_ago: int):
    """A warehouse whose audit_events cursor stopped `days_ago` days ago; returns that cursor."""
    from datetime import timedelta

    from descope_sync.timeutil import utcnow

    return land_audit_cursor(path, utcnow() - timedelta(days=days_ago), run_id="an-old-run")


@pytest.fixture(scope="session")
def bq_emulator(tmp_path_factory):
    """One BigQuery emulator for the session; tests keep apart by using datasets of their own.
    BQEMULATOR_ENDPOINT names one already running to use instead (`make mutation` starts one for all
    its pytest sessions, one a mutant)."""
    from tests.bigquery.emulator import BigQueryEmulator, start_emulator

    if os.environ.get("BQEMULATOR_ENDPOINT"):
        yield BigQueryEmulator(os.environ["BQEMULATOR_ENDPOINT"])
        return

    try:
        emulator = start_emulator(tmp_path_factory.mktemp("bqemulator"))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield emulator
    emulator.stop()
