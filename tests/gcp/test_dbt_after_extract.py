"""The function starts the dbt build (a Cloud Build trigger) after every extract that landed anything,
through the Cloud Build REST API, here a local server that speaks `triggers/*:run`."""

from __future__ import annotations

import pytest

from descope_sync.build_trigger import BuildTriggerError, dbt_trigger, start_build
from descope_sync.errors import ConfigError
from tests.extract.test_cloud_function import KEY, faked_client, summary_of

TRIGGER = "projects/my-gcp/locations/us-central1/triggers/0f6c2a1e-dbt"
COMMIT = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad"  # what the release recorded (DESCOPE_RELEASE_COMMIT)


def client_with_trigger(monkeypatch, tmp_path, server, summary=None, trigger=TRIGGER, commit: str | None = COMMIT):
    env = {"DESCOPE_DBT_TRIGGER": trigger, "CLOUD_BUILD_ENDPOINT": server.endpoint}
    if commit is not None:
        env["DESCOPE_RELEASE_COMMIT"] = commit
    return faked_client(monkeypatch, tmp_path, summary=summary, **env)


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        (("success", "success", "success"), 200),
        (("success", "partial", "success"), 200),
        (("success", "incomplete", "success"), 500),
        (("data_loss", "success", "success"), 500),
    ],
)
def test_dbt_starts_after_every_extract_that_did_not_fail(monkeypatch, tmp_path, cloud_build_server, statuses, code):
    client, calls = client_with_trigger(monkeypatch, tmp_path, cloud_build_server, summary=summary_of(*statuses))
    response = client.post("/", json={})
    assert response.status_code == code
    body = response.get_json()
    assert body["dbt"]["status"] == "started"
    assert body["dbt"]["build_id"] == "build-1" and body["dbt"]["trigger"] == TRIGGER
    assert body["dbt"]["commit"] == COMMIT
    [request] = cloud_build_server.requests
    assert (request.method, request.path) == ("POST", f"/v1/{TRIGGER}:run")
    # the released commit, exactly: as the API's RepoSource and as the substitution the build checks
    assert request.body == {
        "projectId": "my-gcp",
        "triggerId": "0f6c2a1e-dbt",
        "source": {"commitSha": COMMIT, "substitutions": {"_RELEASE_COMMIT": COMMIT}},
    }
    [build] = cloud_build_server.queued
    assert build["source"]["commitSha"] == COMMIT and build["substitutions"]["_RELEASE_COMMIT"] == COMMIT
    assert not request.authorized  # loopback test endpoint: anonymous
    assert len(calls) == 1


def test_a_function_without_a_recorded_commit_refuses_to_start_dbt(monkeypatch, tmp_path, cloud_build_server):
    client, calls = client_with_trigger(monkeypatch, tmp_path, cloud_build_server, commit=None)
    response = client.post("/", json={})
    assert response.status_code == 500
    body = response.get_json()
    assert body["status"] == "success" and len(calls) == 1  # the extract ran and is committed
    assert body["dbt"]["status"] == "refused"
    assert "DESCOPE_RELEASE_COMMIT is not set" in body["dbt"]["error"]
    assert "untested" in body["dbt"]["error"]
    assert cloud_build_server.requests == []  # no build of the branch as it is


@pytest.mark.parametrize("commit", ["main", "3b18e51", "3B18E512DBA79E4C8300DD08AEB37F8E728B8DAD", "x" * 40])
def test_a_malformed_release_commit_is_a_500_before_any_extract(monkeypatch, tmp_path, cloud_build_server, commit):
    client, calls = client_with_trigger(monkeypatch, tmp_path, cloud_build_server, commit=commit)
    response = client.post("/", json={})
    assert response.status_code == 500
    assert "DESCOPE_RELEASE_COMMIT must be a full 40-character git commit SHA" in response.get_json()["error"]
    assert calls == [] and cloud_build_server.requests == []


def test_a_failed_extract_starts_no_build(monkeypatch, tmp_path, cloud_build_server):
    client, _ = client_with_trigger(monkeypatch, tmp_path, cloud_build_server, summary=summary_of("failed", "success"))
    response = client.post("/", json={})
    assert response.status_code == 500
    assert response.get_json()["dbt"] == {"status": "skipped", "trigger": TRIGGER, "reason": "the extract failed"}
    assert cloud_build_server.requests == []


