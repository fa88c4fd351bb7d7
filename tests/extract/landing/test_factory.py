"""The writer a run gets (`landing/factory.py`): in the configured raw schema."""

from __future__ import annotations

from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from tests.conftest import query, settings_for


def test_a_run_lands_in_the_configured_raw_schema(simulator, tmp_path):
    sim = simulator(users=15)
    db = tmp_path / "w.duckdb"
    summary = run_extract(settings_for(sim, db, raw_schema="acme_raw"), streams=["users"], progress=SilentProgress())
    assert summary.status == "success"
    assert query(db, "select count(distinct user_id) from acme_raw.users") == [(len(sim.world.truth()["users"]),)]
    assert query(db, "select count(*) from information_schema.schemata where schema_name = 'descope_raw'") == [(0,)]
