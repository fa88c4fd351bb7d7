"""The server's profile (`streams/users/profile.py`): remembered while no answer contradicts it and it
is younger than a week; probed again otherwise."""

from __future__ import annotations

import dataclasses
import json

import pytest

from descope_sim import Dialect, World
from descope_sync.timeutil import from_ms
from tests.conftest import cursor, latest_landed_users, query, settings_for
from tests.extract.streams.users.conftest import assert_landing_matches_truth, users_run


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
