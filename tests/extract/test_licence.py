"""The licence handshake on both sides: the simulator serves `GET /v1/mgmt/license` and sorts every request
by its `x-descope-license` header; a run reads the licence once and lands in the licensed bucket, and a
licence it cannot read never stops it."""

from __future__ import annotations

import logging

import pytest
import requests

from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.simulator import Licence, RateLimits
from descope_sync.simulator.tenants import TENANTS_PATH
from tests.conftest import latest_landed_users, logged, settings_for

LICENCE = "/v1/mgmt/license"
USERS = "/v2/mgmt/user/search"
AUDIT = "/v1/mgmt/audit/search"
# Every API request a run makes, besides the licence read: the searches and the tenant list.
SEARCHES = (USERS, "/v2/mgmt/user/search/test", AUDIT, TENANTS_PATH)
# Licensed requests have room; a request without the matching header shares a bucket of one per window.
STRICT_WITHOUT_LICENCE = RateLimits(user_search=(100_000, 2.0), audit_search=(10, 1.0), unlicensed_share=1e-6)


def auth(sim, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.project_id}:{sim.management_key}", **extra}


def searches_served(sim) -> int:
    return sum(n for path, n in sim.stats["requests"].items() if path in SEARCHES)


def extract(sim, db, **overrides):
    return run_extract(settings_for(sim, db, **overrides), progress=SilentProgress())


def test_the_simulator_serves_the_licence_to_the_key_only_and_by_get_only(simulator):
    sim = simulator(users=5, licence=Licence(tier="tier4"))
    wrong = requests.get(sim.base_url + LICENCE, headers={"Authorization": f"Bearer {sim.project_id}:x"}, timeout=5)
    assert (wrong.status_code, wrong.json()["errorCode"]) == (401, "E011003")
    assert sim.management_key not in wrong.text
    right = requests.get(sim.base_url + LICENCE, headers=auth(sim), timeout=5)
    assert (right.status_code, right.json()) == (200, {"rateLimitTier": "tier4"})
    assert requests.post(sim.base_url + LICENCE, json={}, headers=auth(sim), timeout=5).status_code == 405
    sim.licence = Licence(tier=None)
    assert requests.get(sim.base_url + LICENCE, headers=auth(sim), timeout=5).json() == {}
    sim.licence = Licence(failure=503)
    assert requests.get(sim.base_url + LICENCE, headers=auth(sim), timeout=5).status_code == 503
    assert sim.stats["licence_reads"] == 3  # the rejected read is not one


def test_requests_without_the_matching_header_share_a_stricter_bucket_and_are_counted(simulator):
    sim = simulator(users=5, licence=Licence(tier="tier2"), rate_limits=STRICT_WITHOUT_LICENCE)
    with requests.Session() as s:

        def status(**header: str) -> int:
            return s.post(sim.base_url + USERS, json={}, headers=auth(sim, **header), timeout=5).status_code

        assert [status() for _ in range(2)] == [200, 429]  # one per window without the header
        assert status(**{"x-descope-license": "tier1"}) == 429  # a wrong tier is no licence
        assert [status(**{"x-descope-license": "tier2"}) for _ in range(5)] == [200] * 5
    stats = sim.stats
    assert stats["licence_header"] == {"matched": 5, "missing": 2, "mismatched": 1}
    assert (stats["rate_limited"], stats["rate_limited_without_licence"]) == (2, 2)


def test_a_run_reads_the_licence_once_and_every_request_lands_in_the_licensed_bucket(simulator, tmp_path):
    sim = simulator(users=300, licence=Licence(tier="tier3"), rate_limits=STRICT_WITHOUT_LICENCE)
    summary = extract(sim, tmp_path / "w.duckdb")
    assert summary.status == "success", summary.streams
    stats = sim.stats
    assert searches_served(sim) >= 4  # users and audit, several pages
    assert stats["licence_reads"] == 1
    assert stats["licence_header"] == {"matched": searches_served(sim), "missing": 0, "mismatched": 0}
    assert (stats["rate_limited"], stats["rate_limited_without_licence"]) == (0, 0)


def test_each_run_reads_the_licence_once_more(simulator, tmp_path):
    sim = simulator(users=50)
    for _ in range(2):
        assert extract(sim, tmp_path / "w.duckdb").status == "success"
    assert sim.stats["licence_reads"] == 2


@pytest.mark.parametrize("licence", [Licence(failure=503), Licence(failure=404), Licence(tier=None)])
def test_a_licence_that_cannot_be_read_does_not_stop_a_run(simulator, tmp_path, caplog, licence):
    sim = simulator(users=200, licence=licence)
    db = tmp_path / "w.duckdb"
    with caplog.at_level(logging.WARNING):
        summary = extract(sim, db)
    assert summary.status == "success", summary.streams
    assert latest_landed_users(db) == sim.world.truth()["users"]
    stats = sim.stats
    assert stats["licence_reads"] == 1
    assert stats["licence_header"] == {"matched": 0, "missing": searches_served(sim), "mismatched": 0}
    licence_lines = [line for line in logged(caplog, "WARNING") if "licence" in line]
    assert len(licence_lines) == 1 and licence_lines[0].startswith("Descope licence not read (")
    assert all(sim.management_key not in line for line in logged(caplog))


def test_a_key_the_licence_rejects_stops_the_run_before_any_search(simulator, tmp_path):
    sim = simulator(users=20)
    summary = extract(sim, tmp_path / "w.duckdb", management_key="K2-this-key-is-wrong-0123456789")
    failed = [s for s in summary.streams if s.status == "failed"]
    assert failed and failed[0].details["auth_failed"]
    assert "Descope rejected the management key (401)" in failed[0].message
    assert searches_served(sim) == 0 and sim.stats["requests"][LICENCE] == 1


def test_the_sdk_and_our_client_read_the_same_licence_and_land_in_the_same_bucket(simulator, tmp_path):
    from descope import DescopeClient as OfficialClient

    sim = simulator(users=100, licence=Licence(tier="tier1"), rate_limits=STRICT_WITHOUT_LICENCE)
    official = OfficialClient(project_id=sim.project_id, management_key=sim.management_key, base_url=sim.base_url)
    assert len(official.mgmt.user.search_all(limit=10)["users"]) == 10
    assert extract(sim, tmp_path / "w.duckdb").status == "success"
    assert official.mgmt.audit.search(actions=["LoginSucceed"])["audits"]
    stats = sim.stats
    assert stats["licence_reads"] == 2  # one each
    assert stats["licence_header"] == {"matched": searches_served(sim), "missing": 0, "mismatched": 0}
    assert stats["rate_limited_without_licence"] == 0
