"""dbt-project-evaluator's rules, as our own checks (tests/transform/project_rules.py, docs/dbt.md).

The project is run once (`dbt run` on an empty landing DuckDB: the manifest, and every model's
columns as built); each rule is asserted on it, then shown to bite on a copy of the manifest with the
rule broken.
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from typing import Any

import duckdb
import pytest

from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.transform import project_dir, run_dbt, target_dir

from . import project_rules as rules


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The manifest, and the built columns of each model (by name)."""
    db = tmp_path_factory.mktemp("rules") / "warehouse.duckdb"
    with DuckDBLandingWriter(db) as writer:
        writer.ensure_tables()
    outcome = run_dbt("run", duckdb_path=db)
    assert outcome.success, outcome.as_dict()
    manifest = json.loads((target_dir(project_dir()) / "manifest.json").read_text())
    built: dict[str, list[str]] = defaultdict(list)
    con = duckdb.connect(str(db))  # same configuration as the dbt-duckdb connection this process holds
    try:
        rows = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns order by ordinal_position"
        ).fetchall()
    finally:
        con.close()
    relations = {(n["schema"], n["alias"]): n["name"] for n in rules.models(manifest).values()}
    for schema, table, column in rows:
        if (schema, table) in relations:
            built[relations[schema, table]].append(column)
    assert set(built) == {n["name"] for n in rules.models(manifest).values()}, "a model was not built"
    return manifest, dict(built)


@pytest.fixture
def manifest(project) -> dict[str, Any]:
    return copy.deepcopy(project[0])


def _uid(manifest: dict[str, Any], name: str) -> str:
    return next(uid for uid, node in rules.models(manifest).items() if node["name"] == name)


def _drop_tests(manifest: dict[str, Any], model: str, test_name: str | None = None) -> None:
    """Remove the model's generic tests named `test_name`, or every data test reading the model."""
    uid = _uid(manifest, model)
    for key, node in list(manifest["nodes"].items()):
        if node["resource_type"] != "test":
            continue
        if test_name is None:
            reads = node.get("attached_node") == uid or uid in node["depends_on"]["nodes"]
        else:
            reads = node.get("attached_node") == uid and (node.get("test_metadata") or {}).get("name") == test_name
        if reads:
            del manifest["nodes"][key]


# --- the project keeps every rule


def test_every_model_has_a_primary_key_test_or_a_reason(project):
    assert rules.missing_primary_key_tests(project[0]) == []


def test_every_model_has_a_data_test(project):
    assert rules.untested_models(project[0]) == []


def test_every_source_table_has_freshness_or_a_reason(project):
    assert rules.sources_without_freshness(project[0]) == []


def test_every_model_source_and_column_is_documented(project):
    assert rules.undocumented(*project) == []


def test_only_staging_reads_sources_and_staging_reads_nothing_else(project):
    assert rules.wrong_layer_dependencies(project[0]) == []


def test_no_model_rejoins_an_upstream_concept(project):
    assert rules.rejoined_upstream_concepts(project[0]) == []


def test_models_are_named_for_their_folder(project):
    assert rules.misnamed_models(project[0]) == []


# --- each rule bites when broken


def test_a_model_without_its_not_null_test_has_no_primary_key_test(manifest):
    _drop_tests(manifest, "int_users_deleted", "not_null")
    assert rules.missing_primary_key_tests(manifest) == ["int_users_deleted: no primary-key test"]


def test_an_exception_whose_model_gained_a_key_test_is_stale(manifest, monkeypatch):
    monkeypatch.setitem(rules.PRIMARY_KEY_EXCEPTIONS, "users", "a wrong reason")
    assert rules.missing_primary_key_tests(manifest) == [
        "users: listed as primary-key exception, but primary-key now holds or it is gone"
    ]


def test_a_model_without_data_tests_is_uncovered(manifest):
    _drop_tests(manifest, "stg_descope__sync_runs")
    assert rules.untested_models(manifest) == ["stg_descope__sync_runs: no data test"]


def test_a_source_without_freshness_is_reported(manifest):
    source = next(s for s in manifest["sources"].values() if s["name"] == "audit_events")
    source["freshness"] = {"warn_after": {"count": None}, "error_after": {"count": None}}
    assert rules.sources_without_freshness(manifest) == ["source descope.audit_events: no freshness"]


def test_an_undocumented_model_or_column_is_reported(project, manifest):
    node = manifest["nodes"][_uid(manifest, "users_daily")]
    node["description"] = ""
    node["columns"]["new_users"]["description"] = " "
    del node["columns"]["total_users"]
    assert rules.undocumented(manifest, project[1]) == [
        "users_daily: no description",
        "users_daily.new_users: no description",
        "users_daily.total_users: built but not in its YAML",
    ]


def test_a_mart_reading_a_source_is_reported(manifest):
    node = manifest["nodes"][_uid(manifest, "users_clean")]
    node["depends_on"]["nodes"].append(next(uid for uid in manifest["sources"] if uid.endswith(".descope.users")))
    assert rules.wrong_layer_dependencies(manifest) == ["users_clean: a marts model selects from sources ['descope']"]


def test_a_staging_model_reading_a_model_is_reported(manifest):
    manifest["nodes"][_uid(manifest, "stg_descope__quarantine")]["depends_on"]["nodes"].append(
        _uid(manifest, "stg_descope__users")
    )
    assert rules.wrong_layer_dependencies(manifest) == [
        "stg_descope__quarantine: a staging model selects from models ['stg_descope__users']"
    ]


def test_a_model_rejoining_its_parents_parent_is_reported(manifest):
    # users_clean reads users; users then has one child, and users_clean reading users' parent too rejoins it
    manifest["nodes"][_uid(manifest, "user_attribution")]["depends_on"]["nodes"].remove(_uid(manifest, "users"))
    manifest["nodes"][_uid(manifest, "users_clean")]["depends_on"]["nodes"].append(
        _uid(manifest, "int_users_deduplicated")
    )
    assert rules.rejoined_upstream_concepts(manifest) == [
        "users_clean selects from int_users_deduplicated and from users, "
        "which selects from it and serves no other model"
    ]


def test_a_model_named_for_another_folder_is_reported(manifest):
    manifest["nodes"][_uid(manifest, "int_users_signed_up")]["name"] = "users_signed_up"
    manifest["nodes"][_uid(manifest, "stg_geoip__ip_locations")]["name"] = "stg_maxmind__ip_locations"
    assert rules.misnamed_models(manifest) == [
        "users_signed_up: in intermediate/, named without int_",
        "stg_maxmind__ip_locations: in staging/geoip/, not stg_geoip__<entity> over source geoip",
    ]
