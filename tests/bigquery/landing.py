"""Landing rows into an emulator dataset the way the extractor lands them, for the dbt tests.

A stand-in for `descope_sync.landing.bigquery` (written elsewhere): rows are encoded by the shared
`encode_row` (the NDJSON line every writer loads) and loaded with `load_table_from_file`. Tables
are the writer's own specs (`bigquery_schema.table_spec`) of the declared landing tables.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from descope_sync.catalog import LANDING_TABLES, TABLES
from descope_sync.landing.base import encode_row


class EmulatorLanding:
    """The landing tables of one dataset on the emulator (or any BigQuery client)."""

    def __init__(self, client: Any, dataset: str) -> None:
        from descope_sync.landing.bigquery_schema import table_spec

        self.client = client
        self.dataset = dataset
        client.create_dataset(dataset, exists_ok=True)
        for name, table in TABLES.items():
            client.create_table(table_spec(f"{client.project}.{dataset}.{name}", table), exists_ok=True)

    def append(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Load `rows` (dicts as the extractor builds them) into `table`; returns the rows loaded."""
        from google.cloud import bigquery

        if not rows:  # the emulator cannot load an empty file
            return 0
        data = b"\n".join(encode_row(row, LANDING_TABLES[table]) for row in rows) + b"\n"
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
        )
        job = self.client.load_table_from_file(
            io.BytesIO(data), f"{self.client.project}.{self.dataset}.{table}", job_config=config
        )
        return job.result().output_rows
