"""The Cloud Function entry point, served by functions-framework as Cloud Functions would."""

from __future__ import annotations

from pathlib import Path

import functions_framework

from tests.conftest import query

SOURCE = Path(__file__).resolve().parents[2] / "extract" / "main.py"


def client_for(monkeypatch, sim, db, key=None):
    monkeypatch.setenv("DESCOPE_PROJECT_ID", sim.project_id)
    monkeypatch.setenv("DESCOPE_MANAGEMENT_KEY", key or sim.management_key)
    monkeypatch.setenv("DESCOPE_BASE_URL", sim.base_url)
    monkeypatch.setenv("DESCOPE_WAREHOUSE", "duckdb")
    monkeypatch.setenv("DUCKDB_PATH", str(db))
    return functions_framework.create_app(target="descope_sync", source=str(SOURCE)).test_client()


def test_the_function_extracts_every_stream_and_returns_a_json_summary(simulator, tmp_path, monkeypatch):
    sim = simulator(users=80)
    db = tmp_path / "w.duckdb"
    response = client_for(monkeypatch, sim, db).post("/", json={"max_seconds": 120})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "success"
    assert [s["stream"] for s in body["streams"]] == ["users", "audit_events", "ip_locations"]
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
