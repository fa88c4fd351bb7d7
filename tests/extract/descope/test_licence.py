"""The licence handshake, the extractor's side: a run reads the licence once and lands in the licensed
bucket, and a licence it cannot read never stops it (the simulator's side: tests/simulator/test_licence.py)."""

from __future__ import annotations

import logging
import traceback

import pytest

from descope_sim import Licence, RateLimits
from descope_sync import catalog
from descope_sync.descope import AUDIT_SEARCH_PATH, LICENCE_PATH, USER_SEARCH_PATH, Deadline
from descope_sync.errors import BudgetExhausted, DescopeAuthError, DescopeRequestError
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from tests.conftest import latest_landed_users, logged, settings_for
from tests.extract.descope.conftest import KEY, ONE_USER, client_for, waiting_client

# Every API request a run makes, besides the licence read: the searches and the tenant list.
SEARCHES = (USER_SEARCH_PATH, "/v2/mgmt/user/search/test", AUDIT_SEARCH_PATH, catalog.api_path("tenants"))
# Licensed requests have room; a request without the matching header shares a bucket of one per window.
STRICT_WITHOUT_LICENCE = RateLimits(user_search=(100_000, 2.0), audit_search=(10, 1.0), unlicensed_share=1e-6)


def auth(sim, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.project_id}:{sim.management_key}", **extra}


def searches_served(sim) -> int:
    return sum(n for path, n in sim.stats["requests"].items() if path in SEARCHES)


def extract(sim, db, **overrides):
    return run_extract(settings_for(sim, db, **overrides), progress=SilentProgress())


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
    assert searches_served(sim) == 0 and sim.stats["requests"][LICENCE_PATH] == 1


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


# ------------------------------------------------------------------------------ the client's side, on a canned server
def test_the_licence_is_read_once_before_the_first_search_with_the_key_and_never_again(canned):
    client, sleeps, _ = waiting_client(canned.url)
    for _ in range(3):
        client.search_users({})
    client.search_audit({})
    assert [path for path, _ in canned.licence_seen] == [LICENCE_PATH]
    assert canned.licence_seen[0][1]["Authorization"] == f"Bearer P2test:{KEY}"
    assert [headers.get("x-descope-license") for _, headers in canned.seen] == ["tier2"] * 4
    assert (client.stats.licence_reads, client.stats.requests, client.rate_limit_tier) == (1, 4, "tier2")
    assert sleeps == []


LICENCE_FAILURES = [
    ((503, b'{"errorCode": "E011500"}'), "HTTP 503"),
    ((404, b"{}"), "HTTP 404"),
    ((429, b"{}", {"Retry-After": "60"}), "HTTP 429"),
    ((500, b"<html>"), "HTTP 500"),
    ((200, b"{}"), "the answer holds no rateLimitTier"),
    ((200, b'{"rateLimitTier": ""}'), "the answer holds no rateLimitTier"),
    ((200, b"[]"), "the answer holds no rateLimitTier"),
    ((200, b'{"rateLimitTier": 4}'), "the rateLimitTier is not a tier name"),
    ((200, b'{"rateLimitTier": "tier1\\r\\nX-Injected: 1"}'), "the rateLimitTier is not a tier name"),
    ((200, b"<html>"), "the answer is not JSON"),
    ((("slow", 1.0), b'{"rateLimitTier": "tier2"}'), "the request failed (ReadTimeout)"),
]


@pytest.mark.parametrize(("licence", "problem"), LICENCE_FAILURES)
def test_a_licence_that_cannot_be_read_costs_only_the_header_and_one_warning(canned, caplog, licence, problem):
    canned.licence = licence
    canned.answers = [(200, ONE_USER)] * 3
    client, sleeps, _ = waiting_client(canned.url, timeout=0.3)
    with caplog.at_level(logging.INFO, logger="descope_sync.descope"):
        pages = [client.search_users({}) for _ in range(3)]
    assert [page.total for page in pages] == [1, 1, 1]
    assert len(canned.licence_seen) == 1  # one try, no retry, never asked again
    assert ["x-descope-license" in headers for _, headers in canned.seen] == [False] * 3
    assert logged(caplog, "WARNING") == [
        f"Descope licence not read ({problem}): requests go without the x-descope-license header, so Descope "
        "may apply a stricter rate limit; extraction goes on"
    ]
    assert sleeps == [] and client.stats.retries == 0


@pytest.mark.parametrize("status", [401, 403])
def test_a_key_the_licence_endpoint_rejects_fails_at_once_as_on_any_endpoint(canned, status):
    canned.licence = (status, b'{"errorCode": "E061001"}')
    client, sleeps, _ = waiting_client(canned.url)
    with pytest.raises(DescopeAuthError) as caught:
        client.search_users({})
    assert str(caught.value) == (
        f"Descope rejected the management key ({status}) for project P2test: check DESCOPE_MANAGEMENT_KEY "
        "and DESCOPE_PROJECT_ID"
    )
    assert canned.requests == [] and sleeps == []


def test_a_key_requests_refuses_to_send_leaves_no_trace_in_the_licence_warning(canned, caplog):
    client = client_for(canned.url, key=KEY + "\r\nX-Injected: 1")
    with caplog.at_level(logging.DEBUG), pytest.raises(DescopeRequestError) as caught:
        client.search_users({})
    assert logged(caplog, "WARNING")[0].startswith("Descope licence not read (the request failed (InvalidHeader))")
    shown = "\n".join(logged(caplog)) + "".join(traceback.format_exception(caught.value))
    assert KEY not in shown and canned.licence_seen == [] and canned.requests == []


def test_a_spent_budget_reads_no_licence(canned):
    now = [100.0]
    client, _, _ = waiting_client(canned.url, deadline=Deadline(20, clock=lambda: now[0]))
    now[0] = 120.0
    with pytest.raises(BudgetExhausted):
        client.search_users({})
    assert canned.licence_seen == [] and client.stats.licence_reads == 0
