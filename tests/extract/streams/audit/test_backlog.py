"""How far behind a stopped run is, and how long its backlog takes at Descope's limits (`streams/audit/backlog.py`)."""

from __future__ import annotations

import io
import logging
import math
import re
from datetime import timedelta

import pytest

from descope_sim import ChaosConfig
from descope_sync.pipeline import run_extract
from descope_sync.progress import Progress, SilentProgress
from descope_sync.streams.audit.backlog import DESCOPE_AUDIT_SEARCHES_PER_MINUTE
from descope_sync.timeutil import from_ms
from tests.conftest import land_audit_cursor, logged, query, settings_for


@pytest.mark.parametrize(
    ("lag_seconds", "said"),
    [
        (59, "0 minutes"),
        (60, "1 minutes"),
        (3599, "59 minutes"),
        (3600, "1.0 hours"),
        (5400, "1.5 hours"),
        (6300, "1.8 hours"),
        (86399, "24.0 hours"),
        (86400, "1.0 days"),
        (151200, "1.8 days"),
    ],
)
def test_a_budget_stop_says_how_far_behind_the_cursor_is(simulator, tmp_path, lag_seconds, said):
    started = from_ms(1_800_000_000_000)
    db = tmp_path / "w.duckdb"
    cursor = land_audit_cursor(db, started - timedelta(seconds=lag_seconds))
    # Every request is rate limited for longer than the budget allows: the run stops before its first page.
    sim = simulator(users=20, chaos=ChaosConfig(seed=1, p_429=1.0, p_5xx=0.0, p_malformed=0.0, p_mutation=0.0))
    settings = settings_for(sim, db, max_seconds=1, audit_overlap_seconds=0)
    stream = run_extract(settings, streams=["audit_events"], progress=SilentProgress(), now=lambda: started).streams[0]
    assert str(stream.status) == "partial"
    at = cursor.isoformat(sep=" ")
    assert f"progress is committed up to {at} UTC, {said} behind; the next run continues from there" in stream.message
    assert stream.details["behind_seconds"] == lag_seconds


def test_the_audit_backlog_says_how_long_it_takes_at_descope_s_limits(simulator, tmp_path, caplog):
    sim = simulator(users=300)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, audit_page_size=50)
    progress = Progress(io.StringIO(), interval=0)
    with caplog.at_level(logging.INFO):
        summary = run_extract(settings, streams=["audit_events"], progress=progress)
    assert summary.status == "success"
    [(landed,)] = query(db, "select count(*) from descope_raw.audit_events")
    backlog = [m for m in logged(caplog) if "events to read" in m]
    minutes = math.ceil(landed / 50) / DESCOPE_AUDIT_SEARCHES_PER_MINUTE
    assert backlog == [
        f"audit_events: {landed:,} events to read (30.0 days behind): about {minutes:.0f} minutes at Descope's "
        f"limit of {DESCOPE_AUDIT_SEARCHES_PER_MINUTE} audit searches a minute, 50 events each"
    ]
    last = [m for m in logged(caplog) if m.startswith("audit_events: ") and "rows/s" in m][-1]
    rows, total = (int(n.replace(",", "")) for n in re.match(r"audit_events: ([\d,]+) of ([\d,]+) rows", last).groups())
    assert rows == landed and landed <= total <= landed * 1.01  # Descope's count, read to the end
