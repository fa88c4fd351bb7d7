"""Windows and the createdTime keyset (`streams/users/reader.py`): every user of an interval, under
every reading of user search, while the data moves."""

from __future__ import annotations

import json

import pytest

from descope_sim import ChaosConfig, Dialect, World
from tests.conftest import query, settings_for
from tests.extract.streams.users.conftest import assert_landing_matches_truth, extract_users, terminal_sweep, users_run


def test_full_load_lands_every_user_including_test_and_legacy_users(simulator, tmp_path):
    sim = simulator(users=400)
    db = tmp_path / "w.duckdb"
    summary = extract_users(settings_for(sim, db))
    assert summary.status == "success"
    assert_landing_matches_truth(sim, db)
    truth = sim.world.truth()["users"]
    assert any(u.get("test") for u in truth.values())
    assert any("modifiedTime" not in u for u in truth.values())
    assert query(db, "select count(*) from descope_raw.users where modified_at is null")[0][0] > 0
    runs = query(
        db,
        "select status, mode, error, details->>'reconciled', details->>'source_total', details->>'users_seen', "
        "details->>'live_before', details->>'would_remove', details->>'held', details->>'reason' "
        "from descope_raw._sync_runs where stream = 'users' and status <> 'partial'",
    )
    live = str(len(truth))
    assert runs == [("success", "full", None, "true", live, live, live, "0", "false", None)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_users_created_modified_or_deleted_between_page_requests_are_not_skipped(simulator, tmp_path, seed):
    # A burst of 20 mutations, over before the sweep's last requests (about 25 for 500 users in pages
    # of 40): a change after a run's last read is the next run's to land.
    chaos = ChaosConfig(seed=seed, p_429=0.0, p_5xx=0.0, p_malformed=0.0, p_mutation=0.6, max_mutations=20)
    sim = simulator(users=500, chaos=chaos, max_page_size=40)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    assert extract_users(settings).status == "success"
    assert sim.stats["mutations"] > 0
    assert_landing_matches_truth(sim, db)
    assert extract_users(settings).status == "success"
    assert_landing_matches_truth(sim, db)


@pytest.mark.parametrize("dialect", ["user_time_unit=s", "user_from=inclusive,user_to=exclusive", "omit_empty=true"])
def test_full_and_incremental_reads_are_exact_under_each_reading_of_user_search(simulator, tmp_path, dialect):
    sim = simulator(world=World(seed=4, users=600, dialect=Dialect.parse(dialect)), max_page_size=50)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=50)
    first = extract_users(settings)
    assert str(first.status) == "success", first.streams[0].message
    assert first.streams[0].details["filter_unit"] == ("s" if "unit=s" in dialect else "ms")
    assert_landing_matches_truth(sim, db)
    changed = {sim.world.modify_user()["userId"] for _ in range(20)} | {sim.world.create_user()["userId"]}
    second = extract_users(settings)
    assert str(second.status) == "success"
    assert_landing_matches_truth(sim, db)
    landed_again = {
        r[0] for r in query(db, "select user_id from descope_raw.users where _batch_id = ?", [f"{second.run_id}:users"])
    }
    assert changed <= landed_again


@pytest.mark.parametrize(
    ("unit", "discards"), [("ms", False), ("s", True)], ids=["keyset (ms filters)", "windows (s filters)"]
)
def test_the_window_counters_account_for_every_windowed_request(simulator, tmp_path, unit, discards):
    """details.windows + details.probes_discarded = the bounded searches made (a probe that overflowed is
    redone). The createdTime keyset of a sweep on a server whose filters are milliseconds discards none."""
    bounded: list[dict] = []

    def count_bounded(phase, endpoint, request, world):
        both = any(k.startswith("from") for k in request) and any(k.startswith("to") for k in request)
        if phase == "before" and endpoint == "user_search" and both and request.get("limit", 0) > 1:
            bounded.append(request)

    world = World(seed=7, users=600, bulk_import=0, dialect=Dialect(user_time_unit=unit))
    sim = simulator(world=world, on_request=count_bounded)
    db = tmp_path / "w.duckdb"
    stream = extract_users(settings_for(sim, db, users_page_size=50)).streams[0]
    assert str(stream.status) == "success", stream.message
    details = stream.details
    assert details["dense_windows"] == 0 and (details["probes_discarded"] > 0) == discards
    assert details["windows"] + details["probes_discarded"] == len(bounded)
    assert_landing_matches_truth(sim, db)


OLDEST_FIRST = [{"field": "createdTime", "desc": False}]


def _pages_by_user_id(sim, *, sorted_after: bool) -> None:
    """Make the simulator pick each oldest-first page by userId instead; `sorted_after`: then put
    that page in createdTime order, as a server that sorts after it limits would."""
    serve = sim._user_search

    def user_search(q, *, test_only):
        if q.get("sort") != OLDEST_FIRST:
            return serve(q, test_only=test_only)
        answer = json.loads(serve({**q, "sort": [{"field": "userId", "desc": False}]}, test_only=test_only))
        if sorted_after:
            answer["users"].sort(key=lambda u: u.get("createdTime", 0))
        return json.dumps(answer).encode()

    sim._user_search = user_search


@pytest.mark.parametrize("sorted_after", [False, True], ids=["pages in another order", "pages sorted after limit"])
def test_a_sweep_on_a_server_that_ignores_the_createdtime_order_still_proves_every_window(
    simulator, tmp_path, sorted_after
):
    """The keyset's pages are not the oldest users: no page may be accepted past a user it did not
    hold (a page out of order, or in order but not the first users, fails the count proof), so the
    sweep hands over to windows and reconciles without the unfiltered pass."""
    sim = simulator(world=World(seed=5, users=900, bulk_import=0))
    _pages_by_user_id(sim, sorted_after=sorted_after)
    db = tmp_path / "w.duckdb"
    stream = users_run(settings_for(sim, db, users_page_size=50))
    assert str(stream.status) == "success", stream.message
    assert stream.details["probes_discarded"] > 0  # the keyset gave up at least once
    terminal = terminal_sweep(db)
    assert terminal["reconciled"] is True and terminal["unfiltered_page"] == 0
    assert_landing_matches_truth(sim, db)
