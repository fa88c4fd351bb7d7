"""Descope's official Python SDK (PyPI `descope`) drives the simulator exactly as a user would.

Every request the SDK sends must be accepted (no 4xx/5xx it did not cause on purpose) with the shape it
has (checked on the requests the simulator received: path, method, headers, body fields the simulator
implements), and every answer the SDK parses must come back as the data the simulator holds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from descope import AuthException, DescopeClient
from descope.management.common import Sort

from descope_sim import Licence, RateLimits, Simulator, World

USERS = "/v2/mgmt/user/search"
TEST_USERS = "/v2/mgmt/user/search/test"
AUDIT = "/v1/mgmt/audit/search"
LICENCE = "/v1/mgmt/license"
TIER = "tier2"
GENEROUS = RateLimits(user_search=(100_000, 60.0), audit_search=(100_000, 60.0), unlicensed_share=1e-6)
ALL = 1000  # one page holds every user of the world


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int


class RecordingSimulator(Simulator):
    """The simulator, recording every request it answers (headers with their names lower-cased)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[Received] = []

    def handle(self, method: str, path: str, headers: Any, body: bytes, client: str):
        status, payload, extra = super().handle(method, path, headers, body, client)
        decoded = json.loads(body) if body else None
        lowered = {name.lower(): value for name, value in headers.items()}
        self.received.append(Received(method, path, lowered, decoded, status))
        return status, payload, extra


@pytest.fixture(scope="module")
def sim() -> Iterator[RecordingSimulator]:
    with RecordingSimulator(World(seed=5, users=300), rate_limits=GENEROUS, licence=Licence(tier=TIER)) as server:
        yield server


@pytest.fixture(scope="module")
def truth(sim: RecordingSimulator) -> dict[str, Any]:
    return sim.world.truth()


@pytest.fixture(scope="module")
def sdk(sim: RecordingSimulator) -> DescopeClient:
    return DescopeClient(project_id=sim.project_id, management_key=sim.management_key, base_url=sim.base_url)


class Since:
    """The requests a simulator received from a point on (a live view)."""

    def __init__(self, sim: RecordingSimulator) -> None:
        self.sim, self.start = sim, len(sim.received)

    def __iter__(self) -> Iterator[Received]:
        return iter(self.sim.received[self.start :])

    def __getitem__(self, index: int) -> Received:
        return self.sim.received[self.start :][index]


@pytest.fixture
def received(sim: RecordingSimulator, sdk: DescopeClient) -> Iterator[Since]:
    """The requests the simulator receives during the test; afterwards each must have been accepted and
    have the SDK's shape, and no filter the SDK sent may have been ignored."""
    ignored = sim.stats["ignored_fields"]
    seen = Since(sim)
    yield seen
    assert list(seen), "the SDK sent nothing"
    for request in seen:
        assert_sdk_search_shape(sim, request)
    assert sim.stats["ignored_fields"] == ignored


def assert_sdk_search_shape(sim: Simulator, request: Received) -> None:
    assert (request.method, request.status) == ("POST", 200), request
    assert request.path in (USERS, TEST_USERS, AUDIT)
    headers = request.headers
    assert headers["authorization"] == f"Bearer {sim.project_id}:{sim.management_key}"
    assert headers["x-descope-project-id"] == sim.project_id
    assert headers["x-descope-license"] == TIER
    assert headers["content-type"] == "application/json"
    assert headers["x-descope-sdk-name"] == "python"
    assert isinstance(request.body, dict)


# ------------------------------------------------------------------------------ what to expect


def served_users(truth: dict[str, Any], *, with_test: bool = False, test_only: bool = False) -> list[dict[str, Any]]:
    """The users a search may return, in the default order (createdTime, then userId)."""
    users = [
        user
        for user in truth["users"].values()
        if (test_only and user.get("test")) or (not test_only and (with_test or not user.get("test")))
    ]
    return sorted(users, key=lambda user: (user["createdTime"], user["userId"]))


def ms_between(seconds: list[int], fraction: float) -> int:
    """An epoch-ms time half a second after the second at `fraction` of `seconds` (sorted): no user's
    time falls on it, so inclusive and exclusive bounds select the same users; only the unit matters."""
    ordered = sorted(seconds)
    return ordered[int(len(ordered) * fraction)] * 1000 + 500


