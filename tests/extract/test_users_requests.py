"""What the users stream spends in user searches (Descope allows 200 a minute), and the remembered
server profile that lets an idle run spend two: kept only while no answer contradicts it."""

from __future__ import annotations

import dataclasses
import json

import pytest

from descope_sim import Dialect, World
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.timeutil import from_ms
from tests.conftest import cursor, latest_landed_users, query, settings_for

SEARCH = "/v2/mgmt/user/search"


def searches(sim) -> int:
    return int(sim.stats["requests"].get(SEARCH, 0))


def users_run(settings, now=None):
    kwargs = {"now": now} if now is not None else {}
    return run_extract(settings, streams=["users"], progress=SilentProgress(), **kwargs).streams[0]


def assert_landing_matches_truth(sim, db):
    truth = sim.world.truth()["users"]
    landed = latest_landed_users(db)
    assert {uid: landed.get(uid) for uid in truth} == truth


def test_a_full_sweep_costs_at_most_1_1_searches_a_page_and_an_idle_run_two(simulator, tmp_path):
    """10,000 users in pages of 100: the shape of 100,000 in pages of 1,000 (plain paging: 100 searches).
    Without the simulator's bulk-import second (3% of the users in one second: its one-second window
    and offset pages cost two searches more than its pages, which the bench's 100k figure includes)."""
    sim = simulator(world=World(seed=1, users=10_000, bulk_import=0))
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=100)
    before = searches(sim)
    sweep = users_run(settings)
    assert str(sweep.status) == "success" and sweep.details["mode"] == "full", sweep.message
    pages = len(sim.world.truth()["users"]) / 100
    assert searches(sim) - before <= 1.1 * pages
    assert_landing_matches_truth(sim, db)
    for _ in range(2):
        before = searches(sim)
        idle = users_run(settings)
        assert str(idle.status) == "success" and idle.details["mode"] == "incremental", idle.message
        assert idle.details["profile_probed"] is False
        assert searches(sim) - before <= 2


def _fixed_clock(simulator, dialect, users=30):
    clock = [1_800_000_000.0]
    world = World(seed=3, users=users, bulk_import=0, now=lambda: clock[0], dialect=dialect)

    def now():
        clock[0] += 0.001
        return from_ms(round(clock[0] * 1000))

    return simulator(world=world), clock, now


@pytest.mark.parametrize(("was", "now_is"), [("ms", "s"), ("s", "ms")])
def test_a_server_that_changed_its_filter_unit_is_noticed_and_probed_again(simulator, tmp_path, was, now_is):
    """A remembered unit that is wrong reads a modifiedTime window as another one: milliseconds read as
    seconds select nobody (the newest user, modified inside the window, says someone is there), and
    seconds read as milliseconds select users outside it. Either way the run probes again before the
    answer lands or moves the cursor, and lands the change. Pages of 5: a superset of the window
    would fit one page of 1,000 (harmless); in pages of 5 the run must read windows."""
    sim, clock, now = _fixed_clock(simulator, Dialect(user_time_unit=was))
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, users_page_size=5)
    assert str(users_run(settings, now).status) == "success"
    clock[0] += 100
    assert users_run(settings, now).details["profile_probed"] is False  # remembered, and right
    sim.world.dialect = dataclasses.replace(sim.world.dialect, user_time_unit=now_is)
    clock[0] += 100
    changed = sim.world.modify_user()["userId"]
    swept_to = cursor(db, "users")
    stream = users_run(settings, now)
    assert str(stream.status) == "success", stream.message
    assert "profile_contradicted" in stream.details and stream.details["filter_unit"] == now_is
    assert latest_landed_users(db)[changed] == sim.world.truth()["users"][changed]
    assert cursor(db, "users") > swept_to
    assert_landing_matches_truth(sim, db)
    profiles = query(db, "select details from descope_raw._sync_runs where stream = 'users' and status = 'success'")
    assert json.loads(profiles[-1][0])["profile"]["unit"] == now_is


def test_a_server_that_began_omitting_empty_values_is_noticed_and_probed_again(simulator, tmp_path):
    """Remembered: the server sends empty lists and zero totals. The same users now come from a server
    that omits them: the first empty answer contradicts the profile, and the run probes again."""
    sim, clock, now = _fixed_clock(simulator, Dialect())
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db)
    assert str(users_run(settings, now).status) == "success"
    sim.stop()
    protobuf, clock2, _ = _fixed_clock(simulator, Dialect(omit_empty=True))
    clock2[0] = clock[0] = clock[0] + 100
    settings = settings_for(protobuf, db)
    stream = users_run(settings, now)
    assert str(stream.status) == "success", stream.message
    assert "profile_contradicted" in stream.details and stream.details["profile_probed"] is True
    profiles = query(db, "select details from descope_raw._sync_runs where stream = 'users' and status = 'success'")
    assert json.loads(profiles[-1][0])["profile"]["explicit_empty"] is False


def test_a_profile_older_than_a_week_is_probed_again(simulator, tmp_path):
    sim, clock, now = _fixed_clock(simulator, Dialect())
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, reconcile_days=30)
    assert str(users_run(settings, now).status) == "success"
    clock[0] += 6 * 86_400
    assert users_run(settings, now).details["profile_probed"] is False
    clock[0] += 2 * 86_400  # probed 8 days ago: the last run remembered it, it did not probe
    assert users_run(settings, now).details["profile_probed"] is True


def _terminal_sweep(db):
    return json.loads(
        query(
            db,
            "select details from descope_raw._sync_runs where stream = 'users' and (details->>'phase') = 'done' "
            "order by finished_at desc limit 1",
        )[0][0]
    )


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
    terminal = _terminal_sweep(db)
    assert terminal["reconciled"] is True and terminal["unfiltered_page"] == 0
    assert_landing_matches_truth(sim, db)


def test_a_user_imported_behind_the_sweep_without_a_modified_time_keeps_a_quiet_sweep_unaccepted(simulator, tmp_path):
    """Nobody modified during the sweep, but a user imported with an old createdTime and no
    modifiedTime once its part was read: no pass sees it, so only a count taken after the sweep
    knows of it. The run's first count must not stand in for that one."""
    clock = [1_800_000_000.0]
    now_s = int(clock[0])
    late: list[dict] = []

    def import_behind_the_sweep(phase, endpoint, request, world):
        open_window = "fromCreatedTime" in request and "toCreatedTime" not in request
        if phase == "before" and open_window and not late:
            late.append(world.put_user({"userId": "U9late", "createdTime": now_s - 6000, "email": "late@x.com"}))

    world = World(seed=3, users=30, bulk_import=0, now=lambda: clock[0])
    sim = simulator(world=world, on_request=import_behind_the_sweep)
    db = tmp_path / "w.duckdb"

    def now():
        clock[0] += 0.001
        return from_ms(round(clock[0] * 1000))

    stream = users_run(settings_for(sim, db, users_page_size=4), now)
    assert late, "the import never happened"
    assert str(stream.status) == "incomplete" and stream.details["reconciled"] is False, stream.details
    assert _terminal_sweep(db)["source_total"] == 31
