"""Every endpoint in the route tables, checked alike: the method it takes, the key, test control kept to
loopback (a new endpoint is covered by adding its line to routes.ROUTES)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from descope_sim import RateLimits, Simulator, World
from descope_sim.routes import CONTROL_ROUTES, ROUTES

GENEROUS = RateLimits(user_search=(100_000, 60.0), audit_search=(100_000, 60.0))


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(World(seed=2, users=10), rate_limits=GENEROUS) as server:
        yield server


def call(sim: Simulator, method: str, path: str, key: str | None) -> requests.Response:
    headers = {} if key is None else {"Authorization": f"Bearer {sim.project_id}:{key}"}
    body = b"{}" if method == "POST" else None
    return requests.request(method, sim.base_url + path, data=body, headers=headers, timeout=10)


@pytest.mark.parametrize("path", sorted(ROUTES))
def test_each_api_route_answers_its_method_with_the_key_and_refuses_the_rest(sim, path):
    method = ROUTES[path].method
    other = "GET" if method == "POST" else "POST"
    assert call(sim, method, path, sim.management_key).status_code == 200
    wrong_method = call(sim, other, path, sim.management_key)
    assert (wrong_method.status_code, wrong_method.json()["errorCode"]) == (405, "E011005")
    assert method in wrong_method.json()["errorMessage"]
    for key in (None, "K2-a-wrong-key"):
        refused = call(sim, method, path, key)
        assert (refused.status_code, refused.json()["errorCode"]) == (401, "E011003")
        assert sim.management_key not in refused.text


@pytest.mark.parametrize(("method", "path"), sorted(CONTROL_ROUTES))
def test_each_control_route_answers_loopback_without_a_key_and_nobody_else(sim, method, path):
    assert call(sim, method, path, None).status_code == 200
    status, body, _ = sim.handle(method, path, {}, b"{}" if method == "POST" else b"", "192.0.2.7")
    assert status == 403 and b"loopback" in body


def test_a_path_in_no_table_is_a_404(sim):
    for method, path in (("POST", "/v2/mgmt/user/searches"), ("GET", "/_sim/nothing"), ("DELETE", "/_sim/truth")):
        status, _, _ = sim.handle(method, path, {}, b"", "127.0.0.1")
        assert status == 404, (method, path)
