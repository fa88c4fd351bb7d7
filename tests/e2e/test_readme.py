"""The README's demo figures are what `descope-sync demo` builds today."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import query

README = Path(__file__).resolve().parents[2] / "README.md"
NUMBER = r"([\d,]+)"


def _readme_figures() -> dict[str, int]:
    text = " ".join(README.read_text().split())
    landed = re.search(rf"{NUMBER} users, {NUMBER} audit events and {NUMBER} IP addresses land in `descope_raw`", text)
    marts = re.search(rf"the marts hold {NUMBER} `users`, {NUMBER} `users_clean` .*? and {NUMBER} `user_logins`", text)
    assert landed and marts, "the README no longer states the demo's figures in the expected sentences"
    names = (
        "descope_raw.users",
        "descope_raw.audit_events",
        "descope_raw.ip_locations",
        "descope_data_v2.users",
        "descope_data_v2.users_clean",
        "descope_data_v2.user_logins",
    )
    return dict(zip(names, (int(n.replace(",", "")) for n in landed.groups() + marts.groups()), strict=True))


def test_the_demo_builds_the_figures_the_readme_states(tmp_path):
    figures = _readme_figures()
    db = tmp_path / "readme-demo.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_")}
    result = subprocess.run(
        [sys.executable, "-m", "descope_sync.cli", "demo", "--duckdb-path", str(db)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    built = {name: query(db, f"select count(*) from {name}")[0][0] for name in figures}
    assert built == figures
    printed = result.stdout.replace(",", "")
    for name, count in figures.items():
        assert re.search(rf"{re.escape(name)}\s+{count}\b", printed), f"{name} {count} not in the demo's report"
