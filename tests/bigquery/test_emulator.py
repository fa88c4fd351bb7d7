"""The harness itself: the emulator starts, and loads and queries the way production code will use it."""

from __future__ import annotations

import io

from tests.bigquery.emulator import start_emulator


def test_the_emulator_loads_ndjson_into_a_partitioned_table_and_answers_parameterised_queries(bq_emulator):
    from google.cloud import bigquery

    client = bq_emulator.client()
    client.create_dataset("harness_check", exists_ok=True)
    schema = [
        bigquery.SchemaField("user_id", "STRING"),
        bigquery.SchemaField("payload", "JSON"),
        bigquery.SchemaField("_extracted_at", "TIMESTAMP"),
    ]
    table = bigquery.Table(f"{bq_emulator.project}.harness_check.users", schema=schema)
    table.time_partitioning = bigquery.TimePartitioning(field="_extracted_at")
    client.create_table(table, exists_ok=True)
    line = b'{"user_id": "U1", "payload": {"name": "Zo\\u00eb", "n": 1}, "_extracted_at": "2026-11-29 01:00:00"}\n'
    config = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON", write_disposition="WRITE_APPEND")
    assert client.load_table_from_file(io.BytesIO(line), table, job_config=config).result().output_rows == 1
    query = client.query(
        f"select json_value(payload, '$.name') as name from `{bq_emulator.project}.harness_check.users` "
        "where user_id = @user_id",
        job_config=bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("user_id", "STRING", "U1")]),
    )
    assert [row["name"] for row in query.result()] == ["Zoë"]


def test_an_emulator_that_cannot_start_is_an_error_not_a_skip(tmp_path, monkeypatch):
    import pytest

    monkeypatch.setenv("BQEMULATOR_BIN", str(tmp_path / "no-such-bqemulator"))
    with pytest.raises(RuntimeError, match="not installed"):
        start_emulator(tmp_path)
