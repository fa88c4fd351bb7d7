"""Settings: every number checked, the warehouse settings, the audit filter, the function budget.

Credentials: test_credentials.py; the base URL: test_urls.py."""

from __future__ import annotations

import pytest

from descope_sync.config import load_settings
from descope_sync.contract import LOGIN_ACTIONS, USER_DELETION_ACTIONS
from descope_sync.errors import ConfigError

KEY = "K2config-test-key-0123456789"
BASE = {"DESCOPE_PROJECT_ID": "P123", "DESCOPE_MANAGEMENT_KEY": KEY}


def env(**extra: str) -> dict[str, str]:
    return {**BASE, **extra}


def config_error(environment: dict[str, str], overrides: dict | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(overrides or {}, env=environment)
    return str(info.value)


def test_warehouse_settings_need_no_descope_credentials_and_never_ask_secret_manager():
    from descope_sync.config import load_warehouse_settings

    environment = {"DESCOPE_SECRETS": "secret-manager", "K_SERVICE": "x", "DUCKDB_PATH": "/data/w.duckdb"}
    settings = load_warehouse_settings({}, env=environment)
    assert (settings.warehouse, str(settings.duckdb_path)) == ("duckdb", "/data/w.duckdb")
    assert settings.raw_schema == "descope_raw"
    assert settings.project_id == "" and not settings.management_key
    settings = load_warehouse_settings({"warehouse": "bigquery"}, env={"GCP_PROJECT": "my-gcp", "BQ_LOCATION": "EU"})
    assert (settings.warehouse, settings.bigquery_project, settings.bigquery_location) == ("bigquery", "my-gcp", "EU")
    with pytest.raises(ConfigError, match="DESCOPE_WAREHOUSE"):
        load_warehouse_settings({}, env={"DESCOPE_WAREHOUSE": "postgres"})


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan", "inf", "1e999", " "])
def test_max_seconds_from_the_environment_must_be_a_positive_number(value):
    assert "DESCOPE_MAX_SECONDS" in config_error(env(DESCOPE_MAX_SECONDS=value))


def test_max_seconds_from_the_environment_is_a_float():
    assert load_settings({}, env=env(DESCOPE_MAX_SECONDS=" 90 ")).max_seconds == 90.0
    assert load_settings({}, env=env()).max_seconds is None


def test_an_override_wins_and_is_checked_too():
    assert load_settings({"max_seconds": 30}, env=env(DESCOPE_MAX_SECONDS="90")).max_seconds == 30.0
    assert "--max-seconds" in config_error(env(), {"max_seconds": 0})
    assert "--max-seconds" in config_error(env(), {"max_seconds": True})


def test_the_new_stream_settings_have_their_defaults():
    settings = load_settings({}, env=env())
    assert settings.reconcile_days == 7.0
    assert settings.max_delete_fraction == 0.1
    assert settings.confirm_deletions_sweep_id is None
    assert settings.audit_settle_seconds == 120.0
    assert settings.max_page_bytes == 16 * 1024 * 1024
    assert settings.stream_budget_shares == {"audit_events": 0.4, "users": 0.45, "tenants": 0.05, "ip_locations": 0.1}


def test_the_new_stream_settings_come_from_the_environment():
    settings = load_settings(
        {},
        env=env(
            DESCOPE_RECONCILE_DAYS="3.5",
            DESCOPE_MAX_DELETE_FRACTION="1",
            DESCOPE_CONFIRM_DELETIONS_SWEEP_ID=" sweep-abc123 ",
            DESCOPE_AUDIT_SETTLE_SECONDS="0",
            DESCOPE_STREAM_BUDGET_SHARES="users=0.55, audit_events=0.3, tenants=0.05, ip_locations=0.1",
        ),
    )
    assert settings.reconcile_days == 3.5
    assert settings.max_delete_fraction == 1.0
    assert settings.confirm_deletions_sweep_id == "sweep-abc123"
    assert settings.audit_settle_seconds == 0.0
    assert settings.stream_budget_shares == {"audit_events": 0.3, "users": 0.55, "tenants": 0.05, "ip_locations": 0.1}


def test_the_new_stream_settings_can_be_overridden_by_name():
    settings = load_settings(
        {
            "reconcile_days": 1,
            "max_delete_fraction": 0.5,
            "confirm_deletions_sweep_id": "s1",
            "audit_settle_seconds": 10,
            "max_page_bytes": 1024,
            "stream_budget_shares": {"audit_events": 0.2, "users": 0.2, "tenants": 0.2, "ip_locations": 0.2},
            "users_page_size": "50",
        },
        env=env(DESCOPE_RECONCILE_DAYS="9"),
    )
    assert settings.reconcile_days == 1.0
    assert settings.max_delete_fraction == 0.5
    assert settings.confirm_deletions_sweep_id == "s1"
    assert settings.audit_settle_seconds == 10.0
    assert settings.max_page_bytes == 1024 and isinstance(settings.max_page_bytes, int)
    assert settings.stream_budget_shares == {"audit_events": 0.2, "users": 0.2, "tenants": 0.2, "ip_locations": 0.2}
    assert settings.users_page_size == 50


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DESCOPE_RECONCILE_DAYS", "0"),
        ("DESCOPE_RECONCILE_DAYS", "-1"),
        ("DESCOPE_RECONCILE_DAYS", "week"),
        ("DESCOPE_MAX_DELETE_FRACTION", "0"),
        ("DESCOPE_MAX_DELETE_FRACTION", "1.5"),
        ("DESCOPE_MAX_DELETE_FRACTION", "10%"),
        ("DESCOPE_AUDIT_SETTLE_SECONDS", "-1"),
        ("DESCOPE_AUDIT_SETTLE_SECONDS", "soon"),
        ("DESCOPE_CONFIRM_DELETIONS_SWEEP_ID", "two words"),
        ("DESCOPE_STREAM_BUDGET_SHARES", "users=0.6,audit_events=0.6,tenants=0.1,ip_locations=0.1"),
        ("DESCOPE_STREAM_BUDGET_SHARES", "users=0.5,audit_events=0.4"),
        ("DESCOPE_STREAM_BUDGET_SHARES", "users=0.5,audit_events=0.4,tenants=0.05,ip_locations=0,"),
        ("DESCOPE_STREAM_BUDGET_SHARES", "users=0.4,audit_events=0.4,tenants=0.1,ip_locations=0.1,groups=0"),
        ("DESCOPE_STREAM_BUDGET_SHARES", "users:0.5"),
    ],
)
def test_a_bad_new_setting_is_a_config_error_naming_the_variable(variable, value):
    assert variable in config_error(env(**{variable: value}))


