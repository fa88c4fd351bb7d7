"""Settings from flags, environment variables and (in production) Secret Manager: the one place.

Everything is validated here, so a bad value is one `ConfigError` naming the variable (or flag, or
secret) and saying what to do, never a traceback later. The management key is never part of a message.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from descope_sync import catalog
from descope_sync.contract import LOGIN_ACTIONS, STREAMS, USER_DELETION_ACTIONS
from descope_sync.credentials import descope_credentials, uses_secret_manager
from descope_sync.errors import ConfigError
from descope_sync.geo_source import GcsDatabase, default_cache_dir, is_gcs_uri
from descope_sync.secret_manager import SecretManager
from descope_sync.secrets import Secret
from descope_sync.urls import https_url, printable_token

if TYPE_CHECKING:
    from descope_sync.deadline import Deadline

DEFAULT_BASE_URL = "https://api.descope.com"
DEFAULT_FUNCTION_MAX_SECONDS = 480.0  # below the function's 540 s timeout, so progress is always committed
DEFAULT_STREAM_BUDGET_SHARES: dict[str, float] = catalog.default_budget_shares()
# Audit actions every filter keeps: the login marts and the deletion rules read them.
REQUIRED_AUDIT_ACTIONS: tuple[str, ...] = (*LOGIN_ACTIONS, *USER_DELETION_ACTIONS)

# How an override is named in a message: the CLI flag it comes from, else its name.
_FLAGS = {
    "project_id": "--project-id",
    "base_url": "--base-url",
    "max_seconds": "--max-seconds",
    "audit_actions": "--audit-actions",
    "reconcile_days": "--reconcile-days",
    "max_delete_fraction": "--max-delete-fraction",
    "confirm_deletions_sweep_id": "--confirm-deletions-sweep-id",
    "audit_settle_seconds": "--audit-settle-seconds",
}


def default_base_url(project_id: str) -> str:
    """Descope SDKs' rule: project IDs of 32+ characters live on a regional host."""
    if len(project_id) >= 32:
        return f"https://api.{project_id[1:5]}.descope.com"
    return DEFAULT_BASE_URL


@dataclass
class Settings:
    project_id: str
    management_key: Secret
    base_url: str
    warehouse: str = "duckdb"  # duckdb | bigquery
    duckdb_path: Path = Path("warehouse.duckdb")
    raw_schema: str = "descope_raw"
    bigquery_project: str | None = None
    bigquery_location: str = "US"
    # A local .mmdb, or a GcsDatabase (gs://...) that becomes a local file when the stream opens it.
    geoip_database: Path | GcsDatabase | None = None
    max_seconds: float | None = None
    full_refresh: bool = False
    users_overlap_seconds: int = 600
    audit_overlap_seconds: int = 300
    users_page_size: int = 1000
    audit_page_size: int = 1000
    audit_actions: list[str] | None = None  # None: every action; else always with REQUIRED_AUDIT_ACTIONS
    max_retry_after_seconds: float = 120.0
    # First backoff after a 5xx, a connection error or a malformed answer (doubling, with jitter, to 30 s).
    retry_backoff_seconds: float = 0.5
    # How far back a users reconciliation looks, and how much of the live users one sweep may delete
    # before someone confirms it (by its sweep ID).
    reconcile_days: float = 7.0
    max_delete_fraction: float = 0.1
    confirm_deletions_sweep_id: str | None = None
    # Audit events younger than this may still be arriving at Descope: the cursor stays behind them.
    audit_settle_seconds: float = 120.0
    max_page_bytes: int = 16 * 1024 * 1024
    # Share of `max_seconds` each stream may use (each in (0, 1], together at most 1).
    stream_budget_shares: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_STREAM_BUDGET_SHARES))
    extra: dict[str, Any] = field(default_factory=dict)


# Numeric settings: (env var or None for override-only, type, lowest, lowest allowed?, highest, rule for messages).
_NUMBERS: dict[str, tuple[str | None, type, float, bool, float | None, str]] = {
    "max_seconds": ("DESCOPE_MAX_SECONDS", float, 0, False, None, "a number of seconds > 0"),
    "reconcile_days": ("DESCOPE_RECONCILE_DAYS", float, 0, False, None, "a number of days > 0"),
    "max_delete_fraction": ("DESCOPE_MAX_DELETE_FRACTION", float, 0, False, 1, "a fraction > 0 and <= 1"),
    "audit_settle_seconds": ("DESCOPE_AUDIT_SETTLE_SECONDS", float, 0, True, None, "a number of seconds >= 0"),
    "max_page_bytes": (None, int, 1, True, None, "a whole number of bytes >= 1"),
    "users_overlap_seconds": (None, int, 0, True, None, "a whole number of seconds >= 0"),
    "audit_overlap_seconds": (None, int, 0, True, None, "a whole number of seconds >= 0"),
    "users_page_size": (None, int, 1, True, None, "a whole number >= 1"),
    "audit_page_size": (None, int, 1, True, None, "a whole number >= 1"),
    "max_retry_after_seconds": (None, float, 0, False, None, "a number of seconds > 0"),
    "retry_backoff_seconds": (None, float, 0, True, None, "a number of seconds >= 0"),
}


