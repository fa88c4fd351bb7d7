"""The Descope project ID and management key: from a flag or the environment, else Secret Manager.

The key is registered for scrubbing (as given, then stripped) before anything can fail and print it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from descope_sync.errors import ConfigError
from descope_sync.secret_manager import SecretManager, how_to_replace
from descope_sync.secrets import Secret, register_secret
from descope_sync.urls import printable_token

SECRET_PROJECT_ID = "descope-project-id"
SECRET_MANAGEMENT_KEY = "descope-management-key"
QUOTES = "\"'`"


def _credential(raw: Any, label: str, how_to_fix: str, secret: bool) -> str:
    """A project ID or management key: surrounding whitespace stripped, nothing unprintable inside."""
    if isinstance(raw, Secret):
        raw = raw.reveal()
    if not isinstance(raw, str):
        raise ConfigError(f"{label} must be a string")
    if secret:
        register_secret(raw)  # raw and stripped: whatever form escapes is scrubbed
    value = raw.strip()
    if secret:
        register_secret(value)
    if not value:
        raise ConfigError(f"{label} is empty (only whitespace); {how_to_fix}")
    if value[0] in QUOTES or value[-1] in QUOTES:
        what = "management key" if secret else "project ID"
        raise ConfigError(
            f"{label} starts or ends with a quote, which no Descope {what} does: the quotes became part of "
            "the value (a .env file or a shell quoted it twice): remove them"
        )
    if not printable_token(value):
        raise ConfigError(
            f"{label} contains whitespace, a control character or a non-ASCII character inside it; "
            f"{how_to_fix} (copy the value again from the Descope console; from a shell write it with "
            "printf '%s' or echo -n, never plain echo)"
        )
    return value


def _credential_source(
    name: str, var: str, flag: str | None, overrides: Mapping[str, Any], env: Mapping[str, str]
) -> tuple[Any, str, str]:
    """(raw value, label, how to fix) from the override, else the environment variable; (None, ...) when neither."""
    given = overrides.get(name)
    if given is not None and given != "":
        return given, flag or f"{name} (given to load_settings)", f"pass {flag or name} without it"
    if env.get(var) not in (None, ""):
        return env[var], var, f"set {var} again without it"
    return None, var, ""


def uses_secret_manager(env: Mapping[str, str]) -> bool:
    """DESCOPE_SECRETS=secret-manager, or running on Cloud Functions."""
    on_cloud_functions = bool(env.get("K_SERVICE") or env.get("FUNCTION_TARGET"))
    return env.get("DESCOPE_SECRETS") == "secret-manager" or on_cloud_functions


def descope_credentials(
    overrides: Mapping[str, Any], env: Mapping[str, str], secret_manager: SecretManager | None
) -> tuple[str, str]:
    """(project ID, management key), each checked; ConfigError naming where a missing or bad one came from."""
    raw_key, key_label, key_fix = _credential_source("management_key", "DESCOPE_MANAGEMENT_KEY", None, overrides, env)
    if raw_key is None and secret_manager is not None:
        raw_key = secret_manager.value(SECRET_MANAGEMENT_KEY)
        key_label, key_fix = f"the secret {SECRET_MANAGEMENT_KEY!r}", how_to_replace(SECRET_MANAGEMENT_KEY)
    if isinstance(raw_key, Secret):
        raw_key = raw_key.reveal()
    if isinstance(raw_key, str):
        register_secret(raw_key)

    raw_project, project_label, project_fix = _credential_source(
        "project_id", "DESCOPE_PROJECT_ID", "--project-id", overrides, env
    )
    if raw_project is None and secret_manager is not None:
        raw_project = secret_manager.value(SECRET_PROJECT_ID)
        project_label, project_fix = f"the secret {SECRET_PROJECT_ID!r}", how_to_replace(SECRET_PROJECT_ID)
    if raw_project is None:
        raise ConfigError(
            "no Descope project ID: set DESCOPE_PROJECT_ID (or --project-id); "
            f"in production it comes from the secret {SECRET_PROJECT_ID!r}"
        )
    project_id = _credential(raw_project, project_label, project_fix, secret=False)
    if raw_key is None:
        raise ConfigError(
            "no Descope management key: set DESCOPE_MANAGEMENT_KEY; "
            f"in production it comes from the secret {SECRET_MANAGEMENT_KEY!r}"
        )
    return project_id, _credential(raw_key, key_label, key_fix, secret=True)
