"""dbt's sources on the landing dataset hold exactly the landing tables the catalog declares.

Every declared landing table is a source table with the declared columns (names, and types where
the YAML states a `data_type`), and every source table on the landing dataset is declared: a
column added on one side only fails here, not in a warehouse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from descope_sync.catalog import TABLES, LandingTable
from descope_sync.transform import project_dir

RAW_SCHEMA = "env_var('DESCOPE_RAW_DATASET'"
# A logical column type (catalog.COLUMN_TYPES) as the data types a YAML may state for it (either engine).
DATA_TYPES = {
    "string": {"string", "varchar", "text"},
    "timestamp": {"timestamp"},
    "json": {"json"},
    "double": {"double", "float64", "float"},
    "integer": {"integer", "bigint", "int64"},
    "boolean": {"boolean", "bool"},
}


def landing_sources(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(file, table entry) of every source table on the landing dataset, in every YAML of the project."""
    found = []
    for path in sorted((root / "dbt_project").rglob("*.yml")):
        document = yaml.safe_load(path.read_text()) or {}
        for source in document.get("sources") or []:
            if RAW_SCHEMA in str(source.get("schema", "")):
                found.extend((path, table) for table in source.get("tables") or [])
    return found


def mismatches(declared: dict[str, LandingTable], sources: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    """What differs between the declarations and the source tables (empty: they agree)."""
    problems: list[str] = []
    described: dict[str, list[str]] = {}
    for path, entry in sources:
        identifier = entry.get("identifier") or entry["name"]
        if identifier not in declared:
            problems.append(f"{path.name}: source table {entry['name']} ({identifier}) is no declared landing table")
            continue
        if entry.get("identifier") and entry["identifier"] != entry["name"]:
            if entry.get("columns"):
                problems.append(f"{path.name}: {entry['name']} re-describes {identifier}'s columns")
            continue  # an alias of a declared table (a freshness entry): its columns are the table's
        described.setdefault(identifier, []).append(path.name)
        table = declared[identifier]
        yaml_columns = [c["name"] for c in entry.get("columns") or []]
        declared_columns = [c.name for c in table.columns]
        if sorted(yaml_columns) != sorted(declared_columns) or len(set(yaml_columns)) != len(yaml_columns):
            problems.append(
                f"{path.name}: {identifier} has columns {sorted(yaml_columns)}, declared {sorted(declared_columns)}"
            )
        for column in entry.get("columns") or []:
            stated = column.get("data_type")
            if stated is None or column["name"] not in declared_columns:
                continue
            logical = table.column(column["name"]).type
            if str(stated).lower() not in DATA_TYPES[logical]:
                problems.append(f"{path.name}: {identifier}.{column['name']} is {stated}, declared {logical}")
    for name in declared:
        if len(described.get(name, [])) != 1:
            problems.append(f"{name} is described by {len(described.get(name, []))} source tables, not 1")
    return problems


def test_every_landing_table_is_a_source_with_exactly_its_declared_columns() -> None:
    sources = landing_sources(project_dir())
    assert sources, "no source on the landing dataset found"
    assert mismatches(TABLES, sources) == []


@pytest.mark.parametrize(
    "break_it",
    ["add_yaml_column", "drop_yaml_column", "undeclared_table", "missing_table", "wrong_type"],
)
def test_the_comparison_sees_either_side_change(break_it: str) -> None:
    """The comparison is not vacuous: each kind of drift, made on purpose, is reported."""
    sources = [(path, dict(entry)) for path, entry in landing_sources(project_dir())]
    declared = dict(TABLES)
    users = next(entry for _, entry in sources if entry["name"] == "users")
    if break_it == "add_yaml_column":
        users["columns"] = [*users["columns"], {"name": "email"}]
    elif break_it == "drop_yaml_column":
        users["columns"] = users["columns"][:-1]
    elif break_it == "undeclared_table":
        del declared["users"]
    elif break_it == "missing_table":
        sources = [(path, entry) for path, entry in sources if entry is not users]
    else:
        users["columns"] = [{**c, "data_type": "int64"} if c["name"] == "user_id" else c for c in users["columns"]]
    assert mismatches(declared, sources) != []
