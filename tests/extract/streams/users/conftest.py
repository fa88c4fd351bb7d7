"""Helpers the users stream's tests share: runs, clocks, planted records and what landed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from descope_sim import Dialect, Simulator, World
from descope_sync.pipeline import RunSummary, run_extract
from descope_sync.progress import SilentProgress
from descope_sync.streams.result import StreamResult
from descope_sync.timeutil import from_ms
from tests.conftest import latest_landed_users, query, settings_for

# Under the widest reading of the filters (seconds, both ends inclusive) a window also returns its
# neighbouring seconds, so a record on a window's edge comes back twice.
WIDE_WINDOWS = Dialect(user_time_unit="s", user_from="inclusive", user_to="inclusive")
READINGS = [Dialect(), WIDE_WINDOWS]


def extract_users(settings, now: Callable[[], datetime] | None = None) -> RunSummary:
    """A run of the users stream alone; its summary."""
    kwargs = {"now": now} if now is not None else {}
    return run_extract(settings, streams=["users"], progress=SilentProgress(), **kwargs)


def users_run(settings, now: Callable[[], datetime] | None = None) -> StreamResult:
    """A run of the users stream alone; the stream's result."""
    return extract_users(settings, now).streams[0]


def assert_landing_matches_truth(sim: Simulator, db: Path) -> None:
    truth = sim.world.truth()["users"]
    landed = latest_landed_users(db)
    missing = set(truth) - set(landed)
    assert not missing, f"{len(missing)} live users never landed"
    stale = [uid for uid, user in truth.items() if landed[uid] != user]
    assert not stale, f"{len(stale)} users landed with an old version, e.g. {stale[:3]}"


def landings(db: Path) -> dict[str, int]:
    """How many times each user landed."""
    return dict(query(db, "select user_id, count(*) from descope_raw.users group by user_id"))


def terminal(db: Path) -> list[tuple[Any, ...]]:
    """(status, quarantined, users_seen, source_total) of each finished sweep, oldest first."""
    return query(
        db,
        "select status, (details->>'quarantined')::int, (details->>'users_seen')::int, "
        "(details->>'source_total')::int from descope_raw._sync_runs "
        "where stream = 'users' and (details->>'phase') = 'done' order by finished_at",
    )


def terminal_sweep(db: Path) -> dict[str, Any]:
    """The details of the newest finished sweep's terminal row."""
    return json.loads(
        query(
            db,
            "select details from descope_raw._sync_runs where stream = 'users' and (details->>'phase') = 'done' "
            "order by finished_at desc limit 1",
        )[0][0]
    )


# ---------------------------------------------------------------------------- planted records
def with_outside_users(sim: Simulator, n: int) -> list[str]:
    """n users whose createdTime (0) no createdTime window reaches: only the unfiltered pass finds them."""
    ids = [f"U0outside{i:03d}" for i in range(n)]
    for uid in ids:
        sim.world.put_user({"userId": uid, "createdTime": 0, "email": f"{uid.lower()}@example.com"})
    return ids


def put_without_id(sim: Simulator, created: int, n: int = 1, tag: str = "no-id") -> None:
    for i in range(n):
        sim.world.put_user({"createdTime": created, "email": f"{tag}{created}-{i}@example.com"})


def on_unfiltered_page(page: int) -> Callable[[str, Any], bool]:
    """Kill the users stream as it commits the checkpoint of this unfiltered page."""
    return lambda table, run: (
        table == "users" and run is not None and (run.details or {}).get("unfiltered_page") == page
    )


def is_tail_request(endpoint: str, request: dict[str, Any]) -> bool:
    return endpoint == "user_search" and "fromModifiedTime" in request and "toModifiedTime" not in request


# ---------------------------------------------------------------------------- clocks
def fixed_clock_world(sim_factory, seed=3, users=20, **kwargs):
    """A simulator whose world and extractor share a clock standing still; returns (sim, clock, now)."""
    clock = [1_800_000_000.0]
    sim = sim_factory(world=World(seed=seed, users=users, bulk_import=0, now=lambda: clock[0]), **kwargs)
    return sim, clock, lambda: from_ms(int(clock[0] * 1000))


def ticking(clock: list[float]) -> Callable[[], datetime]:
    """The extractor's clock from `clock`, a millisecond later at each call: every run row gets a time of its own."""

    def now():
        clock[0] += 0.001
        return from_ms(round(clock[0] * 1000))

    return now


def swept_fixed_clock_world(simulator, tmp_path, **settings_overrides):
    """A fixed-clock world of 30 users swept once into tmp_path/w.duckdb on the ticking clock; returns
    (sim, clock, now, settings, db)."""
    sim, clock, _ = fixed_clock_world(simulator, users=30)
    now = ticking(clock)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, **settings_overrides)
    assert extract_users(settings, now).status == "success"
    return sim, clock, now, settings, db


def incremental_run_after_a_sweep(simulator, tmp_path, changed_since=1, **settings_overrides):
    """A fixed-clock world swept once; returns (sim, clock, run) with the clock set 100 s later,
    `changed_since` users modified then (a run whose first request brings nobody modified since it
    began needs no tail pass), and `run()` an incremental users run on the ticking clock."""
    sim, clock, now, settings, _ = swept_fixed_clock_world(simulator, tmp_path, **settings_overrides)
    clock[0] = 1_800_000_100
    for _ in range(changed_since):
        sim.world.modify_user()

    def run():
        stream = users_run(settings, now)
        assert str(stream.status) == "success" and stream.details["mode"] == "incremental", stream.message
        return stream

    return sim, clock, run
