"""The tenants stream against the simulator over HTTP: one complete snapshot a run, or nothing.

A run proves it read the list only with a 200 holding a `tenants` list; any other answer, a 5xx
storm, or a budget stop before the answer lands nothing and records no `success` row (the row that
makes a batch a snapshot for dbt).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from descope_sim import ChaosConfig, RateLimits
from descope_sim.tenants import FAULTS
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from tests.conftest import FAST_LIMITS, query, settings_for


def extract(sim, db, **overrides):
    summary = run_extract(settings_for(sim, db, **overrides), streams=["tenants"], progress=SilentProgress())
    (result,) = summary.streams
    return result


def landed(db) -> dict[str, list[tuple]]:
    """Landed tenants by batch: (tenant_id, name, payload)."""
    out: dict[str, list[tuple]] = {}
    for batch, tenant_id, name, payload in query(
        db, "select _batch_id, tenant_id, name, payload from descope_raw.tenants order by _batch_id, tenant_id"
    ):
        out.setdefault(batch, []).append((tenant_id, name, json.loads(payload)))
    return out


def run_rows(db) -> list[tuple]:
    return query(
        db,
        "select status, rows_loaded, details->>'batch_id' from descope_raw._sync_runs "
        "where stream = 'tenants' order by finished_at",
    )


def test_every_run_lands_the_whole_list_as_one_snapshot_that_its_success_row_names(simulator, tmp_path):
    sim = simulator(users=50)
    db = tmp_path / "w.duckdb"
    served = sorted(sim.tenants.listing(), key=lambda t: t["id"])
    assert len(served) >= 5

    first = extract(sim, db)
    assert str(first.status) == "success" and first.rows_loaded == len(served)
    (batch,) = landed(db)
    assert landed(db)[batch] == [(t["id"], t["name"], t) for t in served]
    assert run_rows(db) == [("success", len(served), batch)]

    # A removed tenant is absent from the next snapshot; the old snapshot stays (landing is append-only).
    sim.tenants.remove(served[0]["id"])
    sim.tenants.put("T-new", "Newco")
    second = extract(sim, db)
    assert str(second.status) == "success"
    batches = landed(db)
    (newest,) = set(batches) - {batch}
    assert {t for t, _, _ in batches[newest]} == {t["id"] for t in served[1:]} | {"T-new"}
    assert [r[2] for r in run_rows(db)] == [batch, newest]
    assert sim.stats["requests"]["/v1/mgmt/tenant/all"] == 2  # one GET a run


def test_the_simulators_tenants_are_the_ones_its_users_belong_to(simulator):
    sim = simulator(users=300)
    served = {t["id"]: t["name"] for t in sim.tenants.listing()}
    memberships = {
        (m["tenantId"], m["tenantName"])
        for u in sim.world.truth()["users"].values()
        for m in (u.get("userTenants") or [])
    }
    assert memberships and memberships <= set(served.items())


@pytest.mark.parametrize("fault", FAULTS)
def test_a_200_without_a_tenants_list_fails_and_lands_nothing(simulator, tmp_path, fault):
    sim = simulator(users=20)
    sim.tenants.fault = fault
    db = tmp_path / "w.duckdb"
    result = extract(sim, db)
    assert str(result.status) == "failed"
    assert "tenant" in (result.message or "")
    assert landed(db) == {}
    assert [r[0] for r in run_rows(db)] == ["failed"]
    assert sim.stats["requests"]["/v1/mgmt/tenant/all"] > 1, "a malformed answer is retried before failing"


def test_an_empty_list_is_a_complete_snapshot_of_no_tenants(simulator, tmp_path):
    sim = simulator(users=20)
    for tenant in sim.tenants.listing():
        sim.tenants.remove(tenant["id"])
    db = tmp_path / "w.duckdb"
    result = extract(sim, db)
    assert str(result.status) == "success" and result.rows_loaded == 0
    assert landed(db) == {}
    ((status, rows, batch),) = run_rows(db)
    assert (status, rows) == ("success", 0) and batch


def test_an_empty_list_after_a_snapshot_of_tenants_does_not_replace_it(simulator, tmp_path):
    sim = simulator(users=20)
    db = tmp_path / "w.duckdb"
    first = extract(sim, db)
    assert str(first.status) == "success" and first.rows_loaded > 0
    (batch,) = landed(db)
    for tenant in sim.tenants.listing():
        sim.tenants.remove(tenant["id"])
    empty = extract(sim, db)
    assert str(empty.status) == "incomplete" and empty.rows_loaded == 0
    assert "empty tenant list" in empty.message
    assert list(landed(db)) == [batch]
    assert [(status, rows) for status, rows, _ in run_rows(db)] == [("success", first.rows_loaded), ("incomplete", 0)]


def test_a_tenant_without_an_id_fails_the_snapshot(simulator, tmp_path):
    sim = simulator(users=20)
    sim.tenants.put("", "No id")
    db = tmp_path / "w.duckdb"
    assert str(extract(sim, db).status) == "failed"
    assert landed(db) == {}


def test_a_5xx_storm_fails_and_lands_nothing(simulator, tmp_path):
    storm = ChaosConfig(p_429=0.0, p_5xx=1.0, p_malformed=0.0, p_mutation=0.0)
    sim = simulator(users=20, chaos=storm)
    db = tmp_path / "w.duckdb"
    result = extract(sim, db)
    assert str(result.status) == "failed"
    assert landed(db) == {}
    assert [r[0] for r in run_rows(db)] == ["failed"]


def test_a_429_is_waited_out_and_the_snapshot_lands(simulator, tmp_path):
    sim = simulator(users=20, rate_limits=replace(FAST_LIMITS, tenant_load=(1, 1.0)))
    db = tmp_path / "w.duckdb"
    assert str(extract(sim, db).status) == "success"
    second = extract(sim, db)  # at once: the one request a second is taken, so 429 and Retry-After first
    assert str(second.status) == "success"
    assert sim.stats["rate_limited"] >= 1
    assert len(landed(db)) == 2


def test_a_budget_stop_before_the_list_is_read_lands_nothing(simulator, tmp_path):
    sim = simulator(users=20, rate_limits=RateLimits(tenant_load=(1, 60.0)))
    db = tmp_path / "w.duckdb"
    assert str(extract(sim, db).status) == "success"
    # The next answer is a 429 asking for up to 60 s: more than this run's budget.
    result = extract(sim, db, max_seconds=3)
    assert str(result.status) == "partial"
    assert len(landed(db)) == 1
    assert [r[0] for r in run_rows(db)] == ["success", "partial"]
