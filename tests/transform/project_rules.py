"""The structure rules dbt-project-evaluator applies, as checks over dbt's manifest (docs/dbt.md).

Each check takes the parsed `manifest.json` and returns its violations, one readable line each; an
empty list is a pass. Where our contract overrides a rule the exception is listed here with its
reason, and an exception that no longer applies is itself a violation (a stale list hides nothing).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

Manifest = Mapping[str, Any]
Node = Mapping[str, Any]

# Models whose grain has no key: no primary-key test can hold.
PRIMARY_KEY_EXCEPTIONS = {
    "stg_descope__users": "one row per landed user version, duplicates included by design "
    "(int_users_deduplicated keeps one per user_id and tests it)",
    "stg_descope__sync_runs": "an append-only log: a stream's run writes several rows (partial "
    "checkpoints, then its terminal row) and no column names one row",
}

# Source tables without freshness, by `source_name.table_name`.
FRESHNESS_EXCEPTIONS = {
    "descope._sync_runs": "the log the streams' freshness reads (each landing table's loaded_at_query); "
    "a freshness of its own would repeat theirs",
    "descope._quarantine": "rows land only when a record is bad: an empty or old table is the healthy state",
}

# Models whose name does not say their folder's layer (stg_ in staging/, int_ in intermediate/).
NAMING_EXCEPTIONS = {
    "int_ga4_user_devices": "GA4 attribution is optional: its intermediate models stay beside their "
    "one mart in marts/attribution (they write to the staging dataset)",
    "int_ga4_device_first_touches": "as int_ga4_user_devices",
}

# The generic tests that prove a grain: unique and not_null on one column, or unique_combination.
_UNIQUE, _NOT_NULL, _UNIQUE_COMBINATION = "unique", "not_null", "unique_combination"


def models(manifest: Manifest) -> dict[str, Node]:
    """This project's models by unique_id."""
    return {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["package_name"] == manifest["metadata"]["project_name"]
    }


def _project_name(manifest: Manifest) -> str:
    return manifest["metadata"]["project_name"]


def _folder(model: Node) -> str:
    """The layer folder a model lives in: staging, intermediate or marts."""
    parts = PurePosixPath(model["original_file_path"]).parts
    return parts[1] if len(parts) > 2 else ""


def _data_tests(manifest: Manifest) -> dict[str, list[Node]]:
    """The generic and singular data tests of each model, by the model's unique_id."""
    tests: dict[str, list[Node]] = defaultdict(list)
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test":
            continue
        attached = node.get("attached_node")
        targets = [attached] if attached else [n for n in node["depends_on"]["nodes"] if n.startswith("model.")]
        for target in targets:
            tests[target].append(node)
    return tests


def _has_primary_key_test(tests: Iterable[Node]) -> bool:
    by_column: dict[str | None, set[str]] = defaultdict(set)
    for test in tests:
        name = (test.get("test_metadata") or {}).get("name")
        if name == _UNIQUE_COMBINATION:
            return True
        if name in (_UNIQUE, _NOT_NULL):
            by_column[test.get("column_name")].add(name)
    return any(column and names >= {_UNIQUE, _NOT_NULL} for column, names in by_column.items())


def _stale(exceptions: Mapping[str, str], names: set[str], what: str) -> list[str]:
    stale = [name for name in exceptions if name not in names]
    return [f"{name}: listed as {what} exception, but {what} now holds or it is gone" for name in stale]


def missing_primary_key_tests(manifest: Manifest) -> list[str]:
    """Every model has unique + not_null on a column, or unique_combination, unless its grain has no key."""
    tests = _data_tests(manifest)
    without = {node["name"] for uid, node in models(manifest).items() if not _has_primary_key_test(tests[uid])}
    missing = [f"{name}: no primary-key test" for name in sorted(without - PRIMARY_KEY_EXCEPTIONS.keys())]
    return missing + _stale(PRIMARY_KEY_EXCEPTIONS, without, "primary-key")


def untested_models(manifest: Manifest) -> list[str]:
    """Test coverage: every model has at least one data test (unit tests test SQL, not data)."""
    tests = _data_tests(manifest)
    return [f"{node['name']}: no data test" for uid, node in sorted(models(manifest).items()) if not tests[uid]]


def _freshness_enabled(source: Node) -> bool:
    freshness = source.get("freshness") or {}
    has_age = any((freshness.get(level) or {}).get("count") for level in ("warn_after", "error_after"))
    return has_age and bool(source.get("loaded_at_field") or source.get("loaded_at_query"))


def sources_without_freshness(manifest: Manifest) -> list[str]:
    """Every source table has a freshness (a load time and an age), unless excepted."""
    without = {
        f"{source['source_name']}.{source['name']}"
        for source in manifest["sources"].values()
        if source["package_name"] == _project_name(manifest) and not _freshness_enabled(source)
    }
    missing = [f"source {name}: no freshness" for name in sorted(without - FRESHNESS_EXCEPTIONS.keys())]
    return missing + _stale(FRESHNESS_EXCEPTIONS, without, "freshness")


