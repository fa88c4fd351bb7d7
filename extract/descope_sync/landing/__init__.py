"""Landing writers: one interface, a DuckDB and a BigQuery implementation."""

from descope_sync.landing.base import LANDING_TABLES, LandingWriter, SyncRun

__all__ = ["LANDING_TABLES", "LandingWriter", "SyncRun"]