@pytest.mark.parametrize(
    ("name", "value"),
    [("max_page_bytes", 0), ("max_page_bytes", 1.5), ("users_page_size", "many"), ("audit_overlap_seconds", -1)],
)
def test_a_bad_numeric_override_is_a_config_error_naming_it(name, value):
    assert name in config_error(env(), {name: value})


# ---------------------------------------------------------------- audit actions


def test_an_audit_action_filter_always_keeps_the_login_and_deletion_actions():
    settings = load_settings({}, env=env(DESCOPE_AUDIT_ACTIONS="SignUp, LoginSucceed ,SignUp"))
    assert settings.audit_actions[:2] == ["SignUp", "LoginSucceed"]
    assert set(settings.audit_actions) == {"SignUp", *LOGIN_ACTIONS, *USER_DELETION_ACTIONS}
    assert len(settings.audit_actions) == len(set(settings.audit_actions))


def test_no_audit_action_filter_means_every_action():
    assert load_settings({}, env=env()).audit_actions is None
    assert load_settings({}, env=env(DESCOPE_AUDIT_ACTIONS=" , ")).audit_actions is None


def test_an_audit_action_flag_is_extended_too():
    settings = load_settings({"audit_actions": "SignUp"}, env=env())
    assert settings.audit_actions == ["SignUp", *LOGIN_ACTIONS, *USER_DELETION_ACTIONS]


# ---------------------------------------------------------------- the function's budget


def test_the_function_budget_defaults_to_480_seconds_and_is_configurable():
    from descope_sync.config import function_max_seconds

    assert function_max_seconds({}) == 480.0
    assert function_max_seconds({"DESCOPE_FUNCTION_MAX_SECONDS": "300"}) == 300.0


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan"])
def test_a_bad_function_budget_is_a_config_error_naming_the_variable(value):
    from descope_sync.config import function_max_seconds

    with pytest.raises(ConfigError, match="DESCOPE_FUNCTION_MAX_SECONDS"):
        function_max_seconds({"DESCOPE_FUNCTION_MAX_SECONDS": value})