def _first(*values: Any) -> Any:
    for value in values:
        if value not in (None, ""):
            return value
    return None


def _pick(name: str, overrides: Mapping[str, Any], env: Mapping[str, str], var: str | None) -> tuple[Any, str]:
    """(value, how to name where it came from): an override (flag) wins over the environment variable."""
    if overrides.get(name) not in (None, ""):
        return overrides[name], _FLAGS.get(name, name)
    if var and env.get(var) not in (None, ""):
        return env[var], var
    return None, var or name


def _number(label: str, value: Any, kind: type, low: float, low_ok: bool, high: float | None, rule: str) -> Any:
    """`value` (a number, or a string from the environment) as `kind`, inside its range, else ConfigError."""
    shown = repr(value)[:40]
    number: float | None = None
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (ValueError, OverflowError):
            number = None
    if number is not None and kind is int and not (math.isfinite(number) and number.is_integer()):
        number = None
    if (
        number is None
        or not math.isfinite(number)
        or number < low
        or (number == low and not low_ok)
        or (high is not None and number > high)
    ):
        raise ConfigError(f"{label} must be {rule}, not {shown}")
    return int(number) if kind is int else number


def _audit_actions(value: Any, label: str) -> list[str] | None:
    """The configured filter plus the actions the marts need; None (every action) when not configured."""
    if value is None:
        return None
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ConfigError(f"{label} must be a comma-separated list of audit actions")
    actions: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"{label} must be a comma-separated list of audit actions")
        action = item.strip()
        if not action:
            continue
        if not printable_token(action):
            raise ConfigError(f"{label}: an audit action name has whitespace or a control character inside it")
        if action not in actions:
            actions.append(action)
    if not actions:
        return None
    return actions + [a for a in REQUIRED_AUDIT_ACTIONS if a not in actions]


def _budget_shares(value: Any, label: str) -> dict[str, float]:
    """`name=share,...` (or a mapping): every stream, each > 0, at most 1 together."""
    example = ",".join(f"{name}={share:g}" for name, share in catalog.default_budget_shares().items())
    rule = (
        f"{label} must give every stream ({', '.join(STREAMS)}) a share > 0 and <= 1, together at most 1, "
        f"e.g. {example}"
    )
    if isinstance(value, str):
        pairs: list[tuple[str, Any]] = []
        for item in value.split(","):
            if not item.strip():
                continue
            name, sep, share = item.partition("=")
            if not sep:
                raise ConfigError(rule)
            pairs.append((name.strip(), share))
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        raise ConfigError(rule)
    shares: dict[str, float] = {}
    for name, share in pairs:
        if name not in STREAMS or name in shares:
            raise ConfigError(rule)
        shares[name] = _number(f"{label} ({name})", share, float, 0, False, 1, "a share > 0 and <= 1")
    if set(shares) != set(STREAMS) or sum(shares.values()) > 1 + 1e-9:
        raise ConfigError(rule)
    return {name: shares[name] for name in STREAMS}


