"""The `bigquery` target of profiles.yml: production credentials, or the emulator from two variables."""

from __future__ import annotations

import os
import shutil
from argparse import Namespace
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from descope_sync.transform import project_dir, run_dbt
from tests.bigquery.emulator import start_emulator
from tests.bigquery.landing import EmulatorLanding

# Everything the profile reads besides GCP_PROJECT and BIGQUERY_EMULATOR_HOST.
PROFILE_VARIABLES = (
    "BIGQUERY_EMULATOR_HOST",
    "GCP_PROJECT",
    "BQ_AUTH_METHOD",
    "BQ_KEYFILE",
    "BQ_LOCATION",
    "DESCOPE_RAW_DATASET",
    "DESCOPE_STAGING_DATASET",
    "DESCOPE_MARTS_DATASET",
    "GOOGLE_APPLICATION_CREDENTIALS",
)


def bigquery_credentials(env: dict[str, str]):
    """The `bigquery` output of profiles.yml as dbt renders it under `env` (nothing else set)."""
    from dbt.config.profile import Profile
    from dbt.config.renderer import ProfileRenderer
    from dbt.flags import set_from_args
    from dbt_common.context import set_invocation_context

    set_from_args(Namespace(), None)
    set_invocation_context(env)
    raw = yaml.safe_load((project_dir() / "profiles.yml").read_text())
    profile = Profile.from_raw_profiles(
        raw_profiles=raw, profile_name="descope_sync", renderer=ProfileRenderer({}), target_override="bigquery"
    )
    return profile.credentials


def test_production_uses_application_default_credentials_and_the_default_datasets() -> None:
    creds = bigquery_credentials({"GCP_PROJECT": "acme-data"})
    assert (creds.method, creds.database, creds.schema, creds.location) == (
        "oauth",
        "acme-data",
        "descope_data_v2",
        "US",
    )
    assert (creds.api_endpoint, creds.token, creds.keyfile) == (None, None, None)


def test_a_service_account_key_file_datasets_and_location_come_from_the_environment() -> None:
    creds = bigquery_credentials(
        {
            "GCP_PROJECT": "acme-data",
            "BQ_AUTH_METHOD": "service-account",
            "BQ_KEYFILE": "/secrets/dbt.json",
            "DESCOPE_MARTS_DATASET": "marts_eu",
            "BQ_LOCATION": "EU",
        }
    )
    assert (creds.method, creds.keyfile, creds.schema, creds.location) == (
        "service-account",
        "/secrets/dbt.json",
        "marts_eu",
        "EU",
    )


def test_with_an_emulator_host_the_target_needs_no_credentials() -> None:
    creds = bigquery_credentials({"GCP_PROJECT": "test-project", "BIGQUERY_EMULATOR_HOST": "http://127.0.0.1:9050"})
    assert (creds.method, creds.api_endpoint, creds.database) == (
        "oauth-secrets",
        "http://127.0.0.1:9050",
        "test-project",
    )
    assert creds.token  # any token: the emulator checks none


def test_the_project_is_required() -> None:
    from dbt.exceptions import EnvVarMissingError

    with pytest.raises(EnvVarMissingError, match="GCP_PROJECT"):
        bigquery_credentials({})


def test_run_dbt_without_the_project_says_which_variable_is_missing(tmp_path: Path, monkeypatch) -> None:
    from descope_sync.errors import ConfigError

    for key in PROFILE_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    shutil.copyfile(project_dir() / "profiles.yml", tmp_path / "profiles.yml")
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="needs the environment variable GCP_PROJECT"):
        run_dbt("debug", target="bigquery")


@pytest.fixture
def only_two_variables(tmp_path: Path) -> Iterator[Path]:
    """A fresh emulator of its own (default dataset names are used), the example profile, and an
    environment holding nothing the profile reads but BIGQUERY_EMULATOR_HOST and GCP_PROJECT."""
    emulator = start_emulator(tmp_path)
    saved = {key: os.environ.pop(key, None) for key in (*PROFILE_VARIABLES, "DBT_PROFILES_DIR")}
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copyfile(project_dir() / "profiles.yml", profiles / "profiles.yml")
    os.environ.update({**emulator.env(), "DBT_PROFILES_DIR": str(profiles)})
    try:
        EmulatorLanding(emulator.client(), "descope_raw")  # the writer's job: empty landing tables
        yield emulator
    finally:
        for key in (*PROFILE_VARIABLES, "DBT_PROFILES_DIR"):
            os.environ.pop(key, None)
            if saved[key] is not None:
                os.environ[key] = saved[key]
        emulator.stop()


def test_run_dbt_reaches_the_emulator_with_only_its_host_and_the_project_set(only_two_variables) -> None:
    emulator = only_two_variables
    assert run_dbt("debug", target="bigquery").success
    # user_logins and what it is built from, with the data tests on those models only
    extra = ["--exclude", "test_type:unit", "--indirect-selection", "cautious"]
    outcome = run_dbt("build", target="bigquery", select=["+user_logins"], extra_args=extra)
    assert outcome.success, outcome.failures
    assert outcome.counts["model:success"] == 4, outcome.counts
    client = emulator.client()
    tables = {ds: {t.table_id for t in client.list_tables(ds)} for ds in ("descope_staging", "descope_data_v2")}
    assert {"stg_descope__audit_events", "stg_geoip__ip_locations", "int_logins_geolocated"} <= tables[
        "descope_staging"
    ]
    assert tables["descope_data_v2"] == {"user_logins"}
