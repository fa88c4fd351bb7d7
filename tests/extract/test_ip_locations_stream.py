"""The ip_locations stream on a real DuckDB file and the bundled GeoLite2-City database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from descope_sync.geo import GeoDatabase
from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.streams.ip_locations import run_ip_locations

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


def test_each_distinct_address_is_looked_up_once(writer: DuckDBLandingWriter, geo: GeoDatabase) -> None:
    add_events(writer, ADDRESSES)
    result = run_ip_locations(writer, geo, batch_id="b1", run_id="r1", now=clock())

    assert located(writer) == sorted((ip, 1) for ip in DISTINCT_NON_NULL)
    assert result.status == "success"
    assert result.rows_loaded == len(DISTINCT_NON_NULL) == 7
    assert result.details["looked_up"] == 7
    assert result.details["found"] == 3
    assert result.details["not_found"] == {
        "empty": 2,
        "invalid": 1,
        "private": 1,
        "reserved": 0,
        "not_in_database": 0,
    }
    rows = dict(
        writer.query(
            "select ip, struct_pack(city, country_code, is_found, not_found_reason, _batch_id) "
            'from "descope_raw"."ip_locations"'
        )
    )
    assert rows["81.2.69.160"] == {
        "city": "Willesden",
        "country_code": "GB",
        "is_found": True,
        "not_found_reason": None,
        "_batch_id": "b1",
    }
    assert rows[" "]["not_found_reason"] == "empty"
    assert rows["10.0.0.1"]["not_found_reason"] == "private"
    assert rows["2001:4860:4860::8888"]["city"] == "Mountain View"
    (build,) = writer.query('select distinct database_type, database_built_at from "descope_raw"."ip_locations"')
    assert build == (geo.database_type, geo.database_built_at)


def test_second_run_looks_up_nothing_new(writer: DuckDBLandingWriter, geo: GeoDatabase) -> None:
    add_events(writer, ADDRESSES)
    run_ip_locations(writer, geo, batch_id="b1", run_id="r1", now=clock())
    second = run_ip_locations(writer, geo, batch_id="b2", run_id="r2", now=clock())

    assert second.rows_loaded == 0
    assert second.details["looked_up"] == 0
    assert writer.count("ip_locations") == 7
    assert writer.query('select status, rows_loaded from "descope_raw"."_sync_runs" where run_id = \'r2\'') == [
        ("success", 0)
    ]


def test_new_addresses_in_later_events_are_the_only_lookups(writer: DuckDBLandingWriter, geo: GeoDatabase) -> None:
    add_events(writer, ADDRESSES)
    run_ip_locations(writer, geo, batch_id="b1", run_id="r1", now=clock())
    add_events(writer, ["81.2.69.160", "133.1.1.1", None], prefix="later")
    result = run_ip_locations(writer, geo, batch_id="b2", run_id="r2", now=clock())

    assert result.rows_loaded == 1
    assert writer.query('select ip, city from "descope_raw"."ip_locations" where _batch_id = \'b2\'') == [
        ("133.1.1.1", "Osaka")
    ]


def test_a_lookup_from_another_database_build_does_not_count(writer: DuckDBLandingWriter, geo: GeoDatabase) -> None:
    add_events(writer, ["81.2.69.160", "89.160.20.112"])
    older_build = {
        "ip": "81.2.69.160",
        "city": "London",
        "country_code": "GB",
        "is_found": True,
        "not_found_reason": None,
        "database_type": geo.database_type,
        "database_built_at": geo.database_built_at - timedelta(days=30),
        "_looked_up_at": T0 - timedelta(days=30),
        "_batch_id": "old",
    }
    current_build = {**older_build, "ip": "89.160.20.112", "database_built_at": geo.database_built_at}
    writer.append("ip_locations", [older_build, current_build])

    result = run_ip_locations(writer, geo, batch_id="b1", run_id="r1", now=clock())

    assert result.rows_loaded == 1
    assert writer.query(
        'select ip, city, database_built_at from "descope_raw"."ip_locations" where _batch_id = \'b1\''
    ) == [("81.2.69.160", "Willesden", geo.database_built_at)]
    assert located(writer) == [("81.2.69.160", 2), ("89.160.20.112", 1)]


def test_small_chunks_land_every_ip_once_with_a_run_row_per_chunk(
    writer: DuckDBLandingWriter, geo: GeoDatabase
) -> None:
    addresses = [f"81.2.{i // 256}.{i % 256}" for i in range(25)] * 2 + ADDRESSES
    add_events(writer, addresses)
    expected = {a for a in addresses if a is not None}

    result = run_ip_locations(writer, geo, batch_id="b1", run_id="r1", now=clock(), chunk_size=4)

    assert located(writer) == sorted((ip, 1) for ip in expected)
    assert result.rows_loaded == len(expected)
    assert result.pages == -(-len(expected) // 4)
    runs = writer.query(
        "select stream, status, mode, rows_loaded, started_at, finished_at "
        'from "descope_raw"."_sync_runs" where run_id = \'r1\' order by finished_at'
    )
    assert len(runs) == result.pages
    assert {r[:3] for r in runs} == {("ip_locations", "success", "incremental")}
    assert sum(r[3] for r in runs) == len(expected)
    assert all(r[4] == T0 and r[5] > T0 for r in runs)


def test_addresses_with_a_port_or_a_forwarded_list_are_located_by_their_client_ip(
    writer: DuckDBLandingWriter, geo: GeoDatabase
) -> None:
    addresses = [
        "81.2.69.160:443",
        "81.2.69.160",
        "10.0.0.1, 89.160.20.112",
        "[2001:4860:4860::8888]:443",
        "192.168.1.1, 10.0.0.1",
        "unknown, garbage",
        " , ",
    ]
    add_events(writer, addresses)
    result = run_ip_locations(writer, geo, batch_id="b1", run_id="r1", now=clock())

    rows = {
        ip: rest
        for ip, *rest in writer.query(
            'select ip, client_ip, city, is_found, not_found_reason from "descope_raw"."ip_locations"'
        )
    }
    assert rows == {
        "81.2.69.160:443": ["81.2.69.160", "Willesden", True, None],
        "81.2.69.160": ["81.2.69.160", "Willesden", True, None],
        "10.0.0.1, 89.160.20.112": ["89.160.20.112", "Stockholm", True, None],
        "[2001:4860:4860::8888]:443": ["2001:4860:4860::8888", "Mountain View", True, None],
        "192.168.1.1, 10.0.0.1": ["192.168.1.1", None, False, "private"],
        "unknown, garbage": [None, None, False, "invalid"],
        " , ": [None, None, False, "empty"],
    }
    assert result.details["found"] == 4
    assert result.details["not_found"] == {
        "empty": 1,
        "invalid": 1,
        "private": 1,
        "reserved": 0,
        "not_in_database": 0,
    }
    # the raw value is the key: a second run finds every address already located
    assert run_ip_locations(writer, geo, batch_id="b2", run_id="r2", now=clock()).rows_loaded == 0


def test_a_spent_budget_stops_between_chunks_and_the_next_run_looks_up_the_rest(
    writer: DuckDBLandingWriter, geo: GeoDatabase
) -> None:
    from descope_sync.descope import Deadline

    add_events(writer, ADDRESSES)
    ticks = iter([0.0, 0.0, 10.0, 10.0, 10.0, 10.0])
    deadline = Deadline(5, clock=lambda: next(ticks))  # one chunk's worth, then spent
    first = run_ip_locations(writer, geo, "b1", "r1", clock(), chunk_size=3, deadline=deadline)
    assert str(first.status) == "partial" and first.rows_loaded == 3
    second = run_ip_locations(writer, geo, "b2", "r2", clock(), chunk_size=3)
    assert str(second.status) == "success"
    assert {ip for ip, _ in located(writer)} == DISTINCT_NON_NULL
    assert all(n == 1 for _, n in located(writer))
