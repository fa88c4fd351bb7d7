"""The parity test's extractor: one simulated Descope project extracted the way the extractor would
(a users full sweep, then an incremental run), as landing rows both engines receive alike."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from descope_sim import World
from descope_sim.tenants import TenantDirectory
from descope_sync.contract import LANDING_TABLES, RunMode, RunStatus
from descope_sync.geo import GeoDatabase
from descope_sync.landing.base import SyncRun
from descope_sync.streams.audit_events import to_landing_row
from descope_sync.streams.tenants import to_landing_row as tenant_row
from descope_sync.timeutil import from_epoch_seconds, to_ms

USERS_OVERLAP = timedelta(minutes=10)
AUDIT_OVERLAP = timedelta(minutes=5)


Batch = dict[str, list[dict[str, Any]]]


class Clock:
    """The simulated project's clock, moved by the test."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def at(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC).replace(tzinfo=None)


@dataclass
class Extractor:
    """Landing rows built the way the streams build them, from the simulator's world."""

    world: World
    clock: Clock
    run_number: int = 0
    geo_looked_up: set[str] = field(default_factory=set)
    directory: TenantDirectory | None = None

    @property
    def run_id(self) -> str:
        return f"run-{self.run_number}"

    def batch_id(self, stream: str) -> str:
        return f"{stream}-batch-{self.run_number}"

    def users(self, batch: Batch, users: Sequence[Any], extracted_at: datetime, batch_id: str) -> int:
        landed = 0
        for user in users:
            user_id = user.get("userId") if isinstance(user, dict) else None
            if not isinstance(user_id, str) or not user_id:
                batch["_quarantine"].append(
                    {
                        "stream": "users",
                        "reason": "user record without a userId",
                        "payload": user,
                        "_batch_id": batch_id,
                        "_extracted_at": extracted_at,
                    }
                )
                continue
            batch["users"].append(
                {
                    "user_id": user_id,
                    "modified_at": from_epoch_seconds(user.get("modifiedTime")),
                    "payload": user,
                    "_batch_id": batch_id,
                    "_extracted_at": extracted_at,
                }
            )
            landed += 1
        return landed

    def events(self, batch: Batch, start: datetime, end: datetime, extracted_at: datetime, batch_id: str) -> int:
        blobs, _ = self.world.search_audit(from_ms=to_ms(start), to_ms=to_ms(end), size=1_000_000, oldest_first=True)
        landed = 0
        for blob in blobs:
            row, reason = to_landing_row(json.loads(blob), batch_id, extracted_at)
            if row is None:
                batch["_quarantine"].append(
                    {
                        "stream": "audit_events",
                        "reason": reason,
                        "payload": json.loads(blob),
                        "_batch_id": batch_id,
                        "_extracted_at": extracted_at,
                    }
                )
                continue
            batch["audit_events"].append(row)
            landed += 1
        return landed

    def ip_locations(self, batch: Batch, looked_up_at: datetime, batch_id: str) -> int:
        addresses = sorted(
            {r["remote_address"] for r in batch["audit_events"] if r["remote_address"] is not None} - self.geo_looked_up
        )
        self.geo_looked_up.update(addresses)
        with GeoDatabase.open() as geo:
            rows = geo.lookup_many(addresses, looked_up_at, batch_id)
        batch["ip_locations"].extend(rows)
        return len(rows)

    def tenants(self, batch: Batch, extracted_at: datetime) -> SyncRun:
        """The whole tenant list as one snapshot, and the `success` row naming it (streams/tenants.py)."""
        if self.directory is None:
            self.directory = TenantDirectory(self.world)
        batch_id = self.batch_id("tenants")
        rows = [tenant_row(t, batch_id, extracted_at) for t in self.directory.listing()]
        batch["tenants"].extend(rows)
        return SyncRun(
            run_id=self.run_id,
            stream="tenants",
            status=RunStatus.SUCCESS,
            started_at=extracted_at,
            finished_at=extracted_at + timedelta(seconds=1),
            rows_loaded=len(rows),
            details={"batch_id": batch_id, "tenants": len(rows)},
        )

    def newer_database(self, batch: Batch, looked_up_at: datetime, batch_id: str, n: int = 5) -> int:
        """A few addresses looked up again with a newer database build (same answers, later build
        time): user_logins and users must re-merge the past logins from those addresses."""
        addresses = sorted(self.geo_looked_up)[:n]
        with GeoDatabase.open() as geo:
            rows = geo.lookup_many(addresses, looked_up_at, batch_id)
        for row in rows:
            row["database_built_at"] = row["database_built_at"] + timedelta(days=30)
        batch["ip_locations"].extend(rows)
        return len(rows)

    def first_run(self) -> Batch:
        """Every event of the audit history, then a users full sweep, then the addresses."""
        self.run_number += 1
        batch: Batch = {table: [] for table in LANDING_TABLES}
        run_id = self.run_id
        started = self.clock.at()
        audit_from = started - timedelta(days=29, hours=23)
        audit_to = started - timedelta(minutes=2)
        n_events = self.events(batch, audit_from, audit_to, started + timedelta(seconds=1), self.batch_id("audit"))
        runs = [
            SyncRun(
                run_id=run_id,
                stream="audit_events",
                status=RunStatus.SUCCESS,
                started_at=started,
                finished_at=started + timedelta(seconds=2),
                cursor_from=audit_from,
                cursor_to=audit_to,
                rows_loaded=n_events,
            )
        ]
        sweep_started = started + timedelta(seconds=3)
        users, total = self.world.search_users(limit=1_000_000, with_test_users=True)
        n_users = self.users(batch, users, sweep_started + timedelta(milliseconds=250), self.batch_id("users"))
        sweep = f"sweep-{self.run_number}"
        sweep_rows = [
            (RunStatus.PARTIAL, {"phase": "windows", "position": int(sweep_started.timestamp()), "quarantined": 0}),
            (
                RunStatus.SUCCESS,
                {
                    "reconciled": True,
                    "held": False,
                    "would_remove": 0,
                    "live_before": 0,
                    "source_total": total,
                    "users_seen": n_users,
                    "reason": None,
                },
            ),
        ]
        for seconds, (status, details) in enumerate(sweep_rows, start=1):
            runs.append(
                SyncRun(
                    run_id=run_id,
                    stream="users",
                    status=status,
                    mode=RunMode.FULL,
                    started_at=sweep_started,
                    finished_at=sweep_started + timedelta(seconds=seconds),
                    cursor_to=sweep_started,
                    rows_loaded=n_users,
                    sweep_id=sweep,
                    sweep_started_at=sweep_started,
                    details=details,
                )
            )
        looked_up = sweep_started + timedelta(seconds=4)
        n_ips = self.ip_locations(batch, looked_up, self.batch_id("ip"))
        runs.append(
            SyncRun(
                run_id=run_id,
                stream="ip_locations",
                status=RunStatus.SUCCESS,
                started_at=looked_up,
                finished_at=looked_up + timedelta(seconds=1),
                rows_loaded=n_ips,
            )
        )
        runs.append(self.tenants(batch, looked_up + timedelta(seconds=2)))
        batch["_sync_runs"] = [run.as_row() for run in runs]
        self.audit_cursor, self.users_cursor = audit_to, sweep_started
        return batch

    def next_run(self) -> Batch:
        """An incremental run: audit from the cursor (minus the overlap), users modified since, new addresses."""
        self.run_number += 1
        batch: Batch = {table: [] for table in LANDING_TABLES}
        run_id = self.run_id
        started = self.clock.at()
        audit_from, audit_to = self.audit_cursor - AUDIT_OVERLAP, started - timedelta(minutes=2)
        n_events = self.events(batch, audit_from, audit_to, started + timedelta(seconds=1), self.batch_id("audit"))
        users_from = int((self.users_cursor - USERS_OVERLAP).timestamp())
        users, _ = self.world.search_users(limit=1_000_000, modified=(users_from, None), with_test_users=True)
        users_at = started + timedelta(seconds=3)
        n_users = self.users(batch, users, users_at, self.batch_id("users"))
        looked_up = users_at + timedelta(seconds=2)
        n_ips = self.newer_database(batch, looked_up, self.batch_id("ip"))
        n_ips += self.ip_locations(batch, looked_up, self.batch_id("ip"))
        runs = [
            SyncRun(
                run_id=run_id,
                stream="audit_events",
                status=RunStatus.SUCCESS,
                started_at=started,
                finished_at=started + timedelta(seconds=2),
                cursor_from=audit_from,
                cursor_to=audit_to,
                rows_loaded=n_events,
            ),
            SyncRun(
                run_id=run_id,
                stream="users",
                status=RunStatus.SUCCESS,
                started_at=users_at,
                finished_at=users_at + timedelta(seconds=1),
                cursor_from=self.users_cursor - USERS_OVERLAP,
                cursor_to=users_at,
                rows_loaded=n_users,
            ),
            SyncRun(
                run_id=run_id,
                stream="ip_locations",
                status=RunStatus.SUCCESS,
                started_at=looked_up,
                finished_at=looked_up + timedelta(seconds=1),
                rows_loaded=n_ips,
            ),
        ]
        # A tenant deleted and one renamed since the first run: the newest snapshot is what counts.
        assert self.directory is not None
        gone, renamed = self.directory.listing()[:2]
        self.directory.remove(gone["id"])
        self.directory.put(renamed["id"], renamed["name"] + " (renamed)")
        runs.append(self.tenants(batch, looked_up + timedelta(seconds=2)))
        batch["_sync_runs"] = [run.as_row() for run in runs]
        self.audit_cursor, self.users_cursor = audit_to, users_at
        return batch


