"""Credentials from Secret Manager through the real client (REST transport, anonymous credentials)
against a local server that speaks `projects/*/secrets/*/versions/latest:access`."""

from __future__ import annotations

import os

import pytest

from descope_sync.config import load_settings
from descope_sync.errors import ConfigError
from descope_sync.secrets import scrub
from tests.conftest import query
from tests.extract.test_cloud_function import serve

KEY = "K2secret-manager-key-0123456789"
PROJECT = "P2fromSecretManager"


def sm_env(server, **extra: str) -> dict[str, str]:
    return {
        "DESCOPE_SECRETS": "secret-manager",
        "GCP_PROJECT": server.project,
        "SECRET_MANAGER_ENDPOINT": server.endpoint,
        **extra,
    }


def config_error(environment: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings({}, env=environment)
    return str(info.value)


def test_the_project_id_and_key_come_from_the_latest_versions_with_a_trailing_newline_stripped(
    secret_manager_server,
):
    secret_manager_server.secrets.update(
        {"descope-project-id": PROJECT.encode() + b"\n", "descope-management-key": KEY.encode() + b"\n"}
    )
    settings = load_settings({}, env=sm_env(secret_manager_server))
    assert settings.project_id == PROJECT
    assert settings.management_key.reveal() == KEY
    assert KEY not in repr(settings) and KEY not in scrub(f"leaked {KEY}\n")
    paths = sorted(r.path for r in secret_manager_server.requests)
    assert paths == [
        "/v1/projects/my-gcp/secrets/descope-management-key/versions/latest:access",
        "/v1/projects/my-gcp/secrets/descope-project-id/versions/latest:access",
    ]
    assert all(r.method == "GET" and not r.authorized for r in secret_manager_server.requests)


def test_explicit_environment_variables_win_over_secret_manager(secret_manager_server):
    secret_manager_server.secrets["descope-project-id"] = PROJECT.encode()
    settings = load_settings({}, env=sm_env(secret_manager_server, DESCOPE_MANAGEMENT_KEY=KEY))
    assert settings.management_key.reveal() == KEY
    assert [r.path.split("/")[5] for r in secret_manager_server.requests] == ["descope-project-id"]


def test_locally_without_secret_manager_nothing_is_asked(secret_manager_server):
    environment = {"SECRET_MANAGER_ENDPOINT": secret_manager_server.endpoint, "DESCOPE_PROJECT_ID": PROJECT}
    message = config_error(environment)
    assert "DESCOPE_MANAGEMENT_KEY" in message
    assert secret_manager_server.requests == []


def test_a_missing_secret_is_a_404_naming_the_secret_and_how_to_create_it(secret_manager_server):
    secret_manager_server.secrets["descope-project-id"] = b"P2sentinel-project-value"
    message = config_error(sm_env(secret_manager_server))
    assert message.startswith("secret 'descope-management-key' in project 'my-gcp' does not exist")
    assert "printf '%s'" in message and "gcloud secrets create descope-management-key --data-file=-" in message
    assert "P2sentinel-project-value" not in message


def test_a_secret_the_service_account_may_not_read_is_a_403_naming_the_secret_and_the_role(secret_manager_server):
    secret_manager_server.secrets.update({"descope-project-id": PROJECT.encode(), "descope-management-key": b"K2x"})
    secret_manager_server.denied.add("descope-management-key")
    message = config_error(sm_env(secret_manager_server))
    assert message.startswith("permission denied reading secret 'descope-management-key' in project 'my-gcp'")
    assert "roles/secretmanager.secretAccessor" in message
    assert "K2x" not in message


def test_a_secret_with_a_line_break_inside_names_the_secret_and_says_how_to_recreate_it(secret_manager_server):
    secret_manager_server.secrets.update(
        {"descope-project-id": PROJECT.encode(), "descope-management-key": b"K2line-one\nline-two\n"}
    )
    message = config_error(sm_env(secret_manager_server))
    assert "'descope-management-key'" in message
    assert "printf '%s'" in message and "gcloud secrets versions add descope-management-key" in message
    assert "K2line-one" not in message and "line-two" not in message


def test_a_secret_that_is_not_utf8_is_a_config_error_naming_it(secret_manager_server):
    secret_manager_server.secrets.update(
        {"descope-project-id": PROJECT.encode(), "descope-management-key": b"\xff\xfeK2"}
    )
    message = config_error(sm_env(secret_manager_server))
    assert "'descope-management-key'" in message and "UTF-8" in message


def test_a_payload_whose_checksum_does_not_match_is_refused(secret_manager_server):
    secret_manager_server.secrets.update({"descope-project-id": PROJECT.encode(), "descope-management-key": b"K2abcd"})
    secret_manager_server.corrupt_crc = True
    message = config_error(sm_env(secret_manager_server))
    assert "'descope-management-key'" in message and "CRC32C" in message and "K2abcd" not in message


def test_without_a_google_cloud_project_the_error_names_the_variable(secret_manager_server):
    environment = sm_env(secret_manager_server)
    del environment["GCP_PROJECT"]
    message = config_error(environment)
    assert "GCP_PROJECT" in message and "descope-management-key" in message
    assert secret_manager_server.requests == []


@pytest.mark.parametrize("endpoint", ["http://secretmanager.example.com", "ftp://127.0.0.1:1", "not a url"])
def test_a_secret_manager_endpoint_must_be_https_or_loopback(secret_manager_server, endpoint):
    message = config_error(sm_env(secret_manager_server, SECRET_MANAGER_ENDPOINT=endpoint))
    assert "SECRET_MANAGER_ENDPOINT" in message
    assert secret_manager_server.requests == []


def test_on_cloud_functions_the_function_reads_its_credentials_from_secret_manager(
    secret_manager_server, simulator, tmp_path, monkeypatch, capfd
):
    sim = simulator(users=25)
    secret_manager_server.secrets.update(
        {
            "descope-project-id": sim.project_id.encode() + b"\n",
            "descope-management-key": sim.management_key.encode() + b"\n",
        }
    )
    for name in list(os.environ):
        if name.startswith("DESCOPE_"):
            monkeypatch.delenv(name)
    db = tmp_path / "w.duckdb"
    environment = {
        "K_SERVICE": "descope-bigquery-sync",  # what Cloud Functions (Gen 2) sets
        "GCP_PROJECT": secret_manager_server.project,
        "SECRET_MANAGER_ENDPOINT": secret_manager_server.endpoint,
        "DESCOPE_BASE_URL": sim.base_url,
        "DESCOPE_WAREHOUSE": "duckdb",
        "DUCKDB_PATH": str(db),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    client = serve(monkeypatch).test_client()
    response = client.post("/", json={"max_seconds": 120})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["status"] == "success"
    assert query(db, "select count(distinct user_id) from descope_raw.users")[0][0] == 25
    out, err = capfd.readouterr()
    assert sim.management_key not in out + err + response.get_data(as_text=True)
    assert len(secret_manager_server.requests) == 2
