"""Picks the landing writer for the configured warehouse."""

from __future__ import annotations

from descope_sync.config import Settings
from descope_sync.errors import ConfigError
from descope_sync.landing.base import LandingWriter


def open_writer(settings: Settings) -> LandingWriter:
    if settings.warehouse == "duckdb":
        from descope_sync.landing.duckdb import DuckDBLandingWriter

        return DuckDBLandingWriter(settings.duckdb_path, schema=settings.raw_schema)
    if settings.warehouse == "bigquery":
        try:
            from descope_sync.landing.bigquery import BigQueryLandingWriter
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("google"):
                raise ConfigError(
                    "the BigQuery landing writer needs google-cloud-bigquery: pip install 'descope-sync[bigquery]'"
                ) from None
            raise ConfigError("this build has no BigQuery landing writer yet; use --target local (DuckDB)") from None
        if not settings.bigquery_project:
            raise ConfigError("BigQuery target: set GCP_PROJECT (or GOOGLE_CLOUD_PROJECT)")
        return BigQueryLandingWriter(
            project=settings.bigquery_project,
            dataset=settings.raw_schema,
            location=settings.bigquery_location,
        )
    raise ConfigError(f"unknown warehouse {settings.warehouse!r}")