def make_world() -> tuple[World, Clock]:
    """A project of 120 users with 20 days of audit history, plus records that take the odd paths."""
    clock = Clock(time.time() - 2 * 3600)
    world = World(seed=23, users=120, now=clock, audit_days=20, logins_per_user=3.0)
    world.put_user({"name": "nobody", "email": "nobody@example.com", "createdTime": 1_700_000_000})  # quarantined
    world.put_user({"userId": "U-absurd-time", "email": " Odd@Example.COM\t", "createdTime": 99_999_999_999_999})
    world.put_user({"userId": "U-fraction-time", "name": "\u00a0", "createdTime": 1_700_000_000.5, "test": None})
    # Modified just before the first run: the second run's overlap lands these versions (and their
    # UserModified events) a second time, the duplicates staging removes.
    for user_id in generated_users(world)[-2:]:
        world.modify_user(user_id)
    clock.now += 300
    return world, clock


def generated_users(world: World) -> list[str]:
    return sorted(uid for uid in world.truth()["users"] if not uid.startswith("U-"))


@dataclass
class Changes:
    modified: list[str]
    created: list[str]
    deleted: list[str]
    logged_in: list[str]


def change_world(world: World, clock: Clock, audit_cursor: datetime) -> Changes:
    """Activity before the second run: modified, new and deleted users, logins, a late-indexed login."""
    clock.now += 60
    live = generated_users(world)
    changes = Changes(modified=live[:6], created=[], deleted=live[40:44], logged_in=live[6:32])
    for user_id in changes.modified:
        world.modify_user(user_id)
        clock.now += 7
    for _ in range(3):
        changes.created.append(world.create_user()["userId"])
        clock.now += 5
    for user_id in live[6:30]:
        world.login(user_id)
        clock.now += 3
    world.login(live[30], remote_address="203.0.113.9:52100, 81.2.69.160")  # a forwarded-for list
    # Occurred before the first run's audit cursor, indexed only now: the overlap catches it.
    world.login(live[31], occurred_ms=to_ms(audit_cursor) - 3 * 60 * 1000)
    world.delete_user(live[40])  # one UserDeleted
    world.delete_users(live[41:44], event="bulk")  # one UsersDeleted naming three
    clock.now += 1800
    return changes
