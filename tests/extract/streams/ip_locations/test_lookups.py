"""Each address without a location looked up once, in chunks, under its raw value and the database build."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from descope_sim.geo_builds import city_record, write_city_database
from descope_sync.geo import GeoDatabase
from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.streams.ip_locations import run_ip_locations
from tests.conftest import query
from tests.extract.streams.ip_locations.conftest import (
    ADDRESSES,
    DISTINCT_NON_NULL,
    T0,
    add_events,
    clock,
    extract_ip_locations,
    land_events,
    located,
    run_rows,
)


def test_each_distinct_address_is_looked_up_once(
    writer: DuckDBLandingWriter, geo: GeoDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    add_events(writer, ADDRESSES)
    with caplog.at_level(logging.INFO, logger="descope_sync.streams.ip_locations"):
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
    assert result.details["database_type"] == geo.database_type
    assert result.details["database_built_at"] == geo.database_built_at.isoformat(sep=" ")
    # every address is stamped with when it was looked up: during the run
    (looked_up_at,) = writer.query('select distinct _looked_up_at from "descope_raw"."ip_locations"')
    ((started_at, finished_at),) = writer.query(
        'select started_at, finished_at from "descope_raw"."_sync_runs" where run_id = \'r1\' and rows_loaded > 0'
    )
    assert started_at < looked_up_at[0] <= finished_at
    assert run_rows(writer, "r1") == [("ip_locations", "partial", 7), ("ip_locations", "success", 0)]
    assert caplog.messages == ["ip_locations: located 7 IP(s) (7 so far)"]


def test_second_run_looks_up_nothing_new(writer: DuckDBLandingWriter, geo: GeoDatabase) -> None:
    add_events(writer, ADDRESSES)
    run_ip_locations(writer, geo, batch_id="b1", run_id="r1", now=clock())
    second = run_ip_locations(writer, geo, batch_id="b2", run_id="r2", now=clock())

    assert second.rows_loaded == 0
    assert second.details["looked_up"] == 0
    assert writer.count("ip_locations") == 7
    assert writer.query(
        "select stream, status, rows_loaded, started_at, finished_at "
        'from "descope_raw"."_sync_runs" where run_id = \'r2\''
    ) == [("ip_locations", "success", 0, T0, T0 + timedelta(seconds=1))]


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
    # each chunk commits a `partial` checkpoint; only the empty answer after the last one proves the
    # lookups finished, and that is the run's one `success` row (no rows of its own)
    assert len(runs) == result.pages + 1
    assert {r[:3] for r in runs[:-1]} == {("ip_locations", "partial", "incremental")}
    assert runs[-1][:4] == ("ip_locations", "success", "incremental", 0)
    assert [r[3] for r in runs[:-1]] == [4] * (result.pages - 1) + [len(expected) - 4 * (result.pages - 1)]
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


def test_chunks_of_one_address_work_and_a_chunk_size_below_one_is_refused(
    writer: DuckDBLandingWriter, geo: GeoDatabase
) -> None:
    add_events(writer, ADDRESSES)
    with pytest.raises(ValueError, match=r"^chunk_size must be at least 1$"):
        run_ip_locations(writer, geo, batch_id="b0", run_id="r0", now=clock(), chunk_size=0)
    assert writer.count("ip_locations") == 0

    result = run_ip_locations(writer, geo, batch_id="b1", run_id="r1", now=clock(), chunk_size=1)

    assert (result.pages, result.rows_loaded) == (7, 7)
    assert located(writer) == sorted((ip, 1) for ip in DISTINCT_NON_NULL)


def test_a_run_looks_addresses_up_in_the_configured_database_under_its_own_ids(simulator, tmp_path: Path) -> None:
    sim = simulator(users=5)
    build = write_city_database(
        tmp_path / "GeoLite2-City.mmdb",
        {"81.2.69.160": city_record("Testville", "GB", "United Kingdom")},
        built_at=datetime(2030, 1, 2, 3, 4, 5),
    )
    db = tmp_path / "warehouse.duckdb"
    land_events(db, ["81.2.69.160", "10.0.0.1"])

    summary = extract_ip_locations(sim, db, geoip_database=str(build))

    (stream,) = summary["streams"]
    assert stream["status"] == "success" and stream["rows_loaded"] == 2
    assert stream["details"]["database_type"] == "GeoLite2-City"
    assert stream["details"]["database_built_at"] == "2030-01-02 03:04:05"
    batch = f"{summary['run_id']}:ip_locations"
    assert query(db, "select ip, city, database_built_at, _batch_id from descope_raw.ip_locations order by ip") == [
        ("10.0.0.1", None, datetime(2030, 1, 2, 3, 4, 5), batch),
        ("81.2.69.160", "Testville", datetime(2030, 1, 2, 3, 4, 5), batch),
    ]
    assert query(db, "select run_id, status, rows_loaded from descope_raw._sync_runs order by finished_at") == [
        (summary["run_id"], "partial", 2),
        (summary["run_id"], "success", 0),
    ]
