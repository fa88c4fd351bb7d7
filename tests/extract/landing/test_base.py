"""What every landing writer does (`landing/base.py`): no record can block it, an oversize one is quarantined
with a preview, lines travel in chunks as full as allowed, and a page that cannot be written leaves no checkpoint."""

from __future__ import annotations

import json

import duckdb
import pytest

from descope_sync.contract import LANDING_TABLES, RunStatus
from descope_sync.errors import SyncError
from descope_sync.landing.base import MAX_ROW_BYTES, SyncRun, chunk_lines
from tests.extract.landing.conftest import NOW, fetch, query_users, user_row


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


def test_a_page_that_cannot_be_written_leaves_no_checkpoint_behind(any_writer):
    writer = any_writer
    run = SyncRun(run_id="r", stream="users", status=RunStatus.PARTIAL, started_at=NOW, finished_at=NOW, cursor_to=NOW)
    unloadable = {**user_row("U2"), "_extracted_at": "not a time"}  # no warehouse takes it as a timestamp
    with pytest.raises((SyncError, duckdb.Error)):
        writer.append("users", [user_row("U1"), unloadable], run=run)
        writer.latest_cursor("users")  # BigQuery loads the batch before its first state query
    assert writer.latest_cursor("users") is None
    assert writer.count("users") == 0 and writer.count("_sync_runs") == 0


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


def test_a_record_of_exactly_the_largest_row_size_lands_and_one_byte_more_is_quarantined(writer):
    from descope_sync.landing.base import encode_row

    columns = LANDING_TABLES["users"]
    padding = MAX_ROW_BYTES - len(encode_row(user_row("U1", blob=""), columns))
    exact, over = user_row("U1", blob="y" * padding), user_row("U2", blob="y" * (padding + 1))
    assert len(encode_row(exact, columns)) == MAX_ROW_BYTES
    assert writer.append("users", [exact, over]).landed == 1
    assert query_users(writer) == ["U1"] and writer.count("_quarantine") == 1