def _sweep_id(value: Any, label: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{label} must be the sweep ID printed by the run that held deletions back")
    sweep_id = value.strip()
    if not sweep_id:
        return None
    if len(sweep_id) > 128 or not printable_token(sweep_id):
        raise ConfigError(f"{label} must be the sweep ID printed by the run that held deletions back")
    return sweep_id


def function_max_seconds(env: Mapping[str, str] | None = None) -> float:
    """The Cloud Function's time budget: DESCOPE_FUNCTION_MAX_SECONDS (> 0), default 480 s."""
    env = os.environ if env is None else env
    raw = env.get("DESCOPE_FUNCTION_MAX_SECONDS")
    if raw in (None, ""):
        return DEFAULT_FUNCTION_MAX_SECONDS
    return _number("DESCOPE_FUNCTION_MAX_SECONDS", raw, float, 0, False, None, "a number of seconds > 0")


def _warehouse_fields(overrides: Mapping[str, Any], env: Mapping[str, str], gcp_project: str | None) -> dict[str, Any]:
    warehouse = _first(overrides.get("warehouse"), env.get("DESCOPE_WAREHOUSE"), "duckdb")
    if warehouse not in ("duckdb", "bigquery"):
        raise ConfigError(f"unknown warehouse {warehouse!r} (DESCOPE_WAREHOUSE): use duckdb or bigquery")
    return {
        "warehouse": warehouse,
        "duckdb_path": Path(_first(overrides.get("duckdb_path"), env.get("DUCKDB_PATH"), "warehouse.duckdb")),
        "raw_schema": _first(overrides.get("raw_schema"), env.get("DESCOPE_RAW_DATASET"), "descope_raw"),
        "bigquery_project": gcp_project,
        "bigquery_location": _first(env.get("BQ_LOCATION"), "US"),
    }


def _gcp_project(overrides: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    return _first(overrides.get("bigquery_project"), env.get("GCP_PROJECT"), env.get("GOOGLE_CLOUD_PROJECT"))


def _geoip_database(overrides: Mapping[str, Any], env: Mapping[str, str], gcp_project: str | None):
    """GEOIP_DATABASE (or --geoip-database): a local file, or gs://bucket/object fetched when the stream opens it."""
    value = _first(overrides.get("geoip_database"), env.get("GEOIP_DATABASE"))
    if value is None:
        return None
    if isinstance(value, GcsDatabase):
        return value
    if is_gcs_uri(value):
        return GcsDatabase.parse(str(value), cache_dir=default_cache_dir(env), project=gcp_project)
    return Path(value)


def load_warehouse_settings(
    overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Settings for commands that only read the warehouse (`status`): no Descope credentials, no Secret Manager.

    The Descope fields are empty: these settings open a writer, never a Descope client.
    The users-sweep rules `status` judges by (reconcile_days, confirm_deletions_sweep_id) are read
    as `extract` reads them.
    """
    overrides = dict(overrides or {})
    env = os.environ if env is None else env
    sweep_value, sweep_label = _pick("confirm_deletions_sweep_id", overrides, env, "DESCOPE_CONFIRM_DELETIONS_SWEEP_ID")
    settings = Settings(
        project_id="",
        management_key=Secret(""),
        base_url="",
        **_warehouse_fields(overrides, env, _gcp_project(overrides, env)),
        confirm_deletions_sweep_id=_sweep_id(sweep_value, sweep_label),
    )
    var, kind, low, low_ok, high, rule = _NUMBERS["reconcile_days"]
    value, label = _pick("reconcile_days", overrides, env, var)
    if value is not None:
        settings.reconcile_days = _number(label, value, kind, low, low_ok, high, rule)
    return settings


def load_settings(
    overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None, deadline: Deadline | None = None
) -> Settings:
    """Flags (overrides) win over environment variables, which win over Secret Manager (read within `deadline`)."""
    overrides = dict(overrides or {})
    env = os.environ if env is None else env
    gcp_project = _gcp_project(overrides, env)
    secret_manager = SecretManager(gcp_project, env, deadline) if uses_secret_manager(env) else None
    project_id, key = descope_credentials(overrides, env, secret_manager)

    base_url_value, base_url_label = _pick("base_url", overrides, env, "DESCOPE_BASE_URL")
    base_url = https_url(base_url_value, base_url_label) if base_url_value is not None else default_base_url(project_id)
    full_refresh = overrides.get("full_refresh", False)
    if full_refresh is None:
        full_refresh = False
    if not isinstance(full_refresh, bool):
        raise ConfigError("full_refresh must be true or false")
    geoip = _geoip_database(overrides, env, gcp_project)
    actions_value, actions_label = _pick("audit_actions", overrides, env, "DESCOPE_AUDIT_ACTIONS")
    shares_value, shares_label = _pick("stream_budget_shares", overrides, env, "DESCOPE_STREAM_BUDGET_SHARES")
    sweep_value, sweep_label = _pick("confirm_deletions_sweep_id", overrides, env, "DESCOPE_CONFIRM_DELETIONS_SWEEP_ID")

    settings = Settings(
        project_id=project_id,
        management_key=Secret(key),
        base_url=base_url,
        **_warehouse_fields(overrides, env, gcp_project),
        geoip_database=geoip,
        full_refresh=full_refresh,
        audit_actions=_audit_actions(actions_value, actions_label),
        confirm_deletions_sweep_id=_sweep_id(sweep_value, sweep_label),
    )
    if shares_value is not None:
        settings.stream_budget_shares = _budget_shares(shares_value, shares_label)
    for name, (var, kind, low, low_ok, high, rule) in _NUMBERS.items():
        value, label = _pick(name, overrides, env, var)
        if value is not None:
            setattr(settings, name, _number(label, value, kind, low, low_ok, high, rule))
    return settings