def test_a_build_that_cannot_start_makes_the_answer_500_naming_the_trigger_and_the_role(
    monkeypatch, tmp_path, cloud_build_server
):
    cloud_build_server.refuse_with = 403
    client, _ = client_with_trigger(monkeypatch, tmp_path, cloud_build_server)
    response = client.post("/", json={})
    assert response.status_code == 500
    body = response.get_json()
    assert body["status"] == "success"  # the extract itself is committed
    assert body["dbt"]["status"] == "failed"
    assert TRIGGER in body["dbt"]["error"] and "cloudbuild.builds.create" in body["dbt"]["error"]
    assert f"gcloud builds triggers run 0f6c2a1e-dbt --region=us-central1 --sha={COMMIT}" in body["dbt"]["error"]
    assert "refused by the test" not in response.get_data(as_text=True)  # the server's text is not echoed
    assert KEY not in response.get_data(as_text=True)


def test_without_a_trigger_the_function_only_extracts(monkeypatch, tmp_path):
    client, calls = faked_client(monkeypatch, tmp_path)
    body = client.post("/", json={}).get_json()
    assert "dbt" not in body and len(calls) == 1


def test_a_malformed_trigger_is_a_500_before_any_extract(monkeypatch, tmp_path, cloud_build_server):
    client, calls = client_with_trigger(monkeypatch, tmp_path, cloud_build_server, trigger="descope-dbt")
    response = client.post("/", json={})
    assert response.status_code == 500
    assert "DESCOPE_DBT_TRIGGER must be projects/<project>/locations/<region>/triggers/" in response.get_json()["error"]
    assert calls == [] and cloud_build_server.requests == []


def test_server_errors_are_retried_then_reported(cloud_build_server):
    cloud_build_server.refuse_with = 503
    with pytest.raises(BuildTriggerError, match="Cloud Build answered HTTP 503"):
        start_build(TRIGGER, COMMIT, env={"CLOUD_BUILD_ENDPOINT": cloud_build_server.endpoint}, backoff=0)
    assert len(cloud_build_server.requests) == 3


def test_an_unknown_trigger_says_how_to_create_it(cloud_build_server):
    cloud_build_server.refuse_with = 404
    with pytest.raises(BuildTriggerError, match=r"no such trigger: create it with deploy/setup\.sh"):
        start_build(TRIGGER, COMMIT, env={"CLOUD_BUILD_ENDPOINT": cloud_build_server.endpoint}, backoff=0)
    assert len(cloud_build_server.requests) == 1


@pytest.mark.parametrize(
    "value",
    [
        "projects/my-gcp/triggers/x",
        "projects/my-gcp/locations/us-central1/triggers/",
        "projects/my-gcp/locations/us-central1/triggers/a b",
        "https://cloudbuild.googleapis.com/v1/projects/my-gcp/locations/us-central1/triggers/x",
    ],
)
def test_the_trigger_must_be_a_full_resource_name(value):
    with pytest.raises(ConfigError, match="DESCOPE_DBT_TRIGGER"):
        dbt_trigger({"DESCOPE_DBT_TRIGGER": value})


def test_a_plain_http_cloud_build_endpoint_off_loopback_is_refused():
    with pytest.raises(ConfigError, match="CLOUD_BUILD_ENDPOINT"):
        start_build(TRIGGER, COMMIT, env={"CLOUD_BUILD_ENDPOINT": "http://cloudbuild.example.com"})


def test_the_trigger_call_ends_within_its_slice_when_cloud_build_hangs(cloud_build_server, capsys):
    import time

    from descope_sync.descope import Deadline

    cloud_build_server.delay_seconds = 30  # each answer: longer than the whole slice
    started = time.monotonic()
    with pytest.raises(BuildTriggerError, match="could not reach Cloud Build"):
        start_build(
            TRIGGER,
            COMMIT,
            env={"CLOUD_BUILD_ENDPOINT": cloud_build_server.endpoint},
            backoff=0.2,
            deadline=Deadline(2.0),
        )
    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(f"\ntrigger call against a hung Cloud Build: {elapsed:.3f}s for a 2s slice")
    assert elapsed < 3.0  # not 3 x 10 s attempts
