"""The mark a demo warehouse carries (`descope_raw._demo`): the demo replaces only a file with it, and a real
run refuses to write into one (the next demo would delete what it landed)."""

from __future__ import annotations

from pathlib import Path

import duckdb

DEMO_MARKER = ("descope_raw", "_demo")


def is_demo_warehouse(path: Path) -> bool:
    """True when `path` is a DuckDB file a previous demo built (it carries the demo's mark)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        found = con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            list(DEMO_MARKER),
        ).fetchone()
    finally:
        con.close()
    return bool(found and found[0])
