"""A stream's error is scrubbed of the management key before it is stored: `_sync_runs.error`, the
function's JSON answer and `descope-sync status` (which never loads the key, so cannot scrub it)
all carry what was stored. The simulator's `echo_key` fault answers 400 quoting the key."""

from __future__ import annotations

import json

from tests.conftest import query
from tests.extract.cli.commands import run_cli, status_of
from tests.extract.test_cloud_function import client_for

ECHO_KEY = {"user_search": "echo_key", "audit_search": "echo_key"}


def stored_errors(db) -> list[str]:
    return [error for (error,) in query(db, "select error from descope_raw._sync_runs where status = 'failed'")]


def assert_failed_without_the_key(db, key: str) -> None:
    errors = stored_errors(db)
    assert len(errors) == 2  # audit_events and users; ip_locations asks Descope nothing
    assert all("request rejected for the management key ***" in error for error in errors), errors
    assert not any(key in error for error in errors)
    result, _, streams = status_of(db)
    assert result.returncode == 7
    assert streams["users"]["last_run"]["error"] == next(e for e in errors if "user/search" in e)
    assert key not in result.stdout + result.stderr
    human = run_cli(["status", "--duckdb-path", str(db)], {}, timeout=60)
    assert human.returncode == 7 and "last error:" in human.stdout and key not in human.stdout + human.stderr


def test_an_error_echoing_the_key_is_stored_and_printed_without_it_by_the_cli(simulator, tmp_path):
    sim = simulator(users=20, answer_fault=ECHO_KEY)
    db = tmp_path / "w.duckdb"
    env = {
        "DESCOPE_PROJECT_ID": sim.project_id,
        "DESCOPE_MANAGEMENT_KEY": sim.management_key,
        "DESCOPE_BASE_URL": sim.base_url,
        "DUCKDB_PATH": str(db),
    }
    result = run_cli(["--json", "extract"], env)
    assert result.returncode == 1
    body = json.loads(result.stdout)
    assert {s["stream"]: s["status"] for s in body["streams"]}["users"] == "failed"
    assert sim.management_key not in result.stdout + result.stderr
    assert "Descope refused /v2/mgmt/user/search: HTTP 400 E011001" in result.stdout
    assert_failed_without_the_key(db, sim.management_key)


def test_an_error_echoing_the_key_reaches_neither_the_functions_answer_nor_its_logs(
    simulator, tmp_path, monkeypatch, capfd
):
    sim = simulator(users=20, answer_fault=ECHO_KEY)
    db = tmp_path / "w.duckdb"
    response = client_for(monkeypatch, sim, db).post("/", json={})
    assert response.status_code == 500
    answer = response.get_data(as_text=True)
    body = json.loads(answer)
    users = next(s for s in body["streams"] if s["stream"] == "users")
    assert users["status"] == "failed" and "request rejected for the management key ***" in users["message"]
    out, err = capfd.readouterr()
    assert sim.management_key not in answer + out + err
    assert_failed_without_the_key(db, sim.management_key)


def test_an_unexpected_error_inside_a_stream_quoting_the_key_is_stored_and_answered_without_it(
    simulator, tmp_path, monkeypatch, capfd
):
    """A bug (or an HTTP library that prints the request it sent) raising something no stream expects."""
    from descope_sync import pipeline

    sim = simulator(users=20)

    def broken_users_stream(ctx):
        raise RuntimeError(f"header 'Bearer {ctx.settings.project_id}:{ctx.settings.management_key.reveal()}' broke")

    monkeypatch.setitem(pipeline.REGISTRY, "users", broken_users_stream)
    db = tmp_path / "w.duckdb"
    response = client_for(monkeypatch, sim, db).post("/", json={})
    answer = response.get_data(as_text=True)
    users = next(s for s in json.loads(answer)["streams"] if s["stream"] == "users")
    assert users["status"] == "failed" and users["message"] == (
        f"unexpected RuntimeError: header 'Bearer {sim.project_id}:***' broke"
    )
    out, err = capfd.readouterr()
    assert sim.management_key not in answer + out + err
    assert stored_errors(db) == [users["message"]]
    result, _, streams = status_of(db)
    assert result.returncode == 7 and streams["users"]["last_run"]["error"] == users["message"]
    assert sim.management_key not in result.stdout + result.stderr


def test_an_error_quoting_the_key_that_stops_the_whole_extract_is_answered_without_it(monkeypatch, tmp_path):
    from descope_sync.errors import DescopeRequestError
    from tests.extract.test_cloud_function import KEY, faked_client

    def refused(settings, **kwargs):
        raise DescopeRequestError(f"Descope refused the key {settings.management_key.reveal()}")

    client, _ = faked_client(monkeypatch, tmp_path, run_extract=refused)
    response = client.post("/", json={})
    assert response.status_code == 500
    assert response.get_json()["error"] == "Descope refused the key ***"
    assert KEY not in response.get_data(as_text=True)
