"""Landing rows into an emulator dataset the way the extractor lands them, for the dbt tests.

A stand-in for `descope_sync.landing.bigquery` (written elsewhere): rows are encoded by the shared
`encode_row` (the NDJSON line every writer loads) and loaded with `load_table_from_file`. Tables
follow `contract.LANDING_TABLES`, partitioned by day the way the writer partitions them.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from descope_sync.contract import LANDING_TABLES
from descope_sync.landing.base import encode_row

BIGQUERY_TYPES = {
    "string": "STRING",
    "timestamp": "TIMESTAMP",
    "json": "JSON",
    "double": "FLOAT64",
    "integer": "INT64",
    "boolean": "BOOL",
}
# The day partition of each landing table (architecture.md: by the landing time; tables without
# `_extracted_at` use the time they have).
PARTITION_FIELD = {
    "users": "_extracted_at",
    "audit_events": "_extracted_at",
    "_quarantine": "_extracted_at",
    "ip_locations": "_looked_up_at",
    "_sync_runs": "started_at",
}
CLUSTERING = {"users": ["user_id"], "audit_events": ["action", "user_id"], "ip_locations": ["ip"]}


class EmulatorLanding:
    """The landing tables of one dataset on the emulator (or any BigQuery client)."""

    def __init__(self, client: Any, dataset: str) -> None:
        from google.cloud import bigquery

        self.client = client
        self.dataset = dataset
        client.create_dataset(dataset, exists_ok=True)
        for table, columns in LANDING_TABLES.items():
            schema = [bigquery.SchemaField(c.name, BIGQUERY_TYPES[c.type]) for c in columns]
            ref = bigquery.Table(f"{client.project}.{dataset}.{table}", schema=schema)
            ref.time_partitioning = bigquery.TimePartitioning(field=PARTITION_FIELD[table])
            ref.clustering_fields = CLUSTERING.get(table)
            client.create_table(ref, exists_ok=True)

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
