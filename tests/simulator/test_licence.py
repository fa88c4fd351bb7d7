"""The simulator's licence: it serves `GET /v1/mgmt/license` to the key only and sorts every search request
by its `x-descope-license` header (the extractor's side: tests/extract/test_licence.py)."""

from __future__ import annotations

import requests

from descope_sim import Licence, RateLimits

LICENCE = "/v1/mgmt/license"
USERS = "/v2/mgmt/user/search"
# A request without the matching header shares a bucket of one per window.
STRICT_WITHOUT_LICENCE = RateLimits(user_search=(100_000, 2.0), audit_search=(10, 1.0), unlicensed_share=1e-6)


def auth(sim, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.project_id}:{sim.management_key}", **extra}


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
