"""The rules that read `_sync_runs` mean the same to the extractor and to dbt.

The same rows go through the extractor's readings (descope_sync/sweeps.py, contract.cursor_sql through
the writer) and dbt's (`stg_descope__sync_runs`: is_sweep_end, is_accepted_sweep, is_held_sweep,
is_cursor_row), under every value of the confirmation var: row by row they agree, and so do the
start of the latest accepted sweep (what dbt deletes by) and each stream's cursor.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from descope_sync.landing.base import SyncRun
from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.sweeps import (
    is_accepted_sweep,
    is_held_sweep,
    is_sweep_end,
    last_accepted_sweep,
)
from descope_sync.transform import run_dbt
from tests.transform.conftest import NOW, Landing, query

T = NOW - timedelta(days=3)


def at(hours: float) -> datetime:
    return T + timedelta(hours=hours)


def sweep_row(
    run_id: str, status: str, start: float, *, sweep_id: str | None = None, details: Any = None, **fields: Any
) -> dict[str, Any]:
    """A users full-sweep row started at hour `start` and finished an hour later."""
    return {
        "run_id": run_id,
        "stream": "users",
        "status": status,
        "mode": "full",
        "started_at": at(start),
        "finished_at": at(start + 1),
        "sweep_id": sweep_id,
        "sweep_started_at": at(start) if sweep_id else None,
        "details": details or {},
        **fields,
    }


# Every branch of the rules; the hour each sweep starts orders which accepted one is the latest.
ROWS = [
    sweep_row("accepted", "success", 1, sweep_id="S-ok", details={"reconciled": True, "held": False}),
    sweep_row("legacy", "success", 2),  # before sweeps had ids: it says nothing about who was live when
    sweep_row("no-start", "success", 2, sweep_id="S-no-start", details={"reconciled": True}, sweep_started_at=None),
    sweep_row("success-but-held", "success", 3, sweep_id="S-held-success", details={"reconciled": True, "held": True}),
    sweep_row("success-unreconciled", "success", 4, sweep_id="S-unrec-success", details={"reconciled": False}),
    sweep_row("checkpoint", "partial", 5, sweep_id="S-open", details={"position": 3}),
    sweep_row("failed", "failed", 6, sweep_id="S-failed", details={"reconciled": True}, error="boom"),
    sweep_row("unreconciled", "incomplete", 7, sweep_id="S-unreconciled", details={"reconciled": False}),
    sweep_row("text-flags", "incomplete", 8, sweep_id="S-text", details={"reconciled": "TRUE", "held": "True"}),
    sweep_row("number-flags", "incomplete", 9, sweep_id="S-number", details={"reconciled": 1, "held": 1}),
    sweep_row("no-details", "incomplete", 10, sweep_id="S-bare"),
    sweep_row(
        "held", "incomplete", 21, sweep_id="S-held", details={"reconciled": True, "held": True, "would_remove": 5}
    ),
    sweep_row(
        "unfinished",
        "success",
        12,
        sweep_id="S-unfinished",
        details={"reconciled": True},
        finished_at=None,
        cursor_to=at(14),
    ),
    sweep_row("incremental", "success", 13, mode="incremental", cursor_to=at(13)),
    sweep_row("reset", "reset", 14, mode="incremental"),
    sweep_row("after-reset", "partial", 15, mode="incremental", cursor_to=at(12)),
    # another stream's rows are never a users sweep
    sweep_row("audit-full", "success", 16, sweep_id="S-audit", stream="audit_events", details={"reconciled": True}),
    sweep_row("audit-before-reset", "success", 0, stream="audit_events", mode="incremental", cursor_to=at(70)),
    sweep_row("audit-reset", "reset", 17, stream="audit_events", mode="incremental"),
    sweep_row("audit-loss", "data_loss", 18, stream="audit_events", mode="incremental", cursor_to=at(50)),
    sweep_row("audit-failed", "failed", 19, stream="audit_events", mode="incremental", cursor_to=at(80)),
    sweep_row("audit-open", "partial", 20, stream="audit_events", mode="incremental", cursor_to=at(3)),
    sweep_row("audit-at-reset", "incomplete", 17, stream="audit_events", mode="incremental", cursor_to=at(60)),
]
# The confirmation var's values: none, and each kind of sweep it can name (one padded with spaces).
CONFIRMATIONS = [None, " S-held ", "S-text", "S-number", "S-bare", "S-unreconciled", "S-failed"]
STREAMS = ("users", "audit_events")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    landing = Landing(tmp_path_factory.mktemp("sync_runs") / "warehouse.duckdb")
    for row in ROWS:
        landing.run(**row)
    return landing.path


def dbt_reading(path: Path, confirmed: str | None) -> tuple[dict[str, tuple[bool, bool, bool]], datetime | None]:
    """stg_descope__sync_runs built with the var: each row's rules, and the latest accepted sweep's start."""
    extra = ["--vars", json.dumps({"confirm_deletions_sweep_id": confirmed or ""})]
    outcome = run_dbt("run", target="local", duckdb_path=path, select=["stg_descope__sync_runs"], extra_args=extra)
    assert outcome.success, outcome
    stg = "descope_staging.stg_descope__sync_runs"
    rows = query(path, f"select run_id, is_sweep_end, is_accepted_sweep, is_held_sweep from {stg}")
    [(latest,)] = query(path, f"select max(sweep_started_at) from {stg} where is_accepted_sweep")
    return {run_id: tuple(flags) for run_id, *flags in rows}, latest


def python_reading(runs: list[SyncRun], confirmed: str | None) -> dict[str, tuple[bool, bool, bool]]:
    return {
        run.run_id: (is_sweep_end(run), is_accepted_sweep(run, confirmed), is_held_sweep(run, confirmed))
        for run in runs
    }


@pytest.mark.parametrize("confirmed", CONFIRMATIONS)
def test_the_extractor_and_dbt_read_the_same_sweeps_as_ended_accepted_and_held(warehouse, confirmed) -> None:
    with DuckDBLandingWriter(warehouse) as writer:
        runs = [run for stream in STREAMS for run in writer.runs(stream)]
        accepted = last_accepted_sweep(writer, confirmed)
    assert len(runs) == len(ROWS)
    by_dbt, dbt_latest = dbt_reading(warehouse, confirmed)
    assert python_reading(runs, confirmed) == by_dbt
    assert (accepted.sweep_started_at if accepted else None) == dbt_latest


def test_the_confirmation_decides_which_sweep_is_the_latest_accepted(warehouse) -> None:
    """The rows imply the answers: unconfirmed, the latest accepted sweep is the unfinished success
    (hour 12); the held sweep (hour 21) once confirmed; the text-flag one (hour 8) is older."""
    with DuckDBLandingWriter(warehouse) as writer:
        assert last_accepted_sweep(writer, None).run_id == "unfinished"
        assert last_accepted_sweep(writer, "S-held").run_id == "held"
        assert last_accepted_sweep(writer, "S-text").run_id == "unfinished"
        runs = {run.run_id: run for run in writer.runs("users")}
    accepted = {run_id for run_id, run in runs.items() if is_accepted_sweep(run, None)}
    assert accepted == {"accepted", "unfinished"}
    assert {r for r, run in runs.items() if is_accepted_sweep(run, "S-held")} == accepted | {"held"}
    assert {r for r, run in runs.items() if is_accepted_sweep(run, "S-text")} == accepted | {"text-flags"}
    assert {r for r, run in runs.items() if is_held_sweep(run, None)} == {"success-but-held", "text-flags", "held"}
    assert {r for r, run in runs.items() if is_held_sweep(run, "S-held")} == {"success-but-held", "text-flags"}


def test_the_cursor_rows_give_each_stream_the_cursor_the_extractor_reads(warehouse) -> None:
    run_dbt("run", target="local", duckdb_path=warehouse, select=["stg_descope__sync_runs"])
    with DuckDBLandingWriter(warehouse) as writer:
        cursors = {stream: writer.latest_cursor(stream) for stream in STREAMS}
    assert cursors == {"users": at(14), "audit_events": at(50)}  # the reset rows cut off what precedes them
    for stream in STREAMS:
        [(by_dbt,)] = query(
            warehouse,
            f"select max(cursor_to) from descope_staging.stg_descope__sync_runs "
            f"where stream = '{stream}' and is_cursor_row",
        )
        assert by_dbt == cursors[stream], stream
