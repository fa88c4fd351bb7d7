"""Plain `dbt` from the project root finds the profile with no flags and no DBT_PROFILES_DIR."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from descope_sync.transform import project_dir


def test_dbt_debug_from_the_project_root_needs_no_flags(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "DUCKDB_"))}
    env.update(
        HOME=str(tmp_path / "home"),  # no ~/.dbt/profiles.yml to fall back on
        DUCKDB_PATH=str(tmp_path / "warehouse.duckdb"),
        DBT_TARGET_PATH=str(tmp_path / "target"),
        DBT_LOG_PATH=str(tmp_path / "logs"),
    )
    dbt = Path(sys.executable).with_name("dbt")
    result = subprocess.run(
        [str(dbt), "debug"], cwd=project_dir(), env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Using profiles.yml file at {project_dir() / 'profiles.yml'}" in result.stdout
    assert "Connection test: [OK connection ok]" in result.stdout.replace("\x1b[32m", "").replace("\x1b[0m", "")
