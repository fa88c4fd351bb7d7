"""The landing writers (DuckDB, and BigQuery on the emulator): no record can block them; a second process on
a DuckDB file gets one clear error."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime

import duckdb
import pytest

from descope_sync.contract import LANDING_TABLES, RunStatus
from descope_sync.errors import SyncError, WarehouseLocked
from descope_sync.landing.base import MAX_ROW_BYTES, SyncRun, chunk_lines
from descope_sync.landing.duckdb import DuckDBLandingWriter
from tests.conftest import query

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


def test_a_lone_surrogate_lands_escaped_instead_of_failing_every_run(any_writer):
    writer = any_writer
    appended = writer.append("users", [user_row("U1", name="Ana \ud800 Souza"), user_row("U2", name="Zoë 🌸")])
    assert appended.landed == 2
    rows = dict(
        fetch(
            writer,
            "select user_id, payload->>'name' from descope_raw.users",
            "select user_id, json_value(payload, '$.name') from {users}",
        )
    )
    assert rows["U1"] == "Ana \\ud800 Souza"  # the code unit spelled out, the rest untouched
    assert rows["U2"] == "Zoë 🌸"


def test_pages_of_megabyte_records_land_under_the_writers_memory_cap(any_writer):
    writer = any_writer
    big = "x" * (1024 * 1024)
    rows = [user_row(f"U{i}", customAttributes={"blob": big}) for i in range(40)]
    appended = writer.append("users", rows)
    assert appended.landed == 40
    assert fetch(
        writer,
        "select count(*), min(length(payload->>'$.customAttributes.blob')) from descope_raw.users",
        "select count(*), min(length(json_value(payload, '$.customAttributes.blob'))) from {users}",
    ) == [(40, 1024 * 1024)]


def test_a_record_larger_than_a_landing_row_may_hold_is_quarantined_with_a_preview(any_writer):
    writer = any_writer
    huge = "y" * (MAX_ROW_BYTES + 10)
    run = SyncRun(run_id="r", stream="users", status=RunStatus.PARTIAL, started_at=NOW, finished_at=NOW, cursor_to=NOW)
    appended = writer.append("users", [user_row("U1", name="ok"), user_row("U2", blob=huge)], run=run)
    assert (appended.landed, appended.quarantined) == (1, 1)
    assert fetch(writer, "select user_id from descope_raw.users", "select user_id from {users}") == [("U1",)]
    reason, payload = fetch(
        writer,
        "select reason, payload from descope_raw._quarantine",
        "select reason, to_json_string(payload) from {quarantine}",
    )[0]
    payload = json.loads(payload)
    assert "larger than" in reason and payload["key"] == "U2" and payload["bytes"] > MAX_ROW_BYTES
    assert len(payload["preview"]) < 100_000
    assert writer.latest_cursor("users") == NOW  # the checkpoint still committed with the page


@pytest.mark.parametrize("lead", ["", "x"])  # shifts the record by a byte: at least one preview is cut inside a "€"
def test_a_quarantined_record_says_where_it_came_from_how_big_it_was_and_how_it_began(any_writer, lead):
    writer = any_writer
    blob = lead + "€" * (int(17.26 * 1024 * 1024) // 3)  # 17.26 MB: its size shows as 17.3 MB
    row = {**user_row("U2", blob=blob), "_batch_id": "batch-7"}
    assert writer.append("users", [row]).quarantined == 1
    stream, reason, batch_id, extracted_at, payload = fetch(
        writer,
        "select stream, reason, _batch_id, _extracted_at, payload from descope_raw._quarantine",
        "select stream, reason, _batch_id, _extracted_at, to_json_string(payload) from {quarantine}",
    )[0]
    payload = json.loads(payload)
    assert (stream, batch_id, extracted_at, payload["key"]) == ("users", "batch-7", NOW, "U2")
    assert reason == "record of 17.3 MB is larger than the 16 MB a landing row may hold"
    assert len(blob.encode()) < payload["bytes"] < len(blob.encode()) + 200
    preview = payload["preview"]
    assert preview.startswith('{"user_id":"U2","modified_at":null,"payload":{')
    head, _, chars = preview.partition('"blob":"' + lead)
    assert head and set(chars.rstrip("\ufffd")) == {"€"} and len(chars) - len(chars.rstrip("\ufffd")) <= 1
    assert 64 * 1024 - 2 <= len(preview.rstrip("\ufffd").encode()) <= 64 * 1024  # the first 64 KiB


def test_an_oversize_ip_location_is_quarantined_under_its_ip_and_lookup_time(writer):
    row = {"ip": "203.0.113.9", "city": "c" * MAX_ROW_BYTES, "_looked_up_at": NOW, "_batch_id": "b9"}
    assert writer.append("ip_locations", [row]).quarantined == 1
    [(stream, batch_id, extracted_at, payload)] = writer.query(
        "select stream, _batch_id, _extracted_at, payload from descope_raw._quarantine"
    )
    assert (stream, batch_id, extracted_at, json.loads(payload)["key"]) == ("ip_locations", "b9", NOW, "203.0.113.9")


def test_rows_and_their_checkpoint_commit_together_or_not_at_all(writer, monkeypatch):
    run = SyncRun(run_id="r", stream="users", status=RunStatus.PARTIAL, started_at=NOW, finished_at=NOW, cursor_to=NOW)

    def killed(table, *_args):
        raise RuntimeError(f"killed while writing {table}, after the rows and before the cursor")

    original_load, original_insert = writer._load, writer._insert_line
    monkeypatch.setattr(writer, "_load", lambda t, lines: killed(t) if t == "_sync_runs" else original_load(t, lines))
    monkeypatch.setattr(
        writer, "_insert_line", lambda t, line: killed(t) if t == "_sync_runs" else original_insert(t, line)
    )
    with pytest.raises(RuntimeError):
        writer.append("users", [user_row("U1")], run=run)
    assert writer.count("users") == 0 and writer.count("_sync_runs") == 0


def test_a_page_that_cannot_be_written_leaves_no_checkpoint_behind(any_writer):
    writer = any_writer
    run = SyncRun(run_id="r", stream="users", status=RunStatus.PARTIAL, started_at=NOW, finished_at=NOW, cursor_to=NOW)
    unloadable = {**user_row("U2"), "_extracted_at": "not a time"}  # no warehouse takes it as a timestamp
    with pytest.raises((SyncError, duckdb.Error)):
        writer.append("users", [user_row("U1"), unloadable], run=run)
        writer.latest_cursor("users")  # BigQuery loads the batch before its first state query
    assert writer.latest_cursor("users") is None
    assert writer.count("users") == 0 and writer.count("_sync_runs") == 0


def test_a_second_process_on_the_same_file_gets_one_clear_error_and_nothing_is_written(tmp_path):
    path = tmp_path / "w.duckdb"
    with DuckDBLandingWriter(path) as w:
        w.ensure_tables()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys, time
                con = duckdb.connect({str(path)!r})
                print("holding", flush=True)
                sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(WarehouseLocked) as caught:
            DuckDBLandingWriter(path)
        assert str(caught.value) == (
            f"another process (PID {holder.pid}) is using {path}: a concurrent descope-sync run or a DuckDB "
            "client; nothing was read or recorded, run again once it has finished"
        )
    finally:
        holder.communicate("")
    assert query(path, "select count(*) from descope_raw._sync_runs")[0][0] == 0


@pytest.mark.parametrize(
    ("sizes", "limit", "chunks"),
    [
        ([4, 4, 4, 4], 14, [3, 1]),  # three 4-byte lines joined by newlines are exactly 14 bytes
        ([4] * 7, 14, [3, 3, 1]),  # and so is every later chunk
        ([4, 4, 4, 4], 13, [2, 2]),
        ([20, 4, 4], 10, [1, 2]),  # a line longer than the limit travels alone
        ([], 10, []),
    ],
)
def test_lines_are_grouped_into_chunks_as_full_as_the_byte_limit_allows(sizes, limit, chunks):
    lines = [bytes([65 + i]) * size for i, size in enumerate(sizes)]
    grouped = list(chunk_lines(lines, limit))
    assert [len(chunk) for chunk in grouped] == chunks
    assert [line for chunk in grouped for line in chunk] == lines
    assert all(len(b"\n".join(chunk)) <= limit or len(chunk) == 1 for chunk in grouped)


def test_a_run_lands_in_the_configured_raw_schema(simulator, tmp_path):
    from descope_sync.pipeline import run_extract
    from descope_sync.progress import SilentProgress
    from tests.conftest import settings_for

    sim = simulator(users=15)
    db = tmp_path / "w.duckdb"
    summary = run_extract(settings_for(sim, db, raw_schema="acme_raw"), streams=["users"], progress=SilentProgress())
    assert summary.status == "success"
    assert query(db, "select count(distinct user_id) from acme_raw.users") == [(len(sim.world.truth()["users"]),)]
    assert query(db, "select count(*) from information_schema.schemata where schema_name = 'descope_raw'") == [(0,)]


def test_a_record_of_exactly_the_largest_row_size_lands_and_one_byte_more_is_quarantined(writer):
    from descope_sync.landing.base import encode_row

    columns = LANDING_TABLES["users"]
    padding = MAX_ROW_BYTES - len(encode_row(user_row("U1", blob=""), columns))
    exact, over = user_row("U1", blob="y" * padding), user_row("U2", blob="y" * (padding + 1))
    assert len(encode_row(exact, columns)) == MAX_ROW_BYTES
    assert writer.append("users", [exact, over]).landed == 1
    assert query_users(writer) == ["U1"] and writer.count("_quarantine") == 1


def query_users(writer) -> list[str]:
    return [user_id for (user_id,) in writer.query("select user_id from descope_raw.users")]
