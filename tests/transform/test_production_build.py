"""What `descope-sync transform` builds: models and data tests; dbt's unit tests only when asked.

Unit tests check the models' SQL on fixtures, not the warehouse's data, so a production build (the
CLI, Cloud Build's dbt step) leaves them out and CI (`make test`) runs them.
"""

from __future__ import annotations

import re
from pathlib import Path

from descope_sync import cli

from .conftest import NOW, Landing, user

SELECTION = ["+int_users_deduplicated"]  # a model with unit tests and data tests, and what it reads


def transform(path: Path, capsys, *flags: str) -> dict[str, int]:
    """`descope-sync transform` in this process; the node counts it printed ({"unit_test:pass": 3, ...})."""
    code = cli.main(["transform", "--duckdb-path", str(path), "--select", *SELECTION, *flags])
    out = capsys.readouterr().out
    assert code == 0, out
    printed = re.search(r"dbt build: PASS \(([^)]*)\)", out)
    assert printed, out
    return {key: int(count) for key, count in (item.rsplit(" ", 1) for item in printed.group(1).split(", "))}


def test_a_production_transform_runs_the_data_tests_but_not_the_unit_tests(landing: Landing, capsys):
    landing.users(user("U1"), user("U2"), extracted_at=NOW)

    production = transform(landing.path, capsys)
    assert production.get("model:success", 0) >= 2
    assert production.get("test:pass", 0) > 0
    assert not [key for key in production if key.startswith("unit_test:")], production

    with_unit_tests = transform(landing.path, capsys, "--unit-tests")
    assert with_unit_tests.get("unit_test:pass", 0) > 0, with_unit_tests
    assert with_unit_tests["test:pass"] == production["test:pass"]
