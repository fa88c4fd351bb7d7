"""Descope answers that are empty, of the wrong shape or self-contradictory move no stream's cursor: the
client refuses them or the stream proves nothing from them, on a built warehouse too."""

from __future__ import annotations

import pytest

from descope_sim import Dialect, World
from descope_sync.descope import AUDIT_SEARCH_PATH, USER_SEARCH_PATH
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from tests.conftest import cursor, query, settings_for


def extract(settings, streams=("users",)):
    return run_extract(settings, streams=list(streams), progress=SilentProgress())


def statuses(summary) -> dict[str, str]:
    return {s.stream: str(s.status) for s in summary.streams}


@pytest.mark.parametrize("dialect", ["documented", "alternate"])
def test_every_answer_empty_on_a_built_warehouse_claims_nothing(simulator, tmp_path, dialect):
    sim = simulator(world=World(seed=9, users=300, dialect=Dialect.parse(dialect)))
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    assert extract(settings, ["audit_events", "users"]).status == "success"
    users_cursor, audit_cursor = cursor(db, "users"), cursor(db, "audit_events")
    sweeps_before = query(db, "select count(*) from descope_raw._sync_runs where status = 'success' and mode = 'full'")
    for _ in range(3):
        sim.world.login()

    sim.answer_fault = {"user_search": "empty_object", "audit_search": "empty_object"}
    for refresh in (False, True):
        summary = extract(settings_for(sim, db, full_refresh=refresh), ["audit_events", "users"])
        assert summary.status in ("failed", "incomplete"), statuses(summary)
        assert statuses(summary)["users"] in ("failed", "incomplete")
        assert statuses(summary)["audit_events"] == "failed"  # the anchor event is missing from `{}`
    assert cursor(db, "users") == users_cursor and cursor(db, "audit_events") == audit_cursor
    after = query(db, "select count(*) from descope_raw._sync_runs where status = 'success' and mode = 'full'")
    assert after == sweeps_before, "a sweep that read nothing was accepted: dbt would delete every user"

    sim.answer_fault = {"user_search": None, "audit_search": None}
    assert extract(settings, ["audit_events", "users"]).status == "success"
    landed = {r[0] for r in query(db, "select event_id from descope_raw.audit_events")}
    from descope_sync.contract import event_id

    assert {event_id(e) for e in sim.world.truth()["events"]} <= landed


@pytest.mark.parametrize("fault", ["string_total", "missing_total", "bad_list", "missing_list"])
def test_answers_of_the_wrong_shape_move_no_cursor(simulator, tmp_path, fault):
    sim = simulator(users=200, max_page_size=100)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=100)
    assert extract(settings, ["audit_events", "users"]).status == "success"
    before = query(db, "select count(*) from descope_raw._sync_runs where status in ('success', 'incomplete')")
    sim.world.modify_user()
    sim.world.login()
    sim.answer_fault = {"user_search": fault, "audit_search": fault}
    summary = extract(settings_for(sim, db, users_page_size=100, full_refresh=True), ["audit_events", "users"])
    assert set(statuses(summary).values()) == {"failed"}, statuses(summary)
    after = query(db, "select count(*) from descope_raw._sync_runs where status in ('success', 'incomplete')")
    assert after == before


@pytest.mark.parametrize(
    ("stream", "path", "search"),
    [("audit_events", AUDIT_SEARCH_PATH, "search_audit"), ("users", USER_SEARCH_PATH, "search_users_raw")],
    ids=["audit_events", "users"],
)
def test_a_page_0_empty_under_a_positive_total_fails_with_an_error_naming_the_total(
    simulator, tmp_path, stream, path, search
):
    sim = simulator(users=20)
    db = tmp_path / "w.duckdb"
    setattr(sim.world, search, lambda **q: ([], 7))  # counts seven but serves none
    summary = extract(settings_for(sim, db), [stream])
    result = summary.streams[0]
    assert str(result.status) == "failed"
    assert result.message == (
        f"Descope request {path} failed 6 times, last: malformed response body (page 0 is empty but "
        "'total' is 7); nothing past the last committed cursor was recorded, so the next run resumes there"
    )
    errors = query(db, "select status, error from descope_raw._sync_runs where stream = ?", [stream])
    assert errors == [("failed", result.message)]
    assert cursor(db, stream) is None
