"""How the stream reads the writer's answer of addresses to look up: in bounded batches, closed before writing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from descope_sim.geo_builds import city_record, write_city_database
from descope_sync.geo import GeoDatabase
from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.streams.ip_locations import run_ip_locations
from tests.extract.streams.ip_locations.conftest import (
    ADDRESSES,
    DISTINCT_NON_NULL,
    add_events,
    clock,
    located,
)


class _Answer:
    """One answer of `ips_without_location`, remembering whether it was closed."""

    def __init__(self, chunks: Iterator[list[str]]) -> None:
        self._chunks = chunks
        self.closed = False

    def __iter__(self) -> _Answer:
        return self

    def __next__(self) -> list[str]:
        return next(self._chunks)

    def close(self) -> None:
        self.closed = True
        self._chunks.close()


class WatchedWriter(DuckDBLandingWriter):
    """A DuckDB writer that keeps what the stream asked it and whether its answers were open at each write."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.asked: list[int] = []
        self.answers: list[_Answer] = []
        self.open_answers_at_append: list[int] = []

    def ips_without_location(self, database_type: str, database_built_at: datetime, chunk_size: int) -> _Answer:
        self.asked.append(chunk_size)
        self.answers.append(_Answer(super().ips_without_location(database_type, database_built_at, chunk_size)))
        return self.answers[-1]

    def append(self, table, rows, run=None):
        self.open_answers_at_append.append(sum(not a.closed for a in self.answers))
        return super().append(table, rows, run=run)


def test_the_stream_asks_for_50_000_addresses_at_a_time_and_closes_each_answer_before_writing(
    tmp_path: Path, geo: GeoDatabase
) -> None:
    with WatchedWriter(tmp_path / "warehouse.duckdb") as writer:
        writer.ensure_tables()
        add_events(writer, ADDRESSES)
        writer.open_answers_at_append.clear()

        result = run_ip_locations(writer, geo, batch_id="b1", run_id="r1", now=clock())

        assert result.rows_loaded == 7
        assert writer.asked == [50_000, 50_000]  # one chunk, then an empty answer
        assert writer.open_answers_at_append == [0, 0]  # the chunk, then the run's last row
        assert all(a.closed for a in writer.answers)


class PlainIteratorWriter(DuckDBLandingWriter):
    """A writer answering `ips_without_location` with a plain iterator, which has no close()."""

    def ips_without_location(self, database_type: str, database_built_at: datetime, chunk_size: int):
        return iter(list(super().ips_without_location(database_type, database_built_at, chunk_size)))


def test_a_writer_answering_with_a_plain_iterator_is_read_too(tmp_path: Path, geo: GeoDatabase) -> None:
    with PlainIteratorWriter(tmp_path / "warehouse.duckdb") as writer:
        writer.ensure_tables()
        add_events(writer, ADDRESSES)
        result = run_ip_locations(writer, geo, batch_id="b1", run_id="r1", now=clock(), chunk_size=3)

        assert (result.status, result.rows_loaded, result.pages) == ("success", 7, 3)
        assert located(writer) == sorted((ip, 1) for ip in DISTINCT_NON_NULL)


class ForgetfulWriter(DuckDBLandingWriter):
    """A writer whose query ignores the lookups already landed (as if it checked another database build)."""

    def ips_without_location(self, database_type: str, database_built_at: datetime, chunk_size: int):
        return super().ips_without_location("another database", database_built_at, chunk_size)


def test_a_writer_that_keeps_reporting_landed_addresses_stops_the_stream_with_a_clear_error(tmp_path: Path) -> None:
    build = write_city_database(
        tmp_path / "GeoLite2-City.mmdb",
        {"81.2.69.160": city_record("Testville", "GB", "United Kingdom")},
        built_at=datetime(2030, 1, 2, 3, 4, 5),
    )
    with ForgetfulWriter(tmp_path / "warehouse.duckdb") as writer, GeoDatabase.open(build) as geo:
        writer.ensure_tables()
        add_events(writer, ADDRESSES)
        message = (
            "ip_locations: IPs landed in the previous chunk are still reported as not looked up "
            "for GeoLite2-City built 2030-01-02 03:04:05"
        )
        with pytest.raises(RuntimeError, match=f"^{re.escape(message)}$"):
            run_ip_locations(writer, geo, batch_id="b1", run_id="r1", now=clock())

        assert located(writer) == sorted((ip, 1) for ip in DISTINCT_NON_NULL)  # the first chunk, once