def sdk_time(ms: int) -> datetime:
    """The aware datetime the SDK turns back into exactly `ms` (int(timestamp * 1000))."""
    return datetime.fromtimestamp(ms // 1000, UTC) + timedelta(milliseconds=ms % 1000, microseconds=500)


def free_ms(events: list[dict[str, Any]], index: int) -> int:
    """An epoch ms on which no event occurred, just after event `index` (oldest first)."""
    taken = {int(e["occurred"]) for e in events}
    ms = int(events[index]["occurred"]) + 1
    while ms in taken:
        ms += 1
    return ms


def as_the_sdk_reads(event: dict[str, Any]) -> dict[str, Any]:
    """What the SDK documents an audit record to be, written out independently of its converter."""
    return {
        "projectId": event["projectId"],
        "userId": event.get("userId", ""),
        "action": event["action"],
        "occurred": datetime.fromtimestamp(int(event["occurred"]) / 1000, UTC).replace(tzinfo=None),
        "device": event["device"],
        "method": event["method"],
        "geo": event["geo"],
        "remoteAddress": event["remoteAddress"],
        "loginIds": event["externalIds"],
        "tenants": event["tenants"],
        "data": event["data"],
    }


def canonical(records: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in records)


# ------------------------------------------------------------------------------ the licence handshake


def test_the_sdk_reads_the_licence_once_on_init_and_sends_its_tier_on_every_request(sim, sdk, received):
    reads = [r for r in sim.received if r.path == LICENCE]
    assert len(reads) == 1 and reads[0].method == "GET" and reads[0].status == 200
    assert [r for r in sim.received if r.path not in (USERS, TEST_USERS, AUDIT)] == reads  # init reads nothing else
    assert reads[0].headers["authorization"] == f"Bearer {sim.project_id}:{sim.management_key}"
    sdk.mgmt.user.search_all(limit=5)
    sdk.mgmt.audit.search(actions=["LoginSucceed"])
    assert [r.path for r in received] == [USERS, AUDIT]
    assert len([r for r in sim.received if r.path == LICENCE]) == 1
    assert sim.stats["licence_header"]["missing"] == sim.stats["licence_header"]["mismatched"] == 0


# ------------------------------------------------------------------------------ user search


def test_paging_through_every_user_returns_each_once_in_order_with_the_total(sdk, truth, received):
    everyone = served_users(truth, with_test=True)
    pages, page = [], 0
    while True:
        answer = sdk.mgmt.user.search_all(limit=70, page=page, with_test_user=True)
        assert answer["total"] == len(everyone) == truth["user_count"]
        pages.append(answer["users"])
        if len(answer["users"]) < 70:
            break
        page += 1
    assert [len(p) for p in pages] == [70, 70, 70, 70, 20]
    assert [u for p in pages for u in p] == everyone
    assert [r.body["page"] for r in received] == [0, 1, 2, 3, 4]
    assert {r.body["limit"] for r in received} == {70}


def test_the_default_limit_and_a_page_past_the_end(sdk, truth, received):
    first = sdk.mgmt.user.search_all()  # the SDK sends limit 0: the server's default page
    assert first["users"] == served_users(truth)[:100] and first["total"] == len(served_users(truth))
    past = sdk.mgmt.user.search_all(limit=100, page=50)
    assert past == {"users": [], "total": len(served_users(truth))}
    assert received[0].body["limit"] == 0


def _one(truth: dict[str, Any], has: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    return next(u for u in served_users(truth) if has(u))


def time_filter(kind: str, seconds: list[int]) -> tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]:
    """from/to bounds (epoch ms, as the SDK documents) around the middle third of the users' times."""
    lo, hi = ms_between(seconds, 0.3), ms_between(seconds, 0.6)
    field = f"{kind}Time"
    return (
        {f"from_{kind}_time": lo, f"to_{kind}_time": hi},
        lambda u: field in u and lo < u[field] * 1000 < hi,
    )


USER_FILTERS: dict[str, Callable[[dict[str, Any]], tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]]] = {
    "statuses": lambda t: ({"statuses": ["disabled", "invited"]}, lambda u: u["status"] in ("disabled", "invited")),
    "emails": lambda t: (
        {"emails": [e := _one(t, lambda u: u["email"])["email"]]},
        lambda u: u["email"] == e,
    ),
    "tenant_ids": lambda t: (
        {"tenant_ids": [tid := _one(t, lambda u: u["userTenants"])["userTenants"][0]["tenantId"]]},
        lambda u: tid in [x["tenantId"] for x in u["userTenants"]],
    ),
    "role_names": lambda t: ({"role_names": ["admin"]}, lambda u: "admin" in u["roleNames"]),
    "text": lambda t: (
        {"text": "GLOBEX"},
        lambda u: (
            any("globex" in v.lower() for v in u.values() if isinstance(v, str))
            or any("globex" in v.lower() for vs in u.values() if isinstance(vs, list) for v in vs if isinstance(v, str))
        ),
    ),
    "login_ids": lambda t: (
        {"login_ids": [lid := _one(t, lambda u: u["loginIds"])["loginIds"][0]]},
        lambda u: lid in u["loginIds"],
    ),
    "phones": lambda t: ({"phones": [p := _one(t, lambda u: u["phone"])["phone"]]}, lambda u: u["phone"] == p),
    "user_ids": lambda t: (
        {"user_ids": (ids := [u["userId"] for u in served_users(t)[10:13]])},
        lambda u: u["userId"] in ids,
    ),
    "created": lambda t: time_filter("created", [u["createdTime"] for u in served_users(t)]),
    "modified": lambda t: time_filter("modified", [u["modifiedTime"] for u in served_users(t) if "modifiedTime" in u]),
}


