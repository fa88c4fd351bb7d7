"""Every input a run needs, checked before its first request to Descope: a wrong GeoIP path or a
read-only warehouse is reported at once, not after the Descope streams have run for minutes.
(Credentials are checked earlier still, by `config.load_settings`.)"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from descope_sync.config import Settings
from descope_sync.demo_mark import is_demo_warehouse
from descope_sync.errors import ConfigError, WarehouseReadOnly
from descope_sync.geo import GeoDatabase
from descope_sync.urls import is_loopback


def check_inputs(settings: Settings, streams: Sequence[str]) -> None:
    """Raise a one-line error for the first input the run could not use."""
    if settings.warehouse == "duckdb":
        check_warehouse_writable(settings.duckdb_path)
        check_not_a_demo_for_real_data(settings.duckdb_path, settings.base_url)
    if "ip_locations" in streams and (settings.geoip_database is None or isinstance(settings.geoip_database, Path)):
        GeoDatabase.open(settings.geoip_database).close()  # raises ConfigError naming the path and the fix


def check_warehouse_writable(path: Path) -> None:
    """The DuckDB file (or, when it is new, its directory) must be writable; DuckDB also writes a WAL
    file beside it, so its directory must be too."""
    fix = "make it writable, or set DUCKDB_PATH (--duckdb-path) to a file in a writable directory"
    if path.exists():
        if path.is_dir():
            raise ConfigError(f"the warehouse {path} is a directory, not a DuckDB file; set DUCKDB_PATH to a file")
        if not os.access(path, os.R_OK | os.W_OK):
            raise WarehouseReadOnly(f"the warehouse {path} is read-only (descope-sync appends to it): {fix}")
    directory = _nearest_existing(path.parent)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise WarehouseReadOnly(
            f"the warehouse's directory {directory} is read-only (DuckDB writes {path.name} and its .wal there): {fix}"
        )


def check_not_a_demo_for_real_data(path: Path, base_url: str) -> None:
    """A demo's file holds only simulated data: the next `make demo` replaces it. Data from a real Descope
    project (any host but loopback, where the simulator serves) must not land there."""
    if not path.is_file() or is_loopback(urlsplit(base_url).hostname or ""):
        return
    try:
        demo = is_demo_warehouse(path)
    except duckdb.Error:
        return  # not readable as DuckDB: the writer reports it
    if demo:
        raise ConfigError(
            f"{path} is the demo's warehouse (the next demo replaces it): real data does not go there; "
            "set DUCKDB_PATH (--duckdb-path) to another file, e.g. ./warehouse.duckdb"
        )


def _nearest_existing(directory: Path) -> Path:
    absolute = directory.absolute()
    for candidate in (absolute, *absolute.parents):
        if candidate.exists():
            return candidate
    return absolute
