"""Server-side faults the extractor must survive: a max result window and bent answer shapes (real HTTP)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from descope_sim import Dialect, RateLimits, Simulator, World

KEY = "K2sim-secret-key"
USERS = "/v2/mgmt/user/search"
AUDIT = "/v1/mgmt/audit/search"
GENEROUS = RateLimits(user_search=(100_000, 60.0), audit_search=(100_000, 60.0))
FAULTS = ("empty_object", "missing_total", "string_total", "missing_list", "bad_list")
FAMILIES = {"user_search": (USERS, "users", {"limit": 7}), "audit_search": (AUDIT, "audits", {"size": 7})}


def post(sim: Simulator, path: str, body: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {sim.project_id}:{KEY}"}
    r = requests.post(sim.base_url + path, json=body, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return r


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=12, users=400)


@pytest.fixture
def sim(world: World) -> Iterator[Simulator]:
    with Simulator(world, rate_limits=GENEROUS) as server:
        yield server


def test_max_offset_answers_no_items_but_the_true_total(world: World) -> None:
    n_users, n_events = post_count(world, USERS), post_count(world, AUDIT)
    with Simulator(world, rate_limits=GENEROUS, max_offset=100) as sim:
        assert len(post(sim, USERS, {"limit": 100, "page": 0}).json()["users"]) == 100
        assert post(sim, USERS, {"limit": 100, "page": 1}).json() == {"users": [], "total": n_users}
        assert len(post(sim, USERS, {"limit": 99, "page": 1}).json()["users"]) == 99  # offset 99 < 100
        assert post(sim, USERS, {"limit": 30, "page": 4}).json()["users"] == []  # offset 120
        assert post(sim, AUDIT, {"size": 50, "page": 2}).json() == {"audits": [], "total": n_events}
        assert len(post(sim, AUDIT, {"size": 50, "page": 1}).json()["audits"]) == 50
        sim.max_offset = None  # changeable at runtime
        assert len(post(sim, USERS, {"limit": 100, "page": 1}).json()["users"]) == 100
        r = requests.post(sim.base_url + "/_sim/faults", json={"max_offset": 10}, timeout=10)
        assert r.status_code == 200
        assert r.json() == {"max_offset": 10, "answer_fault": {"user_search": None, "audit_search": None}}
        assert post(sim, AUDIT, {"size": 10, "page": 1}).json()["audits"] == []
        assert len(post(sim, AUDIT, {"size": 9, "page": 1}).json()["audits"]) == 9


def post_count(world: World, path: str) -> int:
    with Simulator(world, rate_limits=GENEROUS) as plain:
        return post(plain, path, {"withTestUser": False} if path == USERS else {}).json()["total"]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("fault", FAULTS)
def test_answer_faults_bend_every_200_answer_of_their_family(sim: Simulator, family: str, fault: str) -> None:
    path, list_key, body = FAMILIES[family]
    other_path = AUDIT if family == "user_search" else USERS
    normal = post(sim, path, body).json()
    other_normal = post(sim, other_path, {}).json()
    assert len(normal[list_key]) == 7 and normal["total"] > 7
    sim.answer_fault = {family: fault}
    got = post(sim, path, body)
    data = json.loads(got.content)
    if fault == "empty_object":
        assert got.content == b"{}"
    elif fault == "missing_total":
        assert data == {list_key: normal[list_key]}
    elif fault == "string_total":
        assert data == {list_key: normal[list_key], "total": str(normal["total"])}
    elif fault == "missing_list":
        assert data == {"total": normal["total"]}
    else:
        assert data == {list_key: {str(i): item for i, item in enumerate(normal[list_key])}, "total": normal["total"]}
    assert post(sim, other_path, {}).json() == other_normal  # only that family
    sim.answer_fault = {family: None}
    assert post(sim, path, body).json() == normal


def test_faults_are_set_through_the_constructor_and_the_control_endpoint(world: World) -> None:
    with pytest.raises(ValueError, match="unknown answer fault"):
        Simulator(world, answer_fault={"user_search": "nonsense"})
    with pytest.raises(ValueError, match="endpoint family"):
        Simulator(world, answer_fault={"users": "empty_object"})
    with Simulator(world, rate_limits=GENEROUS, answer_fault={"audit_search": "missing_list"}) as sim:
        assert set(post(sim, AUDIT, {}).json()) == {"total"}
        faults = sim.base_url + "/_sim/faults"
        r = requests.post(faults, json={"answer_fault": {"user_search": "string_total"}}, timeout=10)
        assert r.json()["answer_fault"] == {"user_search": "string_total", "audit_search": "missing_list"}
        assert isinstance(post(sim, USERS, {}).json()["total"], str)
        for bad in ({"answer_fault": {"user_search": "nope"}}, {"max_offset": -1}, {"max_offset": "x"}, {"other": 1}):
            r = requests.post(faults, json=bad, timeout=10)
            assert r.status_code == 400 and r.json()["errorCode"] == "E011001", bad
        assert requests.get(faults, timeout=10).json() == {
            "max_offset": None,
            "answer_fault": {"user_search": "string_total", "audit_search": "missing_list"},
        }
        requests.post(faults, json={"answer_fault": {"user_search": None, "audit_search": None}}, timeout=10)
        assert set(post(sim, AUDIT, {}).json()) == {"audits", "total"}


def test_answer_faults_apply_on_top_of_the_omit_empty_shape() -> None:
    world = World(seed=12, users=60, dialect=Dialect(omit_empty=True))
    with Simulator(world, rate_limits=GENEROUS, answer_fault={"user_search": "string_total"}) as sim:
        assert post(sim, USERS, {"userIds": ["U2nobody"]}).content == b"{}"  # no total to bend
        one = next(iter(world.truth()["users"]))
        assert post(sim, USERS, {"userIds": [one], "withTestUser": True}).json()["total"] == "1"
        sim.answer_fault = {"user_search": "bad_list"}
        assert set(post(sim, USERS, {"userIds": [one], "withTestUser": True}).json()["users"]) == {"0"}


@pytest.mark.parametrize("family", FAMILIES)
def test_the_echo_key_fault_answers_400_quoting_the_key_only_for_its_family(sim: Simulator, family: str) -> None:
    path, _, body = FAMILIES[family]
    other_path = AUDIT if family == "user_search" else USERS
    sim.answer_fault = {family: "echo_key"}
    headers = {"Authorization": f"Bearer {sim.project_id}:{KEY}"}
    r = requests.post(sim.base_url + path, json=body, headers=headers, timeout=10)
    assert r.status_code == 400
    assert r.json()["errorCode"] == "E011001" and KEY in r.json()["errorMessage"]
    assert post(sim, other_path, {}).status_code == 200
    sim.answer_fault = {family: None}
    assert post(sim, path, body).status_code == 200