def _undescribed(columns: Mapping[str, Node]) -> list[str]:
    return [column for column, doc in columns.items() if not doc["description"].strip()]


def undocumented(manifest: Manifest, built_columns: Mapping[str, Iterable[str]]) -> list[str]:
    """Every model, source table and column has a description; every column a model builds is in its YAML.

    `built_columns`: the columns of each model as built, by model name.
    """
    problems: list[str] = []
    for node in sorted(models(manifest).values(), key=lambda n: n["name"]):
        name = node["name"]
        if not node["description"].strip():
            problems.append(f"{name}: no description")
        problems += [f"{name}.{column}: no description" for column in _undescribed(node["columns"])]
        documented = {column.lower() for column in node["columns"]}
        problems += [
            f"{name}.{column}: built but not in its YAML"
            for column in built_columns.get(name, ())
            if column.lower() not in documented
        ]
        problems += [
            f"{name}.{column}: in its YAML but not built"
            for column in node["columns"]
            if name in built_columns and column.lower() not in {c.lower() for c in built_columns[name]}
        ]
    for source in manifest["sources"].values():
        label = f"source {source['source_name']}.{source['name']}"
        if not source["description"].strip():
            problems.append(f"{label}: no description")
        problems += [f"{label}.{column}: no description" for column in _undescribed(source["columns"])]
    return problems


def _parents(manifest: Manifest) -> dict[str, set[str]]:
    """The models and sources each model selects from (refs and sources), by unique_id."""
    return {
        uid: {parent for parent in node["depends_on"]["nodes"] if parent.startswith(("model.", "source."))}
        for uid, node in models(manifest).items()
    }


def wrong_layer_dependencies(manifest: Manifest) -> list[str]:
    """Staging selects only from sources (one source each); no other layer selects from a source."""
    problems: list[str] = []
    all_models = models(manifest)
    for uid, parents in sorted(_parents(manifest).items()):
        node = all_models[uid]
        refs = sorted(all_models[p]["name"] for p in parents if p.startswith("model."))
        sources = sorted({manifest["sources"][p]["source_name"] for p in parents if p.startswith("source.")})
        if _folder(node) == "staging":
            if refs:
                problems.append(f"{node['name']}: a staging model selects from models {refs}")
            if len(sources) != 1:
                problems.append(f"{node['name']}: a staging model selects from sources {sources}, not one")
        elif sources:
            problems.append(f"{node['name']}: a {_folder(node)} model selects from sources {sources}")
    return problems


def rejoined_upstream_concepts(manifest: Manifest) -> list[str]:
    """No model selects from a parent and that parent's parent when the parent has no other child.

    dbt-project-evaluator's rule: then the parent is only a step of its one child and belongs in it.
    A parent that serves other models too is a shared concept, and rejoining it is fine.
    """
    parents = _parents(manifest)
    children: dict[str, set[str]] = defaultdict(set)
    for child, its_parents in parents.items():
        for parent in its_parents:
            children[parent].add(child)
    all_models = models(manifest)
    problems = []
    for child, its_parents in sorted(parents.items()):
        for middle in sorted(p for p in its_parents if p in parents and children[p] == {child}):
            for grandparent in sorted(parents[middle] & its_parents):
                problems.append(
                    f"{all_models[child]['name']} selects from {grandparent.split('.')[-1]} and from "
                    f"{all_models[middle]['name']}, which selects from it and serves no other model"
                )
    return problems


def misnamed_models(manifest: Manifest) -> list[str]:
    """stg_<source>__<entity> in staging/<source>/ (reading that source), int_ models in intermediate/.

    Marts keep the names the data contract gives them (docs/data-contract.md): no prefix rule.
    """
    problems: list[str] = []
    named: set[str] = set()
    for node in sorted(models(manifest).values(), key=lambda n: n["unique_id"]):
        name, folder = node["name"], _folder(node)
        if name in NAMING_EXCEPTIONS:
            named.add(name)
            continue
        if folder == "staging":
            source_folder = PurePosixPath(node["original_file_path"]).parts[2]
            sources = {p.split(".")[2] for p in node["depends_on"]["nodes"] if p.startswith("source.")}
            if not name.startswith(f"stg_{source_folder}__") or sources != {source_folder}:
                expected = f"stg_{source_folder}__<entity> over source {source_folder}"
                problems.append(f"{name}: in staging/{source_folder}/, not {expected}")
        elif (folder == "intermediate") != name.startswith("int_"):
            problems.append(f"{name}: in {folder}/, named {'without' if folder == 'intermediate' else 'with'} int_")
        elif name.startswith("stg_"):
            problems.append(f"{name}: a stg_ model outside staging/")
    stale = [f"{name}: listed as naming exception, but it is gone" for name in NAMING_EXCEPTIONS if name not in named]
    return problems + stale
