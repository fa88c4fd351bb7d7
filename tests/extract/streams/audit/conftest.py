"""What the audit stream's tests share: runs against the simulator (most with a stopped clock) and what landed."""

from __future__ import annotations

from descope_sim import Dialect, RateLimits, World
from descope_sync.contract import event_id
from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from descope_sync.timeutil import from_ms, to_ms
from tests.conftest import query, settings_for


def extract_audit(settings):
    return run_extract(settings, streams=["audit_events"], progress=SilentProgress())


def truth_event_ids(sim) -> set[str]:
    return {event_id(e) for e in sim.world.truth()["events"]}


def landed_event_ids(db) -> list[str]:
    return [r[0] for r in query(db, "select event_id from descope_raw.audit_events")]


NOW_MS = 1_800_000_000_000  # the stopped clock of these worlds and runs
HOUR_AGO = NOW_MS - 3_600_000
UNLIMITED = RateLimits(user_search=(100_000, 60.0), audit_search=(100_000, 1.0))


def newest_first_world(*occurred_ms, clock=None, audit_from="exclusive", oldest_first="ignored", omit_empty=False):
    """A world that ignores oldestFirst (unless told), holds no users and only the events given, its clock stopped."""
    clock = clock or [NOW_MS / 1000]
    points = f"audit_oldest_first={oldest_first},audit_from={audit_from},omit_empty={str(omit_empty).lower()}"
    dialect = Dialect.parse(points)
    world = World(seed=1, users=0, now=lambda: clock[0], dialect=dialect)
    add_events(world, occurred_ms)
    return world


def add_events(world, occurred_ms) -> set[str]:
    """Logins of one user at these milliseconds, with ids of their own; returns the ids."""
    known = len(world.truth()["events"])
    ids = [f"E{known + n:06d}" for n in range(len(occurred_ms))]
    for id_, ms in zip(ids, occurred_ms, strict=True):
        world.add_event({"ID": id_, "action": "LoginSucceed", "userId": "U1", "occurred": str(ms)})
    return set(ids)


def extract_at(sim, db, now_ms=NOW_MS, **overrides):
    settings = settings_for(sim, db, **{"audit_page_size": 50, **overrides})
    return run_extract(settings, streams=["audit_events"], progress=SilentProgress(), now=lambda: from_ms(now_ms))


def checkpoints(db):
    """(status, cursor_to, error) of every audit_events run row, oldest first."""
    return query(
        db,
        "select status, cursor_to, error from descope_raw._sync_runs "
        "where stream = 'audit_events' order by finished_at",
    )


def unbacked_checkpoints(monkeypatch, sim) -> list:
    """Checks every audit checkpoint as it commits: each event that occurred before its cursor_to must be
    landed by then (by this run or an earlier one). Returns the list of checkpoints that were not."""
    landed: set[str] = set()
    unbacked: list = []
    original = DuckDBLandingWriter.append

    def checking(self, table, rows, run=None):
        if table == "audit_events":
            landed.update(r["event_id"] for r in rows)
            if run is not None and run.cursor_to is not None:
                cut = to_ms(run.cursor_to)
                missing = [e for e in sim.world.truth()["events"] if int(e["occurred"]) < cut]
                missing = [event_id(e) for e in missing if event_id(e) not in landed]
                if missing:
                    unbacked.append((run.cursor_to, len(missing)))
        return original(self, table, rows, run)

    monkeypatch.setattr(DuckDBLandingWriter, "append", checking)
    return unbacked


READERS = {  # how the server reads page, size and oldestFirst
    "oldest-first": "audit_oldest_first=honoured",
    "newest-first": "audit_oldest_first=ignored",
    "newest-first, size ignored": "audit_oldest_first=ignored,audit_size=ignored",
    "oldest-first, page and size ignored": "audit_page=ignored,audit_size=ignored",
    "sdk-only": "sdk_only",
    "sdk-only, from exclusive": "sdk_only,audit_from=exclusive",
}


READINGS = {
    "documented": "documented",
    "from exclusive": "audit_from=exclusive",
    "newest-first": "audit_oldest_first=ignored",
    "page ignored": "audit_page=ignored",
    "size ignored": "audit_size=ignored",
    "page and size ignored": "audit_page=ignored,audit_size=ignored",
    "newest-first, page ignored": "audit_oldest_first=ignored,audit_page=ignored",
    "newest-first, page ignored, from exclusive": "audit_oldest_first=ignored,audit_page=ignored,audit_from=exclusive",
    "newest-first, size ignored": "audit_oldest_first=ignored,audit_size=ignored",
    "sdk-only": "sdk_only",
    "sdk-only, from exclusive": "sdk_only,audit_from=exclusive",
    "alternate": "alternate",
}


def world_of(reader, *occurred_ms, clock=None):

    clock = clock or [NOW_MS / 1000]
    dialect = Dialect.parse({**READINGS, **READERS}[reader])
    world = World(seed=1, users=0, now=lambda: clock[0], dialect=dialect)
    add_events(world, occurred_ms)
    return world
