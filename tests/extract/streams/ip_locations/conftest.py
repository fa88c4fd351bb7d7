"""What the ip_locations tests share: audit events landed with given addresses, the bundled database, what landed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from descope_sync.geo import GeoDatabase
from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from tests.conftest import settings_for

T0 = datetime(2024, 5, 1, 12, 0, 0)


ADDRESSES = [
    "81.2.69.160",
    "81.2.69.160",
    "81.2.69.160",
    "89.160.20.112",
    "89.160.20.112",
    "10.0.0.1",
    "2001:4860:4860::8888",
    "garbage",
    "",
    " ",
    None,
    None,
]


DISTINCT_NON_NULL = {a for a in ADDRESSES if a is not None}


@pytest.fixture(scope="module")
def geo() -> Iterator[GeoDatabase]:
    with GeoDatabase.open() as db:
        yield db


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[DuckDBLandingWriter]:
    with DuckDBLandingWriter(tmp_path / "warehouse.duckdb") as w:
        w.ensure_tables()
        yield w


def clock() -> Callable[[], datetime]:
    ticks = iter(range(1_000_000))
    return lambda: T0 + timedelta(seconds=next(ticks))


def add_events(writer: DuckDBLandingWriter, addresses: list[str | None], prefix: str = "e") -> None:
    writer.append(
        "audit_events",
        [
            {
                "event_id": f"{prefix}{i}",
                "action": "LoginSucceed",
                "user_id": f"U{i % 3}",
                "occurred_at": T0 - timedelta(minutes=i),
                "remote_address": address,
                "payload": {"remoteAddress": address},
                "_batch_id": "audit-batch",
                "_extracted_at": T0,
            }
            for i, address in enumerate(addresses)
        ],
    )


def located(writer: DuckDBLandingWriter) -> list[tuple]:
    return writer.query('select ip, count(*) from "descope_raw"."ip_locations" group by ip order by ip')


def run_rows(writer: DuckDBLandingWriter, run_id: str) -> list[tuple]:
    """(stream, status, rows_loaded) of a run's `_sync_runs` rows, in the order they were written."""
    return writer.query(
        'select stream, status, rows_loaded from "descope_raw"."_sync_runs" where run_id = ? order by finished_at',
        [run_id],
    )


def land_events(path: Path, addresses: list[str | None]) -> None:
    with DuckDBLandingWriter(path) as w:
        w.ensure_tables()
        add_events(w, addresses)


def extract_ip_locations(sim, path: Path, **settings) -> dict:
    return run_extract(
        settings_for(sim, path, **settings), streams=["ip_locations"], progress=SilentProgress()
    ).as_dict()


BUDGET_STOP = "ip_locations stopped by its time budget; the next run looks up what is still missing"
