"""The Cloud Function entry point, served by functions-framework as Cloud Functions would."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import functions_framework
import pytest

from descope_sync.catalog import STREAMS
from tests.conftest import query

SOURCE = Path(__file__).resolve().parents[2] / "extract" / "main.py"


def serve(monkeypatch):
    """The function as functions-framework serves it. It sets FUNCTION_TARGET in os.environ for good, which
    config.py reads as "on Cloud Functions": set here, so that monkeypatch removes it after the test."""
    monkeypatch.setenv("FUNCTION_TARGET", "descope_sync")
    return functions_framework.create_app(target="descope_sync", source=str(SOURCE))


def client_for(monkeypatch, sim, db, key=None):
    monkeypatch.setenv("DESCOPE_PROJECT_ID", sim.project_id)
    monkeypatch.setenv("DESCOPE_MANAGEMENT_KEY", key or sim.management_key)
    monkeypatch.setenv("DESCOPE_BASE_URL", sim.base_url)
    monkeypatch.setenv("DESCOPE_WAREHOUSE", "duckdb")
    monkeypatch.setenv("DUCKDB_PATH", str(db))
    return serve(monkeypatch).test_client()


def test_the_function_extracts_every_stream_and_returns_a_json_summary(simulator, tmp_path, monkeypatch):
    sim = simulator(users=80)
    db = tmp_path / "w.duckdb"
    response = client_for(monkeypatch, sim, db).post("/", json={"max_seconds": 120})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "success"
    assert sorted(s["stream"] for s in body["streams"]) == sorted(STREAM_NAMES)
    assert body["max_seconds"] == 120
    assert query(db, "select count(distinct user_id) from descope_raw.users")[0][0] == len(sim.world.truth()["users"])


def test_the_function_reports_a_rejected_key_without_echoing_it(simulator, tmp_path, monkeypatch, capfd):
    sim = simulator(users=10)
    wrong = "K2-wrong-key-for-the-function-0000"
    response = client_for(monkeypatch, sim, tmp_path / "w.duckdb", key=wrong).post("/", json={})
    assert response.status_code == 500
    body = response.get_json()
    assert body["status"] == "failed"
    assert "Descope rejected the management key (401)" in str(body)
    out, err = capfd.readouterr()
    assert wrong not in str(body) + out + err


# ---------------------------------------------------------------- the request body (run_extract faked in main.py)

KEY = "K2function-key-27182818"
STREAM_NAMES = list(STREAMS)


def summary_of(*statuses: str):
    from descope_sync.pipeline import RunSummary
    from descope_sync.streams.result import StreamResult
    from descope_sync.timeutil import utcnow

    now = utcnow()
    streams = [
        StreamResult(s, status=st, message=f"{s} ended {st}") for s, st in zip(STREAM_NAMES, statuses, strict=False)
    ]
    return RunSummary(run_id="crafted", started_at=now, finished_at=now, streams=streams)


def faked_client(monkeypatch, tmp_path, summary=None, run_extract=None, **env):
    """The function served by functions-framework, with `run_extract` in main.py replaced; returns (client, calls)."""
    for name in list(os.environ):
        if name.startswith("DESCOPE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DESCOPE_PROJECT_ID", "P2function")
    monkeypatch.setenv("DESCOPE_MANAGEMENT_KEY", KEY)
    monkeypatch.setenv("DESCOPE_WAREHOUSE", "duckdb")
    monkeypatch.setenv("DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = serve(monkeypatch)
    calls: list[dict] = []

    def fake(settings, *, streams, progress=None, **kwargs):
        calls.append({"settings": settings, "streams": list(streams)})
        return summary if summary is not None else summary_of("success", "success", "success")

    monkeypatch.setattr(sys.modules["main"], "run_extract", run_extract or fake)
    return app.test_client(), calls


def assert_json_error(response, code: int, field: str | None = None) -> dict:
    assert response.status_code == code
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] in ("rejected", "failed")
    assert body["error"]
    if field is not None:
        assert body["field"] == field
    return body


@pytest.mark.parametrize(
    ("body", "field", "sentinel"),
    [
        (b'{"full_refresh": "false"}', "full_refresh", None),
        (b'{"full_refresh": "sentinel-yes"}', "full_refresh", "sentinel-yes"),
        (b'{"full_refresh": 1}', "full_refresh", None),
        (b'{"full_refresh": null}', "full_refresh", None),
        (b'{"max_seconds": "abc"}', "max_seconds", "abc"),
        (b'{"max_seconds": 0}', "max_seconds", None),
        (b'{"max_seconds": -3}', "max_seconds", None),
        (b'{"max_seconds": 481}', "max_seconds", "481"),
        (b'{"max_seconds": 1e999}', "max_seconds", None),
        (
            b'{"max_seconds": 100000000000000000000000000000000000000000000000000000000000000000000000000000000000}',
            "max_seconds",
            None,
        ),
        (b'{"max_seconds": true}', "max_seconds", None),
        (b'{"max_seconds": NaN}', "body", None),
        (b'{"streams": []}', "streams", None),
        (b'{"streams": "users"}', "streams", None),
        (b'{"streams": ["users", "users"]}', "streams", None),
        (b'{"streams": ["users", "sentinel-stream-xyz"]}', "streams", "sentinel-stream-xyz"),
        (b'{"streams": [1]}', "streams", None),
        (b'{"stream": ["users"]}', "stream", None),
        (b'{"sentinel key with spaces": 1}', "(unnamed field)", "sentinel key"),
        (b'{"full_refresh": true, "full_refresh": false}', "full_refresh", None),
        (b'["full_refresh"]', "body", None),
        (b'"sentinel-string"', "body", "sentinel-string"),
        (b"42", "body", None),
        (b"null", "body", None),
        (b"{not json sentinel-text", "body", "sentinel-text"),
        (b"\xff\xfe\xfa", "body", None),
    ],
)
def test_a_bad_request_body_is_a_400_json_naming_the_field_without_echoing_it(
    monkeypatch, tmp_path, body, field, sentinel
):
    client, calls = faked_client(monkeypatch, tmp_path)
    response = client.post("/", data=body, content_type="application/json")
    assert_json_error(response, 400, field)
    assert calls == []
    if sentinel is not None:
        assert sentinel not in response.get_data(as_text=True)
    assert KEY not in response.get_data(as_text=True)


def test_a_query_string_is_refused(monkeypatch, tmp_path):
    client, calls = faked_client(monkeypatch, tmp_path)
    response = client.post("/?full_refresh=true", json={})
    assert_json_error(response, 400, "query string")
    assert "full_refresh=true" not in response.get_data(as_text=True)
    assert calls == []


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("post", {}),
        ("post", {"data": b""}),
        ("post", {"data": b"  \n", "content_type": "application/octet-stream"}),
        ("post", {"json": {}}),
        ("post", {"json": {"max_seconds": None}}),
        ("get", {}),
    ],
)
def test_no_body_an_empty_body_or_a_get_means_the_defaults(monkeypatch, tmp_path, method, kwargs):
    client, calls = faked_client(monkeypatch, tmp_path)
    response = getattr(client, method)("/", **kwargs)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "success"
    assert body["max_seconds"] == 480
    [call] = calls
    assert call["settings"].full_refresh is False
    assert call["settings"].max_seconds == 480
    assert sorted(call["streams"]) == sorted(STREAM_NAMES)


def test_null_max_seconds_means_the_configured_function_budget(monkeypatch, tmp_path):
    client, calls = faked_client(monkeypatch, tmp_path, DESCOPE_FUNCTION_MAX_SECONDS="100")
    response = client.post("/", json={"max_seconds": None})
    assert response.status_code == 200
    assert response.get_json()["max_seconds"] == 100
    assert calls[0]["settings"].max_seconds == 100
    assert_json_error(client.post("/", json={"max_seconds": 101}), 400, "max_seconds")
    assert len(calls) == 1


def test_a_bad_function_budget_is_a_500_json_naming_the_variable(monkeypatch, tmp_path, capfd):
    client, calls = faked_client(monkeypatch, tmp_path, DESCOPE_FUNCTION_MAX_SECONDS="eight minutes")
    body = assert_json_error(client.post("/", json={}), 500)
    assert body["error"] == "DESCOPE_FUNCTION_MAX_SECONDS must be a number of seconds > 0, not 'eight minutes'"
    assert calls == []
    assert "Traceback" not in capfd.readouterr().err  # an error to act on, not a crash


def test_a_scheduler_body_without_a_json_content_type_is_read(monkeypatch, tmp_path):
    client, calls = faked_client(monkeypatch, tmp_path)
    body = b'{"full_refresh": true, "max_seconds": 30.5, "streams": ["users"]}'
    response = client.post("/", data=body, content_type="application/octet-stream")
    assert response.status_code == 200
    assert response.get_json()["max_seconds"] == 30.5
    [call] = calls
    assert call["settings"].full_refresh is True
    assert call["settings"].max_seconds == 30.5
    assert call["streams"] == ["users"]


@pytest.mark.parametrize("method", ["put", "delete", "patch", "head", "options"])
def test_methods_other_than_get_and_post_are_405_json(monkeypatch, tmp_path, method):
    client, calls = faked_client(monkeypatch, tmp_path)
    response = getattr(client, method)("/", json={})
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"
    if method != "head":
        assert_json_error(response, 405)
    assert calls == []


@pytest.mark.parametrize(("method", "path"), [("get", "/favicon.ico"), ("get", "/robots.txt"), ("post", "/other")])
def test_other_paths_are_404_json_never_html(monkeypatch, tmp_path, method, path):
    client, calls = faked_client(monkeypatch, tmp_path)
    response = getattr(client, method)(path)
    assert_json_error(response, 404)
    assert "<html" not in response.get_data(as_text=True).lower()
    assert calls == []


@pytest.mark.parametrize(
    ("statuses", "code", "status"),
    [
        (("success", "success", "success"), 200, "success"),
        (("partial", "success", "success"), 200, "partial"),
        (("success", "incomplete", "success"), 500, "incomplete"),
        (("data_loss", "success", "success"), 500, "data_loss"),
        (("data_loss", "incomplete", "partial"), 500, "data_loss"),
        (("success", "failed", "data_loss"), 500, "failed"),
    ],
)
def test_the_status_code_follows_the_worst_status_and_the_summary_is_json(
    monkeypatch, tmp_path, statuses, code, status
):
    client, _ = faked_client(monkeypatch, tmp_path, summary=summary_of(*statuses))
    response = client.post("/", json={"max_seconds": 60})
    assert response.status_code == code
    body = response.get_json()
    assert body["status"] == status
    assert body["max_seconds"] == 60
    assert [s["status"] for s in body["streams"]] == list(statuses)


def test_an_unexpected_error_is_a_500_json_and_one_scrubbed_traceback_log_line(monkeypatch, tmp_path, capfd):
    def explode(settings, **kwargs):
        raise RuntimeError(f"header 'Bearer P2function:{settings.management_key.reveal()}\\n' broke")

    client, _ = faked_client(monkeypatch, tmp_path, run_extract=explode)
    response = client.post("/", json={})
    body = assert_json_error(response, 500)
    assert body == {"status": "failed", "error": "RuntimeError: header 'Bearer P2function:***\\n' broke"}
    out, err = capfd.readouterr()
    assert KEY not in out + err + response.get_data(as_text=True)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    [logged] = [entry for entry in lines if "exception" in entry]
    assert logged["severity"] == "ERROR"
    assert logged["exception"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: header 'Bearer P2function:***\\n' broke" in logged["exception"]


# ---------------------------------------------------------------- the key (real simulator)


def test_a_key_created_with_echo_works_and_never_shows(simulator, tmp_path, monkeypatch, capfd):
    sim = simulator(users=30)
    db = tmp_path / "w.duckdb"
    client = client_for(monkeypatch, sim, db, key=sim.management_key + "\n")
    response = client.post("/", json={"max_seconds": 120})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["status"] == "success"
    out, err = capfd.readouterr()
    assert sim.management_key not in out + err + response.get_data(as_text=True)
    for schema, table in query(db, "select table_schema, table_name from information_schema.tables"):
        hits = query(
            db,
            f'select count(*) from "{schema}"."{table}" as t where cast(t as varchar) like ?',
            [f"%{sim.management_key}%"],
        )
        assert hits[0][0] == 0, f"{schema}.{table} contains the management key"


def test_a_key_with_a_line_break_inside_is_a_500_json_naming_the_variable(simulator, tmp_path, monkeypatch, capfd):
    sim = simulator(users=5)
    broken = "K2broken-first\nbroken-second"
    response = client_for(monkeypatch, sim, tmp_path / "w.duckdb", key=broken).post("/", json={})
    body = assert_json_error(response, 500)
    assert "DESCOPE_MANAGEMENT_KEY" in body["error"]
    out, err = capfd.readouterr()
    text = out + err + response.get_data(as_text=True)
    assert "K2broken-first" not in text and "broken-second" not in text
    assert not (tmp_path / "w.duckdb").exists()


def test_plain_http_to_a_remote_host_is_a_500_json(simulator, tmp_path, monkeypatch):
    sim = simulator(users=5)
    client = client_for(monkeypatch, sim, tmp_path / "w.duckdb")
    monkeypatch.setenv("DESCOPE_BASE_URL", "http://api.descope.com")
    body = assert_json_error(client.post("/", json={}), 500)
    assert "DESCOPE_BASE_URL" in body["error"] and "https://" in body["error"]


def test_the_function_lands_in_bigquery_unless_told_otherwise(monkeypatch, tmp_path):
    client, calls = faked_client(monkeypatch, tmp_path)
    monkeypatch.delenv("DESCOPE_WAREHOUSE")
    monkeypatch.setenv("GCP_PROJECT", "my-gcp")
    assert client.get("/").status_code == 200
    [call] = calls
    assert (call["settings"].warehouse, call["settings"].bigquery_project) == ("bigquery", "my-gcp")
    assert call["settings"].max_seconds == 480  # below the deployed 540 s timeout (tests/gcp/test_deploy_config.py)