@pytest.mark.parametrize("name", list(USER_FILTERS))
def test_each_user_filter_the_sdk_sends_is_applied(sdk, truth, received, name):
    kwargs, keep = USER_FILTERS[name](truth)
    expected = [u for u in served_users(truth) if keep(u)]
    assert 0 < len(expected) < len(served_users(truth)) / 2, "a filter that keeps all or nothing proves little"
    answer = sdk.mgmt.user.search_all(limit=ALL, **kwargs)
    assert answer["users"] == expected
    assert answer["total"] == len(expected)


def test_test_users_are_left_out_included_or_alone_as_the_sdk_asks(sdk, truth, received):
    test_users = served_users(truth, test_only=True)
    assert test_users
    assert sdk.mgmt.user.search_all(limit=ALL)["users"] == served_users(truth)
    assert sdk.mgmt.user.search_all(limit=ALL, with_test_user=True)["users"] == served_users(truth, with_test=True)
    assert sdk.mgmt.user.search_all(limit=ALL, test_users_only=True)["users"] == test_users
    assert sdk.mgmt.user.search_all_test_users(limit=ALL)["users"] == test_users
    assert [r.path for r in received] == [USERS, USERS, USERS, TEST_USERS]


@pytest.mark.parametrize(("field", "desc"), [("email", True), ("createdTime", True), ("userId", False)])
def test_the_sdks_sort_orders_the_users(sdk, truth, received, field, desc):
    answer = sdk.mgmt.user.search_all(limit=ALL, sort=[Sort(field, desc=desc)])
    keys = [u[field] for u in answer["users"]]
    assert keys == sorted(keys, reverse=desc)
    assert canonical(answer["users"]) == canonical(served_users(truth))
    assert received[0].body["sort"] == [{"field": field, "desc": desc}]


# ------------------------------------------------------------------------------ audit search


