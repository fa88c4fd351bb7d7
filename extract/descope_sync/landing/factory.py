"""Picks the landing writer for the configured warehouse."""

from __future__ import annotations

import os
from collections.abc import Mapping

from descope_sync.config import Settings
from descope_sync.errors import ConfigError
from descope_sync.landing.base import LandingWriter

# BigQuery batching bounds (landing/bigquery.py), read here until config.py carries them.
BATCH_BYTES_VAR = "DESCOPE_BQ_BATCH_BYTES"
BATCH_PAGES_VAR = "DESCOPE_BQ_BATCH_PAGES"
EMULATOR_VAR = "BIGQUERY_EMULATOR_HOST"


def open_writer(settings: Settings, env: Mapping[str, str] | None = None, *, read_only: bool = False) -> LandingWriter:
    """The writer for the configured warehouse; `read_only` for commands that only read (a DuckDB file
    opened read-only works on a read-only file and beside another reader)."""
    env = os.environ if env is None else env
    if settings.warehouse == "duckdb":
        from descope_sync.landing.duckdb import DuckDBLandingWriter

        return DuckDBLandingWriter(settings.duckdb_path, schema=settings.raw_schema, read_only=read_only)
    if settings.warehouse == "bigquery":
        try:
            from descope_sync.landing import bigquery
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("google"):
                raise ConfigError(
                    "the BigQuery landing writer needs google-cloud-bigquery: pip install 'descope-sync[bigquery]'"
                ) from None
            raise
        if not settings.bigquery_project:
            raise ConfigError("BigQuery target: set GCP_PROJECT (or GOOGLE_CLOUD_PROJECT)")
        emulator = (env.get(EMULATOR_VAR) or "").strip()
        return bigquery.BigQueryLandingWriter(
            project=settings.bigquery_project,
            dataset=settings.raw_schema,
            location=settings.bigquery_location,
            api_endpoint=bigquery.emulator_endpoint(emulator) if emulator else None,
            batch_bytes=_positive_int(env, BATCH_BYTES_VAR, bigquery.DEFAULT_BATCH_BYTES),
            batch_pages=_positive_int(env, BATCH_PAGES_VAR, bigquery.DEFAULT_BATCH_PAGES),
        )
    raise ConfigError(f"unknown warehouse {settings.warehouse!r}")


def _positive_int(env: Mapping[str, str], var: str, default: int) -> int:
    raw = (env.get(var) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{var} must be a whole number >= 1, not {raw[:40]!r}")
    return value
