"""A DuckDB warehouse opened read-only, for the commands that only look (`runs`, `sql`)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from descope_sync.errors import ConfigError

# Schemas searched for unqualified names, marts first: `select * from users_clean` just works.
SEARCH_PATH = ("descope_data_v2", "descope_staging", "descope_raw", "main")


def connect_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    """The warehouse, read-only: nothing typed through it can change the file. One-line errors."""
    if not path.is_file():
        raise ConfigError(f"no warehouse at {path}: run descope-sync run (or make demo) first, or set DUCKDB_PATH")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        holder = re.search(r"PID (\d+)", str(exc))
        if "lock" in str(exc).lower():
            raise ConfigError(
                f"another process{f' (PID {holder.group(1)})' if holder else ''} is writing {path}: "
                "try again once it has finished"
            ) from None
        raise ConfigError(f"cannot open {path} read-only: {' '.join(str(exc).split())}") from None
    present = {row[0] for row in con.execute("select distinct schema_name from information_schema.schemata").fetchall()}
    con.execute(f"set search_path = '{','.join(s for s in SEARCH_PATH if s in present)}'")
    return con