def test_an_audit_time_range_returns_the_events_in_it_newest_first_as_the_sdk_reads_them(sdk, truth, received):
    events = truth["events"]
    lo, hi = free_ms(events, len(events) // 2), free_ms(events, len(events) // 2 + 400)
    expected = [as_the_sdk_reads(e) for e in events if lo < int(e["occurred"]) < hi]
    assert 300 < len(expected) < 1000
    audits = sdk.mgmt.audit.search(from_ts=sdk_time(lo), to_ts=sdk_time(hi))["audits"]
    assert canonical(audits) == canonical(expected)
    occurred = [a["occurred"] for a in audits]
    assert occurred == sorted(occurred, reverse=True)
    assert (received[0].body["from"], received[0].body["to"]) == (lo, hi)


def test_without_a_range_the_sdk_reads_the_newest_thousand_events_of_the_retention(sdk, truth, received):
    events = truth["events"]
    assert len(events) > 1000
    audits = sdk.mgmt.audit.search()["audits"]
    assert canonical(audits) == canonical([as_the_sdk_reads(e) for e in events[-1000:]])
    assert received[0].body == {"noTenants": False}


def test_an_empty_audit_window_parses_as_no_events(sdk, truth, received):
    newest = int(truth["events"][-1]["occurred"])
    assert sdk.mgmt.audit.search(from_ts=sdk_time(newest + 1), to_ts=sdk_time(newest + 2)) == {"audits": []}


AUDIT_FILTERS: dict[str, Callable[[dict[str, Any]], tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]]] = {
    "actions": lambda t: ({"actions": ["LoginFailed"]}, lambda e: e["action"] == "LoginFailed"),
    "excluded_actions": lambda t: ({"excluded_actions": ["LoginSucceed"]}, lambda e: e["action"] != "LoginSucceed"),
    "user_ids": lambda t: ({"user_ids": [uid := t["events"][-1]["userId"]]}, lambda e: e.get("userId") == uid),
    "devices": lambda t: ({"devices": ["Mobile", "Bot"]}, lambda e: e["device"] in ("Mobile", "Bot")),
    "methods": lambda t: ({"methods": ["otp"]}, lambda e: e["method"] == "otp"),
    "remote_addresses": lambda t: (
        {"remote_addresses": [a := t["events"][-3]["remoteAddress"]]},
        lambda e: e["remoteAddress"] == a,
    ),
    "geos": lambda t: ({"geos": ["DE", "JP"]}, lambda e: e["geo"] in ("DE", "JP")),
    "tenants": lambda t: (
        {"tenants": [tid := next(e for e in t["events"] if e["tenants"])["tenants"][0]]},
        lambda e: tid in e["tenants"],
    ),
    "tenants_or_none": lambda t: (
        {"tenants": [tid := next(e for e in t["events"] if e["tenants"])["tenants"][0]], "no_tenants": True},
        lambda e: tid in e["tenants"] or not e["tenants"],
    ),
    "login_ids": lambda t: (
        {"login_ids": [lid := next(e for e in t["events"] if e["externalIds"])["externalIds"][0]]},
        lambda e: lid in e["externalIds"],
    ),
    "text": lambda t: (
        {"text": "TABLET"},
        lambda e: (
            any("tablet" in v.lower() for v in e.values() if isinstance(v, str))
            or any("tablet" in v.lower() for vs in e.values() if isinstance(vs, list) for v in vs if isinstance(v, str))
        ),
    ),
}


@pytest.mark.parametrize("name", list(AUDIT_FILTERS))
def test_each_audit_filter_the_sdk_sends_is_applied(sdk, truth, received, name):
    kwargs, keep = AUDIT_FILTERS[name](truth)
    events = truth["events"]
    lo, hi = free_ms(events, 300), free_ms(events, len(events) - 2)
    expected = [as_the_sdk_reads(e) for e in events if lo < int(e["occurred"]) < hi and keep(e)]
    assert 0 < len(expected) < 1000
    audits = sdk.mgmt.audit.search(from_ts=sdk_time(lo), to_ts=sdk_time(hi), **kwargs)["audits"]
    assert canonical(audits) == canonical(expected)


# ------------------------------------------------------------------------------ what the SDK causes on purpose


def test_a_wrong_key_is_refused_to_the_sdk_with_descopes_error_shape(caplog):
    with RecordingSimulator(World(seed=5, users=10), rate_limits=GENEROUS) as sim:
        with caplog.at_level(logging.WARNING, logger="descope"):
            wrong = DescopeClient(project_id=sim.project_id, management_key="K2-wrong-key-0", base_url=sim.base_url)
        assert [r.getMessage() for r in caplog.records] == ["License handshake returned non-success status 401"]
        with pytest.raises(AuthException) as caught:
            wrong.mgmt.user.search_all()
    assert caught.value.status_code == 401 and "E011003" in caught.value.error_message
    assert [(r.method, r.path, r.status) for r in sim.received] == [("GET", LICENCE, 401), ("POST", USERS, 401)]
    assert "x-descope-license" not in sim.received[-1].headers  # no tier was read
