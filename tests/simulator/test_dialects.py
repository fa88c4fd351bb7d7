"""The simulator plays each reading of the points where Descope's own sources disagree (real HTTP)."""

from __future__ import annotations

import dataclasses
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from descope_sim import Dialect, RateLimits, Simulator, World
from descope_sim.dialect import strip_empty

KEY = "K2sim-secret-key"
USERS = "/v2/mgmt/user/search"
AUDIT = "/v1/mgmt/audit/search"
GENEROUS = RateLimits(user_search=(100_000, 60.0), audit_search=(100_000, 60.0))
DOCUMENTED, ALTERNATE = Dialect.documented(), Dialect.alternate()


def post(sim: Simulator, path: str, body: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {sim.project_id}:{KEY}"}
    r = requests.post(sim.base_url + path, json=body, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return r


def truth_of(sim: Simulator) -> dict[str, Any]:
    return requests.get(sim.base_url + "/_sim/truth", timeout=10).json()


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


def served_users(sim: Simulator, body: dict[str, Any]) -> list[dict[str, Any]]:
    out, page = [], 0
    while True:
        got = post(sim, USERS, {**body, "limit": 500, "page": page}).json()
        out += got.get("users", [])
        if len(got.get("users", [])) < 500:
            return out
        page += 1


# ---------------------------------------------------------------------- Dialect itself
def test_presets_flip_every_point_and_parse_reads_presets_and_overrides() -> None:
    assert Dialect() == DOCUMENTED == Dialect.parse("documented")
    assert Dialect.parse("alternate") == ALTERNATE
    for f in dataclasses.fields(Dialect):
        assert getattr(DOCUMENTED, f.name) != getattr(ALTERNATE, f.name), f.name
    assert DOCUMENTED.as_dict() == {
        "audit_from": "inclusive",
        "audit_to": "exclusive",
        "audit_oldest_first": "honoured",
        "audit_page": "honoured",
        "audit_size": "honoured",
        "omit_empty": False,
        "user_time_unit": "ms",
        "user_from": "exclusive",
        "user_to": "inclusive",
        "login_flow_done": "none",
    }
    mixed = Dialect.parse("user_time_unit=s, omit_empty=true")
    assert mixed == dataclasses.replace(DOCUMENTED, user_time_unit="s", omit_empty=True)
    assert Dialect.parse("alternate,omit_empty=false") == dataclasses.replace(ALTERNATE, omit_empty=False)
    sdk_only = Dialect.parse("sdk_only")
    assert sdk_only == dataclasses.replace(
        DOCUMENTED, audit_oldest_first="ignored", audit_page="ignored", audit_size="ignored"
    )
    assert sdk_only.describe() == "sdk_only"
    assert Dialect.parse("sdk_only,audit_from=exclusive") == dataclasses.replace(sdk_only, audit_from="exclusive")
    for d in (DOCUMENTED, ALTERNATE, mixed, sdk_only, Dialect(audit_page="ignored")):
        assert Dialect.parse(d.describe()) == d
    for bad, words in (
        ("", "empty"),
        ("nope", "preset"),
        ("colour=red", "unknown dialect key"),
        ("audit_from=sometimes", "audit_from"),
        ("omit_empty=maybe", "omit_empty"),
        ("audit_from", "not key=value"),
    ):
        with pytest.raises(ValueError, match=words):
            Dialect.parse(bad)
    with pytest.raises(ValueError, match="login_flow_done"):
        Dialect(login_flow_done="sometimes")


def test_strip_empty_is_recursive_through_objects_and_lists() -> None:
    value = {"a": [{"b": 0, "c": 1}, {"d": False}], "e": {"f": ""}, "g": [0, ""], "h": None, "i": 0.0, "j": "x"}
    assert strip_empty(value) == {"a": [{"c": 1}, {}], "g": [0, ""], "j": "x"}


def test_serve_builds_its_world_in_the_dialect_it_is_given(monkeypatch, capsys) -> None:
    from descope_sim import foreground

    built: list[World] = []

    class Built(World):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            built.append(self)

    class Interrupted:
        def wait(self) -> None:
            raise KeyboardInterrupt

    monkeypatch.setattr(foreground, "World", Built)
    fake_threading = types.SimpleNamespace(Event=Interrupted, Thread=threading.Thread, Lock=threading.Lock)
    monkeypatch.setattr(foreground, "threading", fake_threading)
    foreground.serve(0, 20, False, 3, dialect="alternate")
    foreground.serve(0, 20, False, 3, dialect=Dialect(user_time_unit="s"))
    foreground.serve(0, 20, False, 3)
    assert [w.dialect for w in built] == [ALTERNATE, Dialect(user_time_unit="s"), DOCUMENTED]
    assert "dialect alternate" in capsys.readouterr().out


# ---------------------------------------------------------------------- audit
AUDIT_READINGS = [
    DOCUMENTED,
    ALTERNATE,
    Dialect(audit_from="exclusive"),
    Dialect(audit_to="inclusive"),
]


@pytest.mark.parametrize("dialect", AUDIT_READINGS, ids=lambda d: d.describe())
def test_audit_from_and_to_edges_follow_the_dialect(start, dialect: Dialect) -> None:
    clock = Clock(time.time())
    world = World(seed=4, users=40, now=clock, dialect=dialect)
    o = int(clock() * 1000) - 3_600_000
    for occurred in (o - 1, o, o + 1):
        world.add_event({"ID": f"edge{occurred}", "userId": "U2edge", "action": "EdgeProbe", "occurred": str(occurred)})
    sim = start(world)

    def got(f: int, t: int) -> set[int]:
        body = post(sim, AUDIT, {"from": f, "to": t, "actions": ["EdgeProbe"]}).json()
        return {int(e["occurred"]) for e in body.get("audits", [])}

    def expected(f: int, t: int) -> set[int]:
        after = (lambda x: x >= f) if dialect.audit_from == "inclusive" else (lambda x: x > f)
        before = (lambda x: x < t) if dialect.audit_to == "exclusive" else (lambda x: x <= t)
        return {x for x in (o - 1, o, o + 1) if after(x) and before(x)}

    for f, t in ((o, o), (o, o + 1), (o - 1, o), (o - 1, o + 1), (o - 2, o + 2)):
        assert got(f, t) == expected(f, t), (f - o, t - o)
    anchors = {DOCUMENTED: {o}, ALTERNATE: {o + 1}}
    if dialect in anchors:  # the two readings disagree on the same question
        assert got(o, o + 1) == anchors[dialect]


@pytest.mark.parametrize("dialect", [DOCUMENTED, ALTERNATE], ids=lambda d: d.describe())
def test_oldest_first_is_honoured_or_ignored(start, dialect: Dialect) -> None:
    sim = start(World(seed=4, users=120, dialect=dialect))

    def keys(body: dict[str, Any]) -> list[int]:
        return [int(e["occurred"]) for e in post(sim, AUDIT, {**body, "size": 200}).json()["audits"]]

    oldest_first, default = keys({"oldestFirst": True}), keys({})
    assert default == sorted(default, reverse=True) and len(set(default)) > 100
    if dialect.audit_oldest_first == "honoured":
        assert oldest_first == sorted(oldest_first) and oldest_first != default
    else:
        assert oldest_first == default


# ---------------------------------------------------------------------- omit_empty
def empties(value: Any, path: str = "") -> list[str]:
    """Paths of object fields holding false, 0, "", [] or {} (what protobuf JSON never emits)."""
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            if v is False or v is None or (type(v) in (int, float) and v == 0) or v in ("", [], {}):
                found.append(f"{path}.{k}")
            found += empties(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += empties(v, f"{path}[{i}]")
    return found


@pytest.mark.parametrize("dialect", [Dialect(omit_empty=True), ALTERNATE], ids=lambda d: d.describe())
def test_omit_empty_drops_every_empty_field_and_empty_answers_are_empty_objects(start, dialect: Dialect) -> None:
    sim = start(World(seed=6, users=150, dialect=dialect))
    truth = truth_of(sim)
    assert post(sim, USERS, {"userIds": ["U2nobody"]}).content == b"{}"
    assert post(sim, AUDIT, {"actions": ["NoSuchAction"]}).content == b"{}"
    past_end = post(sim, USERS, {"withTestUser": True, "limit": 100, "page": 50})
    assert past_end.json() == {"total": truth["user_count"]}
    users = served_users(sim, {"withTestUser": True})
    assert {u["userId"]: u for u in users} == truth["users"]  # the truth is what search serves
    assert empties(users) == []
    assert all("test" not in u for u in users if not u.get("test"))
    assert any(u.get("test") is True for u in users)
    assert any("verifiedPhone" not in u for u in users) and any(u.get("verifiedPhone") is True for u in users)
    audits = post(sim, AUDIT, {"size": 1000, "oldestFirst": True}).json()["audits"]
    assert empties(audits) == [] and audits
    assert all("data" not in e for e in audits)
    modified = [e for e in audits if e["action"] == "UserModified"]
    assert modified and all("method" not in e for e in modified)
    assert len(truth["events"]) == post(sim, AUDIT, {"size": 1}).json()["total"]


def test_documented_json_keeps_empty_fields_and_lists(start) -> None:
    sim = start(World(seed=6, users=150))
    assert post(sim, USERS, {"userIds": ["U2nobody"]}).json() == {"users": [], "total": 0}
    assert post(sim, AUDIT, {"actions": ["NoSuchAction"]}).json() == {"audits": [], "total": 0}
    users = served_users(sim, {"withTestUser": True})
    assert all(isinstance(u["test"], bool) and isinstance(u["verifiedPhone"], bool) for u in users)
    assert any(u["test"] is False for u in users) and any(u["phone"] == "" for u in users)
    audits = post(sim, AUDIT, {"size": 100}).json()["audits"]
    assert all(e["data"] == {} for e in audits)


# ---------------------------------------------------------------------- user time filters
USER_READINGS = [
    DOCUMENTED,
    Dialect(user_from="inclusive", user_to="exclusive"),
    Dialect(user_time_unit="s"),
    ALTERNATE,  # seconds, from inclusive, to exclusive
]


@pytest.mark.parametrize("dialect", USER_READINGS, ids=lambda d: d.describe())
def test_user_time_filters_follow_unit_and_inclusivity(start, dialect: Dialect) -> None:
    world = World(seed=8, users=300, bulk_import=17, dialect=dialect)
    sim = start(world)
    users = truth_of(sim)["users"].values()
    scale = 1000 if dialect.user_time_unit == "ms" else 1
    by_created: dict[int, set[str]] = {}
    for u in users:
        by_created.setdefault(u["createdTime"], set()).add(u["userId"])
    c, bulk = max(by_created.items(), key=lambda kv: len(kv[1]))
    assert len(bulk) == 17

    def matches(t: int, f: int | None, to: int | None) -> bool:
        v = t * 1000 if scale == 1000 else t
        ok_from = f is None or (v > f if dialect.user_from == "exclusive" else v >= f)
        ok_to = to is None or (v <= to if dialect.user_to == "inclusive" else v < to)
        return ok_from and ok_to

    def ids(field: str, f: int | None, to: int | None) -> set[str]:
        body: dict[str, Any] = {"withTestUser": True}
        if f is not None:
            body[f"from{field}"] = f
        if to is not None:
            body[f"to{field}"] = to
        return {u["userId"] for u in served_users(sim, body)}

    base = c * scale
    for f, to in ((base, base), (base - 1, base), (base, base + 1), (base - 1, base + 1), (None, base), (base, None)):
        want = {u["userId"] for u in users if matches(u["createdTime"], f, to)}
        assert ids("CreatedTime", f, to) == want, (f, to)
    exactly = (
        base if dialect.user_from == "inclusive" else base - 1,
        base if dialect.user_to == "inclusive" else base + 1,
    )
    assert ids("CreatedTime", *exactly) == bulk  # not vacuous: one reading's exact bracket of the bulk second
    other_unit = c * 1000 if scale == 1 else c
    assert ids("CreatedTime", other_unit - 1, other_unit + 1) == set()  # a value in the other unit misses it

    with_modified = [u for u in users if "modifiedTime" in u]
    m = with_modified[len(with_modified) // 2]["modifiedTime"] * scale
    for f, to in ((m, m), (m - 1, m), (m, m + 1)):
        want = {u["userId"] for u in with_modified if matches(u["modifiedTime"], f, to)}
        assert ids("ModifiedTime", f, to) == want, (f, to)
    assert ids("ModifiedTime", 0, 0) == {u["userId"] for u in users}  # 0 is no bound: legacy users too


# ---------------------------------------------------------------------- LoginFlowDone
def test_paired_login_flow_done_logs_each_login_twice_but_the_truth_counts_it_once(start) -> None:
    clock = Clock(time.time())
    plain = start(World(seed=13, users=200, now=clock))
    paired_world = World(seed=13, users=200, now=clock, dialect=Dialect(login_flow_done="paired"))
    paired = start(paired_world)

    def of(sim: Simulator, action: str) -> list[dict[str, Any]]:
        out, page = [], 0
        while True:
            got = post(sim, AUDIT, {"actions": [action], "size": 1000, "page": page, "oldestFirst": True}).json()
            out += got["audits"]
            if len(got["audits"]) < 1000:
                return out
            page += 1

    assert of(plain, "LoginFlowDone") == []
    logins, flows = of(paired, "LoginSucceed"), of(paired, "LoginFlowDone")
    assert logins == of(plain, "LoginSucceed")  # the rest of the world is the same in both dialects
    assert len(flows) == len(logins) > 300
    by_user: dict[str, list[int]] = {}
    for e in logins:
        by_user.setdefault(e["userId"], []).append(int(e["occurred"]))
    ids = {e.get("ID") for e in logins}
    for flow in flows:
        assert flow["ID"] and flow["ID"] not in ids
        assert any(1 <= int(flow["occurred"]) - t <= 40 for t in by_user[flow["userId"]])
    t_plain, t_paired = truth_of(plain), truth_of(paired)
    assert t_paired["expected_activity"] == t_plain["expected_activity"]
    assert t_paired["logins"] == logins and {e["action"] for e in t_paired["logins"]} == {"LoginSucceed"}

    uid = next(iter(t_paired["users"]))
    before = t_paired["expected_activity"][uid]["login_count"]
    done = paired_world.login(uid)
    assert done["flow_done"]["action"] == "LoginFlowDone"
    clock.t += 1  # the LoginFlowDone occurs up to 40 ms after the login
    after = truth_of(paired)
    assert after["expected_activity"][uid]["login_count"] == before + 1
    assert after["expected_activity"][uid]["last_login_time_ms"] == int(done["event"]["occurred"])
    assert [e["action"] for e in after["events"][-2:]] == ["LoginSucceed", "LoginFlowDone"]
