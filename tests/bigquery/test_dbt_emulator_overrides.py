"""The emulator-only overrides in macros/bigquery_emulator.sql, on a probe project that uses the project's macros.

A table without a contract must go through the adapter's own create_table_as (what production
runs, also on the emulator); a contract-enforced table takes the emulator's two-statement path and
its NOT NULL constraints still hold there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from descope_sync.transform import project_dir, run_dbt, target_dir

PROBE_DATASET = "override_probe"


def probe_project(root: Path) -> Path:
    project = root / "probe"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: descope_sync\nversion: '1.0.0'\nconfig-version: 2\nprofile: descope_sync\n"
        'model-paths: ["models"]\nmacro-paths: ["macros"]\ntarget-path: target\n'
    )
    shutil.copytree(project_dir() / "macros", project / "macros")
    shutil.copy(project_dir() / "profiles.yml", project / "profiles.yml")
    (project / "models" / "plain_table.sql").write_text(
        "{{ config(materialized='table', partition_by={'field': 'day', 'data_type': 'date'}, cluster_by=['id']) }}\n"
        "select 'a' as id, date '2024-01-01' as day\n"
    )
    contracted = "{{ config(materialized='table', partition_by={'field': 'day', 'data_type': 'date'}) }}\n"
    (project / "models" / "contracted.sql").write_text(
        contracted + "select 'a' as id, date '2024-01-01' as day, json '[1]' as payload\n"
    )
    (project / "models" / "contracted_null.sql").write_text(
        contracted + "select cast(null as string) as id, date '2024-01-01' as day, json '[1]' as payload\n"
    )
    columns = (
        "      - {name: id, data_type: string, constraints: [{type: not_null}]}\n"
        "      - {name: day, data_type: date}\n"
        "      - {name: payload, data_type: json}\n"
    )
    (project / "models" / "_models.yml").write_text(
        "version: 2\nmodels:\n"
        + "".join(
            f"  - name: {name}\n    config: {{contract: {{enforced: true}}}}\n    columns:\n{columns}"
            for name in ("contracted", "contracted_null")
        )
    )
    return project


@pytest.fixture
def probe(bq_emulator, tmp_path: Path) -> Iterator[Path]:
    project = probe_project(tmp_path)
    values = {**bq_emulator.env(), "DBT_PROJECT_DIR": str(project), "DESCOPE_MARTS_DATASET": PROBE_DATASET}
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield project
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_sql(project: Path, model: str) -> str:
    return (target_dir(project) / "run" / "descope_sync" / "models" / f"{model}.sql").read_text()


def test_a_table_without_a_contract_is_created_by_the_adapters_own_macro(probe: Path) -> None:
    outcome = run_dbt("run", target="bigquery", select=["plain_table"])
    assert outcome.success, outcome.failures
    sql = " ".join(run_sql(probe, "plain_table").split())
    assert "partition by day cluster by id" in sql and "as ( select 'a' as id" in sql
    assert "insert into" not in sql


def test_a_contracted_table_is_created_then_filled_on_the_emulator(probe: Path, bq_emulator) -> None:
    outcome = run_dbt("run", target="bigquery", select=["contracted"])
    assert outcome.success, outcome.failures
    sql = " ".join(run_sql(probe, "contracted").split())
    assert "id string not null" in sql and "insert into" in sql
    rows = bq_emulator.client().query(f"select id, day, payload from {PROBE_DATASET}.contracted").result()
    assert [tuple(row.values()) for row in rows] == [("a", date(2024, 1, 1), [1])]


def test_the_contracts_not_null_still_holds_on_the_emulator(probe: Path) -> None:
    outcome = run_dbt("run", target="bigquery", select=["contracted_null"])
    assert not outcome.success
    assert "NOT NULL" in " ".join(outcome.failures)
