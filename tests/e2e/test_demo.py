"""`descope-sync demo` (what `make demo` runs) builds a warehouse and reports what it built."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import query


def test_the_demo_builds_every_table_and_reports_their_rows(tmp_path):
    db = tmp_path / "demo.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_")}
    result = subprocess.run(
        [sys.executable, "-m", "descope_sync.cli", "demo", "--users", "60", "--duckdb-path", str(db)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for schema, table in (("descope_raw", "users"), ("descope_data_v2", "users"), ("descope_data_v2", "user_logins")):
        count = query(db, f"select count(*) from {schema}.{table}")[0][0]
        assert count > 0
        assert (
            f"{schema}.{table}".ljust(len(schema) + 16) in result.stdout.replace("\n", " ")
            or str(count) in result.stdout
        )
    assert "dbt build: PASS" in result.stdout
