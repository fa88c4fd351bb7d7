"""Writers for the landing tests: DuckDB on a file, and each writer in turn (BigQuery on the emulator)."""

from __future__ import annotations

from datetime import datetime

import pytest

from descope_sync.contract import LANDING_TABLES
from descope_sync.landing.duckdb import DuckDBLandingWriter

NOW = datetime(2026, 11, 1, 12, 0, 0)


def user_row(user_id: str, **payload) -> dict:
    return {
        "user_id": user_id,
        "modified_at": None,
        "payload": {"userId": user_id, **payload},
        "_batch_id": "b1",
        "_extracted_at": NOW,
    }


@pytest.fixture
def writer(tmp_path):
    with DuckDBLandingWriter(tmp_path / "w.duckdb") as w:
        w.ensure_tables()
        yield w


@pytest.fixture(params=["duckdb", "bigquery"])
def any_writer(request, tmp_path):
    """Each writer in turn: DuckDB on a file, BigQuery on the emulator (a dataset of its own)."""
    if request.param == "duckdb":
        with DuckDBLandingWriter(tmp_path / "w.duckdb") as w:
            w.ensure_tables()
            yield w
        return
    from tests.bigquery.helpers import bq_writer, dataset_for

    with bq_writer(request.getfixturevalue("bq_emulator"), dataset_for(request)) as w:
        w.ensure_tables()
        yield w


def fetch(writer, duckdb_sql: str, bigquery_sql: str) -> list[tuple]:
    """The same question in each writer's SQL; `{users}` etc. name the BigQuery tables."""
    if isinstance(writer, DuckDBLandingWriter):
        return writer.query(duckdb_sql)
    return writer.query(bigquery_sql.format(**{t.lstrip("_"): writer.table_id(t) for t in LANDING_TABLES}))


def query_users(writer) -> list[str]:
    return [user_id for (user_id,) in writer.query("select user_id from descope_raw.users")]
