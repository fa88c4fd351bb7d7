"""What the users stream spends in user searches (Descope allows 200 a minute): a full sweep at about
one search a page, an idle run two."""

from __future__ import annotations

from descope_sim import World
from tests.conftest import settings_for
from tests.extract.streams.users.conftest import assert_landing_matches_truth, users_run

SEARCH = "/v2/mgmt/user/search"


def searches(sim) -> int:
    return int(sim.stats["requests"].get(SEARCH, 0))


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
