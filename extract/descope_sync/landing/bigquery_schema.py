"""What a landing table is on BigQuery, and the names that may reach its SQL.

The table spec (schema, day partition, clustering) is built from the table's declaration
(`catalog.LandingTable`); `ensure_landing_tables` creates what is missing from it, and tests read it. Every identifier
that reaches SQL (project, dataset, table, column) is validated against BigQuery's naming rules
(`ConfigError` otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from descope_sync.catalog import TABLES, Column, LandingTable
from descope_sync.errors import ConfigError
from descope_sync.landing.bigquery_jobs import BigQueryJobs

# Logical column types (catalog.Column.type) as BigQuery API schema types and as DDL types.
FIELD_TYPES = {
    "string": "STRING",
    "timestamp": "TIMESTAMP",
    "json": "JSON",
    "double": "FLOAT",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
}
DDL_TYPES = {
    "string": "STRING",
    "timestamp": "TIMESTAMP",
    "json": "JSON",
    "double": "FLOAT64",
    "integer": "INT64",
    "boolean": "BOOL",
}

# BigQuery naming rules (stricter where it costs nothing: table and column names are the catalog's).
_PROJECT = re.compile(r"(?:[a-z][a-z0-9.-]{0,61}[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")
_DATASET = re.compile(r"[A-Za-z0-9_]{1,1024}")
TABLE_NAME = re.compile(r"[A-Za-z0-9_]{1,1024}")
COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,299}")
_LOCATION = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,62}")


def validate_project(project: str, label: str = "GCP_PROJECT (or GOOGLE_CLOUD_PROJECT)") -> str:
    if not isinstance(project, str) or not _PROJECT.fullmatch(project):
        raise ConfigError(
            f"{label}: {str(project)[:80]!r} is not a Google Cloud project ID "
            "(6-30 lower-case letters, digits and hyphens, starting with a letter)"
        )
    return project


def validate_dataset(dataset: str, label: str = "DESCOPE_RAW_DATASET") -> str:
    if not isinstance(dataset, str) or not _DATASET.fullmatch(dataset):
        raise ConfigError(
            f"{label}: {str(dataset)[:80]!r} is not a BigQuery dataset name "
            "(letters, digits and underscores only, at most 1,024)"
        )
    return dataset


def validate_location(location: str, label: str = "BQ_LOCATION") -> str:
    if not isinstance(location, str) or not _LOCATION.fullmatch(location):
        raise ConfigError(f"{label}: {str(location)[:80]!r} is not a BigQuery location (e.g. US, EU, europe-west1)")
    return location


def identifier(name: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(name):
        raise ConfigError(f"{name[:80]!r} is not a valid BigQuery {what} name")
    return name


def schema(table: LandingTable) -> list[bigquery.SchemaField]:
    return [bigquery.SchemaField(identifier(c.name, COLUMN_NAME, "column"), FIELD_TYPES[c.type]) for c in table.columns]


def table_spec(ref: bigquery.TableReference | str, table: LandingTable) -> bigquery.Table:
    """The landing table as created: its columns, partitioned by day on its partition column, clustered."""
    spec = bigquery.Table(ref, schema=schema(table))
    spec.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY, field=table.partition)
    if table.clustering:
        spec.clustering_fields = list(table.clustering)
    return spec


def add_column_sql(table_id: str, column: Column) -> str:
    """Additive evolution: the DDL adding a declared column an existing table lacks."""
    name = identifier(column.name, COLUMN_NAME, "column")
    return f"alter table {table_id} add column if not exists `{name}` {DDL_TYPES[column.type]}"


def ensure_landing_tables(jobs: BigQueryJobs, dataset: str, table_id: Callable[[str], str]) -> None:
    """Create the dataset and every declared landing table when missing; add declared columns a table lacks."""
    # Read first, create only what is missing: an identity that may write a pre-created dataset but not
    # create datasets gets 403 (not 409) from a create, even when the dataset exists.
    client, dataset_ref = jobs.client, bigquery.DatasetReference(jobs.project, dataset)

    def ensure_dataset() -> bigquery.Dataset:
        try:
            return client.get_dataset(dataset_ref, **jobs.bounded())
        except NotFound:
            spec = bigquery.Dataset(dataset_ref)
            spec.location = jobs.location
            return client.create_dataset(spec, exists_ok=True, **jobs.bounded())

    existing = jobs.call(ensure_dataset, f"create dataset {dataset}")
    if existing.location and existing.location.lower() != jobs.location.lower():
        raise ConfigError(
            f"dataset {jobs.project}.{dataset} is in {existing.location}, not {jobs.location}: "
            f"set BQ_LOCATION={existing.location} or choose another DESCOPE_RAW_DATASET"
        )
    for table in TABLES.values():

        def ensure_table(table: LandingTable = table) -> bigquery.Table:
            ref = dataset_ref.table(identifier(table.name, TABLE_NAME, "table"))
            try:
                return client.get_table(ref, **jobs.bounded())
            except NotFound:
                return client.create_table(table_spec(ref, table), exists_ok=True, **jobs.bounded())

        current = jobs.call(ensure_table, f"create table {dataset}.{table.name}")
        have = {field.name.lower() for field in current.schema}
        # Additive evolution only: never drop, retype or rewrite. DDL, not a schema patch (the emulator
        # accepts a patch without applying it to the data); one column a statement (the emulator takes
        # no more; BigQuery's table-update rate limit is retried by the client's job retry).
        for col in table.columns:
            if col.name.lower() not in have:
                jobs.query(
                    add_column_sql(table_id(table.name), col), [], f"add column {col.name} to {dataset}.{table.name}"
                )
