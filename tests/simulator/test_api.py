"""The Descope simulator speaks the API shapes the extractor relies on (real HTTP on loopback)."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from descope_sim import ChaosConfig, RateLimits, Simulator, World
from descope_sim.world import event_tiebreak
from descope_sync.contract import LOGIN_ACTIONS, event_id

KEY = "K2sim-secret-key"
USERS = "/v2/mgmt/user/search"
TEST_USERS = "/v2/mgmt/user/search/test"
AUDIT = "/v1/mgmt/audit/search"
DAY_MS = 86_400_000
GENEROUS = RateLimits(user_search=(100_000, 60.0), audit_search=(100_000, 60.0))


def post(sim: Simulator, path: str, body: Any, *, key: str = KEY, session: Any = requests) -> requests.Response:
    headers = {"Authorization": f"Bearer {sim.project_id}:{key}"}
    return session.post(sim.base_url + path, json=body, headers=headers, timeout=10)


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=11, users=300)


@pytest.fixture(scope="module")
def sim(world: World) -> Iterator[Simulator]:
    with Simulator(world, rate_limits=GENEROUS) as server:
        yield server


@pytest.fixture(scope="module")
def truth(sim: Simulator) -> dict[str, Any]:
    return requests.get(sim.base_url + "/_sim/truth", timeout=10).json()


def all_users(sim: Simulator, body: dict[str, Any], limit: int = 70) -> list[dict[str, Any]]:
    out, page = [], 0
    with requests.Session() as s:
        while True:
            got = post(sim, USERS, {**body, "limit": limit, "page": page}, session=s).json()
            out += got["users"]
            if len(got["users"]) < limit:
                return out
            page += 1


def test_bad_credentials_get_401_with_descope_error_shape_and_no_key_echo(sim: Simulator) -> None:
    for key in ("wrong", ""):
        r = post(sim, USERS, {}, key=key)
        assert r.status_code == 401
        assert r.json()["errorCode"] == "E011003"
        assert set(r.json()) == {"errorCode", "errorDescription", "errorMessage"}
        assert KEY not in r.text
    r = requests.post(sim.base_url + AUDIT, json={}, timeout=10)
    assert r.status_code == 401
    assert "secret" not in repr(sim)


def test_unknown_path_is_404_and_bad_json_is_400(sim: Simulator) -> None:
    assert post(sim, "/v1/mgmt/nothing", {}).status_code == 404
    r = requests.post(
        sim.base_url + USERS,
        data=b"{not json",
        headers={"Authorization": f"Bearer {sim.project_id}:{KEY}"},
        timeout=10,
    )
    assert r.status_code == 400
    assert r.json()["errorCode"] == "E011001"


def test_offset_pages_cover_every_user_once_and_page_past_end_is_empty(sim: Simulator, truth: dict) -> None:
    users = all_users(sim, {"withTestUser": True})
    ids = [u["userId"] for u in users]
    assert len(ids) == len(set(ids)) == len(truth["users"])
    assert set(ids) == set(truth["users"])
    assert users == [truth["users"][i] for i in ids]  # raw objects exactly as the truth has them
    past = post(sim, USERS, {"withTestUser": True, "limit": 100, "page": 50}).json()
    assert past == {"users": [], "total": len(truth["users"])}
    default = post(sim, USERS, {}).json()
    assert len(default["users"]) == 100  # default limit
    keys = [(u["createdTime"], u["userId"]) for u in users]
    assert keys == sorted(keys)  # default order: createdTime, then userId


def test_limit_above_max_page_size_is_silently_capped(world: World) -> None:
    with Simulator(world, max_page_size=20, rate_limits=GENEROUS) as small:
        r = post(small, USERS, {"limit": 500, "page": 1})
        assert r.status_code == 200
        body = r.json()
        assert len(body["users"]) == 20
        first_two_pages = post(small, USERS, {"limit": 20, "page": 0}).json()["users"] + body["users"]
        assert len({u["userId"] for u in first_two_pages}) == 40  # offset uses the capped limit


def test_modified_time_bounds_are_exclusive_from_inclusive_to_and_skip_legacy_users(
    sim: Simulator, truth: dict
) -> None:
    users = truth["users"].values()
    legacy = {u["userId"] for u in users if "modifiedTime" not in u}
    assert len(legacy) >= 0.08 * len(truth["users"])
    with_modified = [u for u in users if "modifiedTime" in u]
    target = with_modified[len(with_modified) // 2]
    m_ms = target["modifiedTime"] * 1000
    same_second = {u["userId"] for u in with_modified if u["modifiedTime"] == target["modifiedTime"]}

    def ids(body: dict[str, Any]) -> set[str]:
        return {u["userId"] for u in all_users(sim, {"withTestUser": True, **body})}

    assert ids({"fromModifiedTime": m_ms, "toModifiedTime": m_ms + 999}) == set()
    assert ids({"fromModifiedTime": m_ms - 1, "toModifiedTime": m_ms}) == same_second
    assert ids({"fromModifiedTime": m_ms - 1000, "toModifiedTime": m_ms - 1}) & same_second == set()
    everything = ids({"fromModifiedTime": 1})
    assert everything == {u["userId"] for u in with_modified}
    assert everything.isdisjoint(legacy)
    r = post(sim, USERS, {"withTestUser": True, "fromModifiedTime": 1, "limit": 1}).json()
    assert r["total"] == len(with_modified)


def test_created_time_bounds_and_the_bulk_import_second(sim: Simulator, truth: dict) -> None:
    created: dict[int, list[str]] = {}
    for u in truth["users"].values():
        created.setdefault(u["createdTime"], []).append(u["userId"])
    bulk_second, bulk = max(created.items(), key=lambda kv: len(kv[1]))
    assert len(bulk) >= 5
    assert all("modifiedTime" not in truth["users"][i] for i in bulk)
    c_ms = bulk_second * 1000
    body = {"withTestUser": True, "fromCreatedTime": c_ms - 1, "toCreatedTime": c_ms}
    got = post(sim, USERS, {**body, "limit": 1000}).json()
    assert got["total"] == len(bulk)
    assert sorted(u["userId"] for u in got["users"]) == sorted(bulk)
    assert post(sim, USERS, {**body, "fromCreatedTime": c_ms}).json()["total"] == 0
    assert post(sim, USERS, {**body, "toCreatedTime": c_ms - 1}).json()["total"] == 0
    now_s = time.time()
    assert all(u["createdTime"] <= now_s - 2 * 86_400 for u in truth["users"].values())


def test_test_users_are_excluded_unless_asked_for(sim: Simulator, truth: dict) -> None:
    test_ids = {i for i, u in truth["users"].items() if u["test"]}
    assert test_ids
    default = {u["userId"] for u in all_users(sim, {})}
    assert default == set(truth["users"]) - test_ids
    only = post(sim, TEST_USERS, {"limit": 1000}).json()
    assert {u["userId"] for u in only["users"]} == test_ids
    assert only["total"] == len(test_ids)


def test_sort_and_filters(sim: Simulator, truth: dict) -> None:
    got = post(
        sim, USERS, {"withTestUser": True, "limit": 1000, "sort": [{"field": "createdTime", "desc": True}]}
    ).json()["users"]
    assert [u["createdTime"] for u in got] == sorted((u["createdTime"] for u in got), reverse=True)
    by_id = post(sim, USERS, {"withTestUser": True, "limit": 1000, "sort": [{"field": "userId"}]}).json()
    assert [u["userId"] for u in by_id["users"]] == sorted(truth["users"])
    disabled = post(sim, USERS, {"withTestUser": True, "limit": 1000, "statuses": ["disabled"]}).json()
    assert {u["userId"] for u in disabled["users"]} == {
        i for i, u in truth["users"].items() if u["status"] == "disabled"
    }
    assert post(sim, USERS, {"sort": [{"field": "nope"}]}).status_code == 400


def test_audit_window_is_from_inclusive_to_exclusive_and_ordered(sim: Simulator, world: World) -> None:
    everything = post(sim, AUDIT, {"size": 1000, "oldestFirst": True}).json()
    assert everything["total"] == world.event_count > 1000
    assert len(everything["audits"]) == 1000  # default/maximum page size
    events = everything["audits"]
    keys = [(int(e["occurred"]), event_tiebreak(e)) for e in events]
    assert keys == sorted(keys)
    o = int(events[500]["occurred"])
    at_o = [e for e in events if int(e["occurred"]) == o]
    inclusive = post(sim, AUDIT, {"from": o, "to": o + 1, "oldestFirst": True}).json()
    assert inclusive["audits"] == at_o
    oldest = int(events[0]["occurred"])
    before_o = post(sim, AUDIT, {"from": oldest, "to": o, "oldestFirst": True, "size": 1000}).json()
    assert before_o["audits"] == [e for e in events if int(e["occurred"]) < o]
    assert before_o["total"] == len(before_o["audits"]) >= 500 - len(at_o)
    newest = post(sim, AUDIT, {"size": 5}).json()["audits"]
    newest_keys = [(int(e["occurred"]), event_tiebreak(e)) for e in newest]
    assert newest_keys == sorted(newest_keys, reverse=True)
    assert int(newest[0]["occurred"]) == max(int(e["occurred"]) for e in world.truth()["events"])
    assert all(isinstance(e["occurred"], str) and e["occurred"].isdigit() for e in events)
    assert any("ID" not in e for e in events) and any("ID" in e for e in events)
    assert post(sim, AUDIT, {"size": 5000}).json()["audits"].__len__() == 1000


def test_audit_offset_pages_cover_the_window_once(sim: Simulator, world: World) -> None:
    seen: list[tuple[int, str]] = []
    page = 0
    with requests.Session() as s:
        while True:
            got = post(sim, AUDIT, {"size": 400, "page": page}, session=s).json()
            seen += [(int(e["occurred"]), event_tiebreak(e)) for e in got["audits"]]
            if not got["audits"]:
                break
            page += 1
    assert len(seen) == len(set(seen)) == world.event_count
    filtered = post(sim, AUDIT, {"actions": ["LoginSucceed", "LoginFlowDone"], "size": 1000}).json()
    assert {e["action"] for e in filtered["audits"]} == {"LoginSucceed"}  # documented: no LoginFlowDone at all
    assert filtered["total"] == sum(e["action"] == "LoginSucceed" for e in world.truth()["events"]) > 1000
    excluded = post(sim, AUDIT, {"excludedActions": ["LoginSucceed"], "size": 1000}).json()
    assert excluded["total"] == world.event_count - filtered["total"]


def test_audit_from_older_than_retention_is_a_400(sim: Simulator) -> None:
    r = post(sim, AUDIT, {"from": int(time.time() * 1000) - 31 * DAY_MS})
    assert r.status_code == 400
    assert r.json() == {
        "errorCode": "E011001",
        "errorDescription": "Bad request",
        "errorMessage": "from is older than the 30 day retention",
    }
    assert post(sim, AUDIT, {"from": int(time.time() * 1000) - 30 * DAY_MS + 60_000}).status_code == 200


def test_rate_limit_gives_429_with_retry_after_then_recovers(world: World) -> None:
    with Simulator(world, rate_limits=RateLimits(user_search=(3, 60.0), audit_search=(3, 1.0))) as limited:
        s = requests.Session()
        assert [post(limited, AUDIT, {"size": 1}, session=s).status_code for _ in range(3)] == [200] * 3
        r = post(limited, AUDIT, {"size": 1}, session=s)
        assert r.status_code == 429
        assert r.json()["errorCode"] == "E130429"
        assert r.headers["Retry-After"] == "1"
        time.sleep(int(r.headers["Retry-After"]))
        assert post(limited, AUDIT, {"size": 1}, session=s).status_code == 200
        for _ in range(3):
            post(limited, USERS, {"limit": 1}, session=s)
        r = post(limited, TEST_USERS, {}, session=s)  # shares the user-search bucket
        assert r.status_code == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert limited.stats["served_429"] == 2


def test_chaos_mutations_between_pages_change_the_truth() -> None:
    world = World(seed=5, users=200)
    chaos = ChaosConfig(p_429=0, p_5xx=0, p_malformed=0, p_mutation=1.0)
    with Simulator(world, chaos=chaos, rate_limits=GENEROUS) as noisy:
        before = requests.get(noisy.base_url + "/_sim/truth", timeout=10).json()
        for page in range(3):
            assert post(noisy, USERS, {"page": page, "limit": 50}).status_code == 200
        after = requests.get(noisy.base_url + "/_sim/truth", timeout=10).json()
        assert noisy.stats["mutations"] >= 3
        assert before["users"] != after["users"]
        assert len(after["deleted_user_ids"]) >= len(before["deleted_user_ids"])
        audits_before = world.event_count
        post(noisy, AUDIT, {})
        assert world.event_count == audits_before  # audit requests never mutate


def test_a_new_chaos_config_applies_from_the_next_request_on() -> None:
    """A test calms a server mid-run (tests/e2e: the last run meets faults, never a change)."""
    world = World(seed=5, users=100)
    with Simulator(
        world, chaos=ChaosConfig(p_429=0, p_5xx=0, p_malformed=0, p_mutation=1.0), rate_limits=GENEROUS
    ) as sim:
        assert post(sim, USERS, {"limit": 10}).status_code == 200
        mutated = sim.stats["mutations"]
        assert mutated >= 1
        sim.chaos = ChaosConfig(p_429=0, p_5xx=0, p_malformed=0, p_mutation=0)
        for page in range(5):
            assert post(sim, USERS, {"page": page, "limit": 10}).status_code == 200
        assert sim.stats["mutations"] == mutated
        sim.chaos = ChaosConfig(p_429=1.0, p_5xx=0, p_malformed=0, p_mutation=0)
        assert post(sim, USERS, {"limit": 10}).status_code == 429


def test_chaos_serves_429s_5xx_and_malformed_bodies() -> None:
    world = World(seed=5, users=50)
    chaos = ChaosConfig(seed=3, p_429=0.25, p_5xx=0.25, p_malformed=0.3, p_mutation=0)
    seen: dict[str, int] = {"429": 0, "5xx": 0, "malformed": 0, "ok": 0}
    with Simulator(world, chaos=chaos, rate_limits=GENEROUS) as noisy, requests.Session() as s:
        for _ in range(60):
            r = post(noisy, AUDIT, {"size": 50}, session=s)
            if r.status_code == 429:
                assert r.headers["Retry-After"] == "1"
                seen["429"] += 1
            elif r.status_code >= 500:
                assert r.status_code in (500, 502, 503, 520)
                seen["5xx"] += 1
            else:
                try:
                    r.json()
                    seen["ok"] += 1
                except ValueError:
                    seen["malformed"] += 1
        stats = noisy.stats
    assert all(seen.values()), seen
    assert stats["served_5xx"] == seen["5xx"] and stats["served_malformed"] == seen["malformed"]


def client_ip_of(address: str) -> str | None:
    """The client IP in a remoteAddress as the simulator decorates them (independent of its code)."""
    if "," in address:  # a forwarded-for list: the client is the public address
        hops = [h.strip() for h in address.split(",")]
        address = next(h for h in hops if not ipaddress.ip_address(h).is_private)
    elif address.startswith("["):
        address = address[1 : address.index("]")]
    elif address.count(":") == 1:
        address = address.split(":")[0]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def test_truth_activity_is_derived_from_successful_non_impersonated_logins(truth: dict) -> None:
    logins = truth["logins"]
    assert {e["action"] for e in logins} == set(LOGIN_ACTIONS) == {"LoginSucceed"}
    assert logins == [e for e in truth["events"] if e["action"] == "LoginSucceed"]
    expected: dict[str, dict[str, Any]] = {}
    for e in logins:
        if e["userId"] not in truth["users"] or e["method"] == "Impersonate":
            continue
        row = expected.setdefault(e["userId"], {"n": 0, "first": None, "last": None})
        row["n"] += 1
        row["first"] = min(row["first"] or int(e["occurred"]), int(e["occurred"]))
        key = (int(e["occurred"]), event_id(e))
        if row["last"] is None or key > row["last"][0]:
            row["last"] = (key, e["remoteAddress"])
    never = decorated = 0
    for uid, activity in truth["expected_activity"].items():
        row = expected.get(uid)
        if row is None:
            never += 1
            assert activity == {
                "login_count": 0,
                "first_login_time_ms": None,
                "last_login_time_ms": None,
                "last_login_ip": None,
                "last_login_remote_address": None,
            }
            continue
        assert activity["login_count"] == row["n"]
        assert activity["first_login_time_ms"] == row["first"]
        assert activity["last_login_time_ms"] == row["last"][0][0]
        assert activity["last_login_remote_address"] == row["last"][1]
        assert activity["last_login_ip"] == client_ip_of(row["last"][1])
        decorated += activity["last_login_ip"] != row["last"][1]
        assert activity["first_login_time_ms"] >= truth["users"][uid]["createdTime"] * 1000
    assert set(truth["expected_activity"]) == set(truth["users"])
    assert never > 0 and decorated > 0
    oldest = min(int(e["occurred"]) for e in logins)
    assert oldest >= (time.time() - 29 * 86_400) * 1000 - 60_000


def test_world_is_deterministic_and_mutations_are_visible(world: World) -> None:
    clock = [time.time()]
    a = World(seed=3, users=120, now=lambda: clock[0])
    b = World(seed=3, users=120, now=lambda: clock[0])
    assert a.truth() == b.truth()
    clock[0] += 10
    created = a.create_user()
    user = a.user(created["userId"])
    assert user is not None
    assert user["createdTime"] == user["modifiedTime"] == int(clock[0])
    legacy = next(u for u in a.truth()["users"].values() if "modifiedTime" not in u)
    clock[0] += 5
    a.modify_user(legacy["userId"])
    assert a.user(legacy["userId"])["modifiedTime"] == int(clock[0])
    assert "modifiedTime" not in legacy  # objects handed out are never changed afterwards
    a.delete_user(created["userId"])
    assert a.user(created["userId"]) is None
    t = a.truth()
    assert created["userId"] in t["deleted_user_ids"]
    actions = {e["action"] for e in t["events"] if e.get("userId") == created["userId"]}
    assert {"UserCreated", "UserDeleted"} <= actions
    clock[0] += 1
    login = a.login(legacy["userId"])
    assert a.truth()["expected_activity"][legacy["userId"]]["last_login_time_ms"] == int(clock[0] * 1000)
    assert login["event"]["action"] == "LoginSucceed"


def test_mutate_endpoint_and_realistic_quirks(world: World, truth: dict) -> None:
    users = truth["users"].values()
    scripts = "".join(u["name"] for u in users)
    for sample in ("é", "и", "\u03b1", "م", "ש", "र", "王", "ส", "김"):
        assert any(ch in scripts for ch in sample), sample
    emails = [u["email"] for u in users]
    assert "" in emails
    assert any(e != e.strip() for e in emails) and any(e != e.lower() for e in emails)
    assert any("lastSeenRegion" in u for u in users)
    assert all(u["userId"].startswith("U2") and len(u["userId"]) == 29 for u in users)
    addresses = {e["remoteAddress"] for e in truth["logins"]}
    assert len(addresses) > 50
    other = World(seed=2, users=30)
    with Simulator(other) as s:
        done = requests.post(s.base_url + "/_sim/mutate", json={"creates": 2, "deletes": 1, "logins": 2}, timeout=10)
        assert done.status_code == 200
        body = done.json()
        assert len(body["created"]) == 2 and len(body["deleted"]) == 1 and len(body["logins"]) == 2
        assert s.stats["mutations"] == 5
        stats = requests.get(s.base_url + "/_sim/stats", timeout=10).json()
        assert stats["mutations"] == 5
