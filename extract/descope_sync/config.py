"""Settings from flags, environment variables and (in production) Secret Manager: the one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from descope_sync.errors import ConfigError
from descope_sync.secrets import Secret, register_secret

DEFAULT_BASE_URL = "https://api.descope.com"
SECRET_PROJECT_ID = "descope-project-id"
SECRET_MANAGEMENT_KEY = "descope-management-key"


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
    geoip_database: Path | None = None
    max_seconds: float | None = None
    full_refresh: bool = False
    users_overlap_seconds: int = 600
    audit_overlap_seconds: int = 300
    users_page_size: int = 1000
    audit_page_size: int = 1000
    audit_actions: list[str] | None = None  # None: every action
    audit_retention_days: int = 30
    max_retry_after_seconds: float = 120.0
    reconcile_days: float = 7.0
    max_delete_fraction: float = 0.1
    confirm_deletions_sweep_id: str | None = None
    audit_settle_seconds: float = 120.0
    max_page_bytes: int = 16 * 1024 * 1024
    stream_budget_shares: dict[str, float] = field(
        default_factory=lambda: {"audit_events": 0.4, "users": 0.5, "ip_locations": 0.1}
    )
    extra: dict[str, Any] = field(default_factory=dict)


def _first(*values: Any) -> Any:
    for value in values:
        if value not in (None, ""):
            return value
    return None


def _on_cloud_functions(env: Mapping[str, str]) -> bool:
    return bool(env.get("K_SERVICE") or env.get("FUNCTION_TARGET"))


def _secret_manager_value(name: str, project: str | None) -> str:
    try:
        from google.cloud import secretmanager
    except ImportError as exc:  # pragma: no cover - only without the bigquery extra
        raise ConfigError(
            "google-cloud-secret-manager is not installed; install descope-sync[bigquery] "
            f"or set the secret {name!r} through its environment variable"
        ) from exc
    if not project:
        raise ConfigError(f"cannot read secret {name!r}: set GOOGLE_CLOUD_PROJECT (or GCP_PROJECT)")
    client = secretmanager.SecretManagerServiceClient()
    path = f"projects/{project}/secrets/{name}/versions/latest"
    try:
        response = client.access_secret_version(request={"name": path})
    except Exception as exc:
        raise ConfigError(
            f"could not read secret {name!r} from Secret Manager in project {project!r} "
            f"({type(exc).__name__}); check that it exists and the function's service account "
            "has roles/secretmanager.secretAccessor"
        ) from None
    return response.payload.data.decode("utf-8").strip()


def load_settings(overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Flags (overrides) win over environment variables, which win over Secret Manager."""
    overrides = dict(overrides or {})
    env = os.environ if env is None else env
    gcp_project = _first(overrides.get("bigquery_project"), env.get("GCP_PROJECT"), env.get("GOOGLE_CLOUD_PROJECT"))
    use_secret_manager = env.get("DESCOPE_SECRETS") == "secret-manager" or _on_cloud_functions(env)

    project_id = _first(overrides.get("project_id"), env.get("DESCOPE_PROJECT_ID"))
    if project_id is None and use_secret_manager:
        project_id = _secret_manager_value(SECRET_PROJECT_ID, gcp_project)
    if not project_id:
        raise ConfigError(
            "no Descope project ID: set DESCOPE_PROJECT_ID (or --project-id); "
            f"in production it comes from the secret {SECRET_PROJECT_ID!r}"
        )
    key = _first(overrides.get("management_key"), env.get("DESCOPE_MANAGEMENT_KEY"))
    if isinstance(key, Secret):
        key = key.reveal()
    if key is None and use_secret_manager:
        key = _secret_manager_value(SECRET_MANAGEMENT_KEY, gcp_project)
    if not key:
        raise ConfigError(
            "no Descope management key: set DESCOPE_MANAGEMENT_KEY; "
            f"in production it comes from the secret {SECRET_MANAGEMENT_KEY!r}"
        )
    register_secret(key)

    base_url = _first(overrides.get("base_url"), env.get("DESCOPE_BASE_URL")) or default_base_url(project_id)
    warehouse = _first(overrides.get("warehouse"), env.get("DESCOPE_WAREHOUSE"), "duckdb")
    if warehouse not in ("duckdb", "bigquery"):
        raise ConfigError(f"unknown warehouse {warehouse!r}: use duckdb or bigquery")
    geoip = _first(overrides.get("geoip_database"), env.get("GEOIP_DATABASE"))
    max_seconds = _first(overrides.get("max_seconds"), env.get("DESCOPE_MAX_SECONDS"))
    actions = _first(overrides.get("audit_actions"), env.get("DESCOPE_AUDIT_ACTIONS"))
    if isinstance(actions, str):
        actions = [a.strip() for a in actions.split(",") if a.strip()] or None

    settings = Settings(
        project_id=project_id,
        management_key=Secret(key),
        base_url=base_url.rstrip("/"),
        warehouse=warehouse,
        duckdb_path=Path(_first(overrides.get("duckdb_path"), env.get("DUCKDB_PATH"), "warehouse.duckdb")),
        raw_schema=_first(overrides.get("raw_schema"), env.get("DESCOPE_RAW_DATASET"), "descope_raw"),
        bigquery_project=gcp_project,
        bigquery_location=_first(env.get("BQ_LOCATION"), "US"),
        geoip_database=Path(geoip) if geoip else None,
        max_seconds=float(max_seconds) if max_seconds is not None else None,
        full_refresh=bool(overrides.get("full_refresh", False)),
        audit_actions=actions,
    )
    for name in (
        "users_overlap_seconds",
        "audit_overlap_seconds",
        "users_page_size",
        "audit_page_size",
        "max_retry_after_seconds",
        "reconcile_days",
        "max_delete_fraction",
        "audit_settle_seconds",
        "max_page_bytes",
    ):
        if overrides.get(name) is not None:
            setattr(settings, name, type(getattr(settings, name))(overrides[name]))
    if env.get("DESCOPE_AUDIT_SETTLE_SECONDS") and overrides.get("audit_settle_seconds") is None:
        settings.audit_settle_seconds = float(env["DESCOPE_AUDIT_SETTLE_SECONDS"])
    for name in ("confirm_deletions_sweep_id", "stream_budget_shares"):
        if overrides.get(name) is not None:
            setattr(settings, name, overrides[name])
    return settings
