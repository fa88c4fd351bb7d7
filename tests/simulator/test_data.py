"""Data the extractor's tests need: late indexing, bulk and silent deletions, poison records,
dense seconds and decorated addresses, as served over real HTTP and as the truth states them."""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from descope_sim import Dialect, RateLimits, Simulator, World
from descope_sim.world import event_tiebreak
from descope_sync.contract import event_id

KEY = "K2sim-secret-key"
USERS = "/v2/mgmt/user/search"
TEST_USERS = "/v2/mgmt/user/search/test"
AUDIT = "/v1/mgmt/audit/search"
DAY_MS = 86_400_000
GENEROUS = RateLimits(user_search=(100_000, 60.0), audit_search=(100_000, 60.0))


def post(sim: Simulator, path: str, body: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {sim.project_id}:{KEY}"}
    r = requests.post(sim.base_url + path, json=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r


def truth_of(sim: Simulator) -> dict[str, Any]:
    r = requests.get(sim.base_url + "/_sim/truth", timeout=30)
    assert r.status_code == 200
    return r.json()


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def start() -> Iterator[Callable[..., Simulator]]:
    started: list[Simulator] = []

    def make(world: World, **kwargs: Any) -> Simulator:
        sim = Simulator(world, rate_limits=GENEROUS, **kwargs).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def audits(sim: Simulator, body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    out, page = [], 0
    while True:
        got = post(sim, AUDIT, {**(body or {}), "size": 1000, "page": page, "oldestFirst": True}).json()
        out += got["audits"]
        if len(got["audits"]) < 1000:
            return out
        page += 1


def user_ids(sim: Simulator, body: dict[str, Any] | None = None) -> list[str | None]:
    got = post(sim, USERS, {"withTestUser": True, "limit": 1000, **(body or {})}).json()
    return [u.get("userId") for u in got["users"]]


# ---------------------------------------------------------------------- late indexing
def test_an_event_is_searchable_only_once_indexed_and_the_truth_counts_only_indexed_events(start) -> None:
    clock = Clock(time.time())
    world = World(seed=21, users=80, now=clock, index_delay_ms=(2_000, 5_000))
    sim = start(world)
    before = truth_of(sim)
    assert before["pending_events"] == 0 and len(before["events"]) == world.event_count
    uid = next(iter(before["users"]))
    count = before["expected_activity"][uid]["login_count"]
    login = world.login(uid)
    assert login["visible"] is False
    now_ms = int(clock() * 1000)
    window = {"from": now_ms - 60_000, "to": now_ms + 60_000, "userIds": [uid]}
    assert all(e.get("ID") != login["event"].get("ID") or "ID" not in e for e in audits(sim, window))
    assert post(sim, AUDIT, {"size": 1}).json()["total"] == len(before["events"])
    pending = truth_of(sim)
    assert pending["pending_events"] == 1 and pending["events"] == before["events"]
    assert pending["expected_activity"][uid]["login_count"] == count
    clock.t += 5.0  # every delay has passed
    after = truth_of(sim)
    assert after["pending_events"] == 0 and len(after["events"]) == len(before["events"]) + 1
    assert after["expected_activity"][uid]["login_count"] == count + 1
    assert [e["occurred"] for e in audits(sim, window)] == [login["event"]["occurred"]]


def test_events_that_occurred_in_the_past_can_be_indexed_only_now(start) -> None:
    clock = Clock(time.time())
    world = World(seed=22, users=60, now=clock)
    sim = start(world)
    now_ms = int(clock() * 1000)
    window = {"from": now_ms - 2 * 3_600_000, "to": now_ms - 3_600_000}
    read_before = audits(sim, window)  # a reader has read this window already
    uid = next(iter(world.truth()["users"]))
    late = world.login(uid, occurred_ms=now_ms - 90 * 60_000)
    assert late["visible"] is True
    world.add_event(
        {"ID": "late-and-later", "userId": uid, "action": "LoginSucceed", "occurred": str(now_ms - 80 * 60_000)},
        visible_from_ms=now_ms + 10_000,
    )
    got = audits(sim, window)
    assert len(got) == len(read_before) + 1
    assert [e for e in got if e not in read_before] == [json.loads(json.dumps(late["event"]))]
    assert world.truth()["pending_events"] == 1
    clock.t += 10
    assert len(audits(sim, window)) == len(read_before) + 2
    assert world.truth()["expected_activity"][uid]["login_count"] >= 2


def test_generated_history_is_indexed_late_too() -> None:
    clock = Clock(time.time())
    world = World(seed=23, users=150, now=clock, index_delay_ms=(0, DAY_MS))
    truth = world.truth()
    assert truth["pending_events"] > 10 and truth["events"]
    newest = max(int(e["occurred"]) for e in truth["events"])
    assert newest < clock() * 1000
    clock.t += 86_400
    later = world.truth()
    assert later["pending_events"] == 0
    assert len(later["events"]) == len(truth["events"]) + truth["pending_events"]
    assert World(seed=23, users=150, now=clock).truth()["pending_events"] == 0


# ---------------------------------------------------------------------- deletions
def test_bulk_single_and_silent_deletions(start) -> None:
    world = World(seed=24, users=120)
    sim = start(world)
    truth = truth_of(sim)
    ids = [u for u, obj in truth["users"].items() if not obj["test"]]
    bulk, single, silent = ids[:3], ids[3:5], ids[5:7]
    done = world.delete_users(bulk, event="bulk")
    world.delete_users(single, event="single")
    world.delete_users(silent[:1], event=None)
    world.delete_user(silent[1], emit_event=False)
    remaining = set(user_ids(sim))
    assert remaining.isdisjoint(bulk + single + silent)
    assert len(remaining) == len(truth["users"]) - 7
    (event,) = audits(sim, {"actions": ["UsersDeleted"]})
    assert event == done["events"][0]
    assert "userId" not in event and event["actorId"].startswith("U2") and event["actorId"] not in ids
    assert event["data"] == {"userIds": bulk}
    assert event["externalIds"] == [truth["users"][u]["loginIds"][0] for u in bulk]
    singles = audits(sim, {"actions": ["UserDeleted"], "userIds": single + silent})
    assert sorted(e["userId"] for e in singles) == sorted(single)
    after = truth_of(sim)
    assert after["deleted_user_ids"][-7:] == bulk + single + silent
    assert after["user_count"] == len(after["users"]) == len(truth["users"]) - 7
    with pytest.raises(LookupError):
        world.delete_users([ids[10], "U2nobody"])
    assert ids[10] in set(user_ids(sim))  # checked before anything is deleted


def test_bulk_deletion_ids_in_external_ids_and_deleting_every_test_user(start) -> None:
    world = World(seed=25, users=300, bulk_ids_in="externalIds")
    sim = start(world)
    tests = set(user_ids(sim, {"testUsersOnly": True}))
    assert len(tests) >= 3
    done = world.delete_test_users()
    assert set(done["userIds"]) == tests
    assert post(sim, TEST_USERS, {}).json() == {"users": [], "total": 0}
    (event,) = audits(sim, {"actions": ["UsersDeleted"]})
    assert set(event["externalIds"]) == tests and event["data"] == {} and "userId" not in event
    assert tests <= set(truth_of(sim)["deleted_user_ids"])
    assert world.delete_test_users() == {"op": "delete_users", "userIds": [], "events": []}
    assert len(audits(sim, {"actions": ["UsersDeleted"]})) == 1


# ---------------------------------------------------------------------- poison records
def test_put_user_records_are_served_verbatim_as_valid_json(start) -> None:
    world = World(seed=26, users=50)
    sim = start(world)
    now_s = int(time.time())
    base = {"status": "enabled", "test": False, "loginIds": ["x@example.com"], "modifiedTime": now_s}
    poison = {
        "surrogate": {**base, "userId": "U2surrogate", "name": "bad \ud800 name", "createdTime": now_s - 10},
        "huge": {**base, "userId": "U2huge", "customAttributes": {"blob": "é" * 500_000}, "createdTime": now_s - 9},
        "future": {**base, "userId": "U2future", "createdTime": 99_999_999_999_999},
        "epoch": {**base, "userId": "U2epoch", "createdTime": 0},
        "no_created": {**base, "userId": "U2nocreated"},
        "no_modified": {"userId": "U2nomodified", "createdTime": now_s - 8, "name": "ok", "test": False},
        "odd_types": {"userId": "U2oddtypes", "createdTime": "yesterday", "userTenants": "none", "email": 7},
        "no_id": {"email": "orphan@example.com", "createdTime": now_s - 7, "tags": [None, 1.5]},
    }
    for obj in poison.values():
        world.put_user(obj)
    raw = post(sim, USERS, {"userIds": ["U2surrogate"]})
    assert b'"bad \\ud800 name"' in raw.content  # the JSON escape: UTF-8 cannot carry it
    raw.content.decode("utf-8")  # and the rest of the body is valid UTF-8
    assert raw.json()["users"] == [poison["surrogate"]]
    huge = post(sim, USERS, {"userIds": ["U2huge"]})
    assert len(huge.content) > 1_000_000 and huge.json()["users"] == [poison["huge"]]

    everything = post(sim, USERS, {"withTestUser": True, "limit": 1000}).json()
    served = everything["users"]
    assert everything["total"] == len(served) == 50 + len(poison)
    for obj in poison.values():
        assert served.count(obj) == 1
    first = {u.get("userId") for u in served[:2]}
    assert first == {"U2nocreated", "U2oddtypes"}  # no usable createdTime: first in createdTime order
    assert served[-1]["userId"] == "U2future"
    created = {"fromCreatedTime": 1, "toCreatedTime": 99_999_999_999_999_000}
    with_bound = set(user_ids(sim, created))
    assert {"U2future", "U2surrogate", None} <= with_bound  # None: the record without a userId
    assert with_bound.isdisjoint({"U2nocreated", "U2oddtypes", "U2epoch"})  # 0 * 1000 is not > 1
    to_only = set(user_ids(sim, {"toCreatedTime": 1000}))
    assert "U2epoch" in to_only and to_only.isdisjoint({"U2nocreated", "U2oddtypes"})
    assert "U2nomodified" not in user_ids(sim, {"fromModifiedTime": 1})
    assert set(user_ids(sim, {"fromModifiedTime": now_s * 1000 - 1})) == {
        "U2surrogate",
        "U2huge",
        "U2future",
        "U2epoch",
        "U2nocreated",
    }
    assert user_ids(sim, {"userIds": ["U2oddtypes"], "tenantIds": ["T2x"]}) == []  # odd types do not break filters

    truth = truth_of(sim)  # the truth is valid JSON too, surrogate and all
    assert truth["users"]["U2surrogate"]["name"] == "bad \ud800 name"
    assert truth["users_without_id"] == [poison["no_id"]]
    assert truth["user_count"] == everything["total"] == len(truth["users"]) + 1
    assert truth["expected_activity"]["U2future"]["login_count"] == 0

    replaced = {**poison["future"], "createdTime": now_s - 5, "name": "fixed"}
    world.put_user(replaced)
    assert post(sim, USERS, {"userIds": ["U2future"]}).json() == {"users": [replaced], "total": 1}
    world.login("U2huge", remote_address="8.8.4.4")
    assert truth_of(sim)["expected_activity"]["U2huge"]["last_login_ip"] == "8.8.4.4"
    world.delete_user("U2surrogate")
    assert "U2surrogate" in truth_of(sim)["deleted_user_ids"]


def test_put_user_records_are_verbatim_in_the_omit_empty_dialect_too(start) -> None:
    world = World(seed=26, users=20, dialect=Dialect(omit_empty=True))
    sim = start(world)
    obj = {"userId": "U2zeros", "createdTime": 0, "test": False, "roleNames": [], "name": ""}
    world.put_user(obj)
    assert post(sim, USERS, {"userIds": ["U2zeros"]}).json() == {"users": [obj], "total": 1}


# ---------------------------------------------------------------------- dense seconds
@pytest.mark.parametrize("n", [0, 1, 40])
def test_bulk_import_sets_exactly_how_many_users_share_one_second(start, n: int) -> None:
    sim = start(World(seed=27, users=200, bulk_import=n))
    seconds: dict[int, int] = {}
    for u in truth_of(sim)["users"].values():
        seconds[u["createdTime"]] = seconds.get(u["createdTime"], 0) + 1
    if n > 1:
        second, count = max(seconds.items(), key=lambda kv: kv[1])
        assert count == n
        body = {"fromCreatedTime": second * 1000 - 1, "toCreatedTime": second * 1000, "withTestUser": True}
        assert post(sim, USERS, body).json()["total"] == n
    else:
        assert max(seconds.values()) <= 2  # no dense second left but chance
    with pytest.raises(ValueError):
        World(seed=27, users=10, bulk_import=11)


def test_default_bulk_import_is_three_percent() -> None:
    counts: dict[int, int] = {}
    for u in World(seed=28, users=1000).truth()["users"].values():
        counts[u["createdTime"]] = counts.get(u["createdTime"], 0) + 1
    assert max(counts.values()) == 1005 * 3 // 100  # ghosts included in the draw, as before


# ---------------------------------------------------------------------- addresses
DECORATED = {
    "ip:port": re.compile(r"^\d+\.\d+\.\d+\.\d+:\d+$"),
    "[ipv6]:port": re.compile(r"^\[[0-9a-f:]+\]:\d+$"),
    "client, proxy": re.compile(r"^\d+\.\d+\.\d+\.\d+, (10|172|192)\.[\d.]+$"),
    "proxy, client": re.compile(r"^(10|172|192)\.[\d.]+, \d+\.\d+\.\d+\.\d+$"),
}


def test_some_events_carry_decorated_addresses_and_the_truth_keeps_the_client_ip(start) -> None:
    world = World(seed=29, users=600)
    sim = start(world)
    events = audits(sim)
    addresses = [e["remoteAddress"] for e in events]
    share = sum(any(p.match(a) for p in DECORATED.values()) for a in addresses) / len(addresses)
    assert 0.02 < share < 0.045
    for name, pattern in DECORATED.items():
        assert any(pattern.match(a) for a in addresses), name
    assert {"", "unknown", "1.2.3"} & set(addresses)
    truth = truth_of(sim)
    seen = set()
    for activity in truth["expected_activity"].values():
        raw, ip = activity["last_login_remote_address"], activity["last_login_ip"]
        if raw is None:
            continue
        if raw in ("", "unknown", "1.2.3"):
            assert ip is None
            seen.add("invalid")
        elif raw.startswith("["):
            assert ip == raw[1 : raw.index("]")]
            seen.add("v6")
        elif "," in raw:
            hops = raw.split(", ")
            assert ip in hops and not ipaddress.ip_address(ip).is_private
            seen.add("list")
        elif ":" in raw and "." in raw:
            assert ip == raw.split(":")[0]
            seen.add("port")
        else:
            assert ip == raw
    assert {"v6", "list", "port"} <= seen
    assert len(truth["event_client_ips"]) == len(truth["events"]) == len(events)
    for event, ip in zip(truth["events"], truth["event_client_ips"], strict=True):
        raw = event["remoteAddress"]
        assert ip == raw or (ip in raw and raw != ip and any(p.match(raw) for p in DECORATED.values())), raw


def test_last_login_ip_and_tie_break_on_the_same_millisecond(start) -> None:
    clock = Clock(time.time())
    world = World(seed=30, users=40, now=clock)
    sim = start(world)
    uid = next(iter(world.truth()["users"]))
    world.login(uid, remote_address="10.0.0.1, 8.8.8.8", client_ip="8.8.8.8")
    activity = truth_of(sim)["expected_activity"][uid]
    assert (activity["last_login_ip"], activity["last_login_remote_address"]) == ("8.8.8.8", "10.0.0.1, 8.8.8.8")
    clock.t += 1
    world.login(uid, remote_address="192.168.0.4")
    assert truth_of(sim)["expected_activity"][uid]["last_login_ip"] == "192.168.0.4"  # private is still an IP
    clock.t += 1
    world.login(uid, remote_address="unknown")
    assert truth_of(sim)["expected_activity"][uid]["last_login_ip"] is None
    # Two logins in one millisecond: the last is the greater contract.event_id (what dbt uses), which is
    # not the order audit search sorts them in: pick a pair where the two disagree.
    clock.t += 1
    occurred = str(int(clock() * 1000))
    a = {"userId": uid, "action": "LoginSucceed", "occurred": occurred, "method": "otp", "remoteAddress": "1.1.1.1"}
    b = next(
        candidate
        for i in range(2, 200)
        for candidate in [{**a, "remoteAddress": f"1.1.1.{i}"}]  # no ID: both tie-breaks hash
        if (event_id(candidate) > event_id(a)) != (event_tiebreak(candidate) > event_tiebreak(a))
    )
    world.add_event(a)
    world.add_event(b)
    world.add_event({**a, "action": "Odd", "ID": 12345})  # a non-string ID does not break the sort
    winner = max((a, b), key=event_id)
    activity = truth_of(sim)["expected_activity"][uid]
    assert activity["last_login_remote_address"] == winner["remoteAddress"]
    assert activity["last_login_time_ms"] == int(occurred)
