"""Throwaway dev helper: fill a DuckDB file with realistic landing tables for the dbt project.

    python scripts/dev_landing_fixture.py --db /tmp/dev.duckdb --phase 1   # recreate + first load
    python scripts/dev_landing_fixture.py --db /tmp/dev.duckdb --phase 2   # append a second run
    python scripts/dev_landing_fixture.py --db /tmp/dev.duckdb --phase 3   # one login, nothing else

`dbt build` passes after each phase (with warnings from the warn-severity tests).

Phase 1 writes users (with and without modifiedTime, duplicate versions, a same-batch duplicate,
test users, booleans left out as Descope's protobuf JSON leaves out false, an absurd createdTime),
audit events (LoginSucceed / LoginFlowDone / LoginFailed / impersonation, events with and without
ID, duplicates across batches, a login without userId, one UserDeleted, remote addresses with a
port or a forwarded-for list), ip_locations (found and not found, one IP left unlooked-up),
_sync_runs (a full users sweep over two runs: a `partial` checkpoint, then its terminal `success`
row with details) and a _quarantine row. Phase 2 appends a later run: modified users, a re-login
of an unchanged user, a full sweep (checkpoint + terminal row) that no longer sees one user
(deleted by the sweep rule), another UserDeleted, a UsersDeleted whose IDs sit in `data` (its
actor is not deleted), the late geolocation of the IP left out in phase 1, and a duplicate of an
already-landed event.

`--data-loss` (phase 1) also lands a `data_loss` audit row: `dbt build` then fails on
assert_no_audit_data_loss until it is acknowledged (the failing row says how).

Tables come from extract/descope_sync/contract.py (LANDING_TABLES) through the extractor's own
DuckDB landing writer, so they match what the extractor lands.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "extract"))

from descope_sync.contract import LANDING_TABLES, RunMode, RunStatus, event_id
from descope_sync.landing.base import SyncRun
from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.remote_address import client_ip

RAW = "descope_raw"

CITIES = [
    ("Berlin", "Land Berlin", "BE", "DE", "Germany", "EU", 52.52, 13.405, "Europe/Berlin"),
    ("São Paulo", "São Paulo", "SP", "BR", "Brazil", "SA", -23.55, -46.63, "America/Sao_Paulo"),
    ("東京", "Tokyo", "13", "JP", "Japan", "AS", 35.68, 139.69, "Asia/Tokyo"),
    ("Austin", "Texas", "TX", "US", "United States", "NA", 30.27, -97.74, "America/Chicago"),
    ("Lagos", "Lagos", "LA", "NG", "Nigeria", "AF", 6.45, 3.39, "Africa/Lagos"),
]
NAMES = [
    ("Ana", None, "Souza"),
    ("Jörg", "K.", "Müller"),
    ("さくら", None, "山田"),
    ("Liam", None, "O'Brien"),
    ("Олег", None, "Петров"),
    ("Chidi", "E.", "Okafor"),
    ("Zoë", None, "Smith"),
    ("محمد", None, "علي"),
]
STATUSES = ["enabled"] * 8 + ["disabled", "invited", "expired"]
BOOLEAN_FIELDS = ("verifiedEmail", "verifiedPhone", "test", "editable", "TOTP", "SAML", "SCIM", "OIDC")
BOOLEAN_FIELDS += ("webauthn", "password", "push")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def epoch_s(t: dt.datetime) -> int:
    return int(t.replace(tzinfo=dt.UTC).timestamp())


def epoch_ms(t: dt.datetime) -> int:
    return int(t.replace(tzinfo=dt.UTC).timestamp() * 1000)


def user_payload(rng: random.Random, i: int, created: dt.datetime, modified: dt.datetime | None) -> dict:
    given, middle, family = NAMES[i % len(NAMES)]
    email = f"user{i}@example{i % 3}.com"
    if i % 7 == 0:
        email = f"  User{i}@Example{i % 3}.COM "  # cleaned only by users_clean
    user = {
        "userId": f"U{i:04d}",
        "loginIds": [email.strip().lower()] + ([f"+1555{i:07d}"] if i % 4 == 0 else []),
        "email": email,
        "verifiedEmail": i % 5 != 0,
        "phone": f"+1555{i:07d}" if i % 4 == 0 else "",
        "verifiedPhone": i % 4 == 0,
        "name": "" if i % 6 == 0 else f"{given} {family}",
        "givenName": given if i % 12 != 0 else "",
        "middleName": middle or "",
        "familyName": family if i % 12 != 0 else "",
        "picture": f"https://img.example.com/{i}.png" if i % 3 == 0 else "",
        "status": STATUSES[i % len(STATUSES)],
        "createdTime": epoch_s(created),
        "roleNames": ["admin"] if i % 10 == 0 else ["member"],
        "userTenants": [
            {"tenantId": f"T{i % 4}", "tenantName": f"Tenant {i % 4}", "roleNames": ["member"], "permissions": []}
        ],
        "customAttributes": {"plan": rng.choice(["free", "pro", "enterprise"]), "seats": i % 9},
        "externalIds": [f"ext-{i}"],
        "permissions": ["read"],
        "ssoAppIds": [],
        "test": i % 15 == 0,
        "editable": True,
        "TOTP": i % 8 == 0,
        "SAML": i % 11 == 0,
        "SCIM": False,
        "OIDC": False,
        "OAuth": {"google": i % 2 == 0},
        "webauthn": i % 9 == 0,
        "password": i % 2 == 1,
        "push": False,
    }
    if i % 3 == 0:  # protobuf JSON: a false boolean is left out altogether
        for name in BOOLEAN_FIELDS:
            if user[name] is False:
                del user[name]
    if i == ABSURD_CREATED_TIME_USER:
        user["createdTime"] = 99_999_999_999_999  # no timestamp holds it: staging makes it null
    if modified is not None:
        user["modifiedTime"] = epoch_s(modified)
    return user


def audit_event(user_id, action, occurred, ip, method="otp", device="Desktop", with_id=True, **extra) -> dict:
    number = int(user_id[1:]) if user_id else 0
    ev = {
        "projectId": "P2devfixture",
        "userId": user_id,
        "action": action,
        "occurred": str(epoch_ms(occurred)),
        "device": device,
        "method": method,
        "geo": "DE",
        "remoteAddress": ip,
        "externalIds": [f"ext-{user_id}"],
        "tenants": [f"T{number % 4}"] if number % 3 else [],
        "data": {},
        **extra,
    }
    if user_id is None:
        del ev["userId"]
    if with_id:
        ev["ID"] = uuid.uuid5(uuid.NAMESPACE_URL, f"{user_id}/{action}/{ev['occurred']}/{ip}").hex
    return ev


def ip_row(ip: str, city_idx: int | None, looked_up: dt.datetime, batch: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ip": ip,
        "client_ip": client_ip(ip),
        "is_found": city_idx is not None,
        "not_found_reason": None if city_idx is not None else "private",
        "database_type": "GeoLite2-City",
        "database_built_at": dt.datetime(2018, 7, 3),
        "_looked_up_at": looked_up,
        "_batch_id": batch,
    }
    if city_idx is not None:
        c = CITIES[city_idx]
        fields = ("city", "region", "region_code", "country_code", "country_name", "continent_code")
        row.update(zip(fields, c[:6], strict=True))
        row.update(latitude=c[6], longitude=c[7], accuracy_radius_km=20, time_zone=c[8])
    return row


class Writer:
    """The extractor's landing writer, plus the row shapes this fixture needs."""

    def __init__(self, landing: DuckDBLandingWriter):
        self.landing = landing

    def users(self, payloads: list[tuple[dict, dt.datetime | None, str, dt.datetime]]) -> int:
        rows = [
            {"user_id": p["userId"], "modified_at": modified, "payload": p, "_batch_id": batch, "_extracted_at": at}
            for p, modified, batch, at in payloads
        ]
        return self.landing.append("users", rows)

    def events(self, evs: list[dict], batch: str, extracted: dt.datetime) -> None:
        rows = [
            {
                "event_id": event_id(ev),
                "action": ev["action"],
                "user_id": ev.get("userId"),
                "occurred_at": dt.datetime.fromtimestamp(int(ev["occurred"]) / 1000, dt.UTC).replace(tzinfo=None),
                "remote_address": ev.get("remoteAddress"),
                "payload": ev,
                "_batch_id": batch,
                "_extracted_at": extracted,
            }
            for ev in evs
        ]
        self.landing.append("audit_events", rows)

    def ips(self, rows: list[dict[str, Any]]) -> None:
        self.landing.append("ip_locations", rows)

    def run(self, stream, status, started, finished, cfrom, cto, rows, mode, error=None, **sweep) -> None:
        self.landing.record_run(
            SyncRun(
                run_id=uuid.uuid4().hex,
                stream=stream,
                status=RunStatus(status),
                started_at=started,
                finished_at=finished,
                cursor_from=cfrom,
                cursor_to=cto,
                rows_loaded=rows,
                error=error,
                mode=RunMode(mode),
                **sweep,
            )
        )

    def full_sweep(
        self, sweep_id: str, started: dt.datetime, finished: dt.datetime, landed: int, live_before: int, seen: int
    ) -> None:
        """A users full sweep over two runs: a checkpoint, then the terminal row with its details."""
        middle = started + (finished - started) / 2
        sweep = {"sweep_id": sweep_id, "sweep_started_at": started}
        self.run("users", "partial", started, middle, None, middle, landed // 2, "full", **sweep)
        details = {
            "reconciled": True,
            "held": False,
            "would_remove": max(live_before - seen, 0),
            "live_before": live_before,
            "source_total": seen,
            "users_seen": seen,
            "reason": None,
        }
        self.run(
            "users", "success", middle, finished, None, finished, landed - landed // 2, "full", **sweep, details=details
        )


N_USERS = 120
DELETED_BY_EVENT = "U0005"
DELETED_BY_SWEEP = "U0006"
DELETED_BY_BULK = ("U0008", "U0009")  # phase 2: UsersDeleted with the IDs in `data`
BULK_ACTOR = "U0000"  # the admin who deleted them: stays
RELOGIN_USER = "U0010"  # unchanged record, logs in again in phase 2
LATE_GEO_IP = "203.0.113.77"  # logged in during phase 1, geolocated only in phase 2
RELOGIN_USER_2 = "U0011"  # phase 3: a login and nothing else
ABSURD_CREATED_TIME_USER = 13
# remoteAddress as Descope may send it: a port, a forwarded-for list (the client first)
PROXIED_ADDRESSES = ["198.51.100.7:443", "198.51.100.8, 10.0.0.1", "[2001:db8::1]:8443"]


def phase1(w: Writer, now: dt.datetime, data_loss: bool) -> None:
    rng = random.Random(1)
    t1 = now - dt.timedelta(days=1)
    batch = "b1-users"
    rows = []
    for i in range(N_USERS):
        created = now - dt.timedelta(days=rng.randint(1, 400), seconds=rng.randint(0, 86400))
        has_modified = i % 5 != 0
        modified = created + dt.timedelta(days=rng.randint(0, 30)) if has_modified else None
        modified = min(modified, t1 - dt.timedelta(hours=1)) if modified else None
        p = user_payload(rng, i, created, modified)
        rows.append((p, modified, batch, t1))
        if i % 10 == 3:  # same version twice in one batch (overlapping pages)
            rows.append((p, modified, batch, t1))
        if i % 10 == 4 and modified:  # an older version from an earlier batch
            old = dict(p, modifiedTime=p["modifiedTime"] - 3600, givenName="OLD")
            rows.append((old, modified - dt.timedelta(hours=1), "b0-users", t1 - dt.timedelta(days=2)))
    w.users(rows)
    w.full_sweep("sweep-1", t1 - dt.timedelta(minutes=1), t1 + dt.timedelta(seconds=5), len(rows), 0, N_USERS)

    # audit events: logins over the last 90 days
    evs = []
    ips = [f"198.51.100.{k}" for k in range(1, 40)] + ["10.0.0.5", "192.168.1.20"] + PROXIED_ADDRESSES
    for i in range(N_USERS):
        uid = f"U{i:04d}"
        if i % 13 == 12:
            continue  # never logged in
        for _ in range(rng.randint(1, 6)):
            occurred = t1 - dt.timedelta(days=rng.choice([0, 1, 2, 5, 9, 20, 45, 80]), seconds=rng.randint(0, 80000))
            action = rng.choice(["LoginSucceed", "LoginSucceed", "LoginFlowDone", "LoginFailed"])
            evs.append(audit_event(uid, action, occurred, rng.choice(ips), with_id=rng.random() > 0.3))
        if i % 17 == 1:  # an admin impersonating the user, later than any real login
            evs.append(
                audit_event(uid, "LoginSucceed", t1 - dt.timedelta(minutes=5), "198.51.100.250", method="Impersonate")
            )
    evs.append(audit_event("U0020", "LoginSucceed", t1 - dt.timedelta(hours=3), LATE_GEO_IP))
    evs.append(audit_event("U0021", "LoginSucceed", t1 - dt.timedelta(hours=3), PROXIED_ADDRESSES[0]))
    evs.append(audit_event(None, "LoginSucceed", t1 - dt.timedelta(hours=4), "198.51.100.2"))  # no userId
    evs.append(audit_event(DELETED_BY_EVENT, "UserDeleted", t1 - dt.timedelta(hours=2), "198.51.100.1"))
    evs.append(audit_event("U0001", "UserModified", t1 - dt.timedelta(hours=2), "198.51.100.1"))
    w.events(evs[: len(evs) // 2], "b1-audit-a", t1)
    # overlapping window: the last 20 events of page one are landed again by the next page
    w.events(evs[len(evs) // 2 - 20 :], "b1-audit-b", t1 + dt.timedelta(seconds=30))
    if data_loss:
        w.run(
            "audit_events",
            "data_loss",
            t1,
            t1,
            t1 - dt.timedelta(days=45),
            now - dt.timedelta(days=30),
            0,
            "incremental",
            "audit events older than the 30-day retention were never read",
        )
    w.run(
        "audit_events",
        "success",
        t1,
        t1 + dt.timedelta(seconds=40),
        t1 - dt.timedelta(days=30),
        t1,
        len(evs),
        "incremental",
    )

    seen = sorted({e["remoteAddress"] for e in evs} - {LATE_GEO_IP})
    w.ips(
        [
            ip_row(
                ip,
                None if ip.startswith(("10.", "192.168.")) else k % len(CITIES),
                t1 + dt.timedelta(minutes=1),
                "b1-geo",
            )
            for k, ip in enumerate(seen)
        ]
    )
    w.landing.append(
        "_quarantine",
        [
            {
                "stream": "users",
                "reason": "missing userId",
                "payload": {"email": "ghost@example.com"},
                "_batch_id": batch,
                "_extracted_at": t1,
            }
        ],
    )


def phase2(w: Writer, now: dt.datetime) -> None:
    rng = random.Random(2)
    t2 = now - dt.timedelta(minutes=5)
    latest = {
        r[0]: json.loads(r[1])
        for r in w.landing.query(
            f"""select user_id, payload from {RAW}.users
                qualify row_number() over (partition by user_id order by modified_at desc nulls last,
                                           _extracted_at desc) = 1"""
        )
    }
    # A full sweep that sees every live user except DELETED_BY_SWEEP (and the deleted ones).
    gone = {DELETED_BY_SWEEP, DELETED_BY_EVENT, *DELETED_BY_BULK}
    rows = []
    for uid, p in sorted(latest.items()):
        if uid in gone:
            continue
        if uid in ("U0001", "U0002", "U0015"):  # modified since phase 1
            p = dict(
                p,
                modifiedTime=epoch_s(t2 - dt.timedelta(minutes=30)),
                status="disabled",
                givenName=p.get("givenName", "") + "-v2",
            )
        mt = p.get("modifiedTime")
        modified = dt.datetime.fromtimestamp(mt, dt.UTC).replace(tzinfo=None) if mt else None
        rows.append((p, modified, "b2-users", t2))
    new = user_payload(rng, N_USERS, t2 - dt.timedelta(hours=2), t2 - dt.timedelta(hours=1))
    rows.append((new, t2 - dt.timedelta(hours=1), "b2-users", t2))
    w.users(rows)
    live_before = len(latest) - 1  # DELETED_BY_EVENT was already gone
    w.full_sweep(
        "sweep-2", t2 - dt.timedelta(minutes=2), t2 + dt.timedelta(seconds=5), len(rows), live_before, len(rows)
    )

    evs = [
        audit_event(RELOGIN_USER, "LoginSucceed", t2 - dt.timedelta(minutes=20), "198.51.100.3"),
        audit_event(new["userId"], "LoginSucceed", t2 - dt.timedelta(minutes=50), "198.51.100.4"),
        audit_event("U0007", "UserDeleted", t2 - dt.timedelta(minutes=15), "198.51.100.4"),
        audit_event(
            None,
            "UsersDeleted",
            t2 - dt.timedelta(minutes=14),
            "198.51.100.4",
            actorId=BULK_ACTOR,
            data={"userIds": list(DELETED_BY_BULK), "by": BULK_ACTOR},
        ),
    ]
    # an event already landed in phase 1, read again by the overlapping window
    dup = w.landing.query(
        f"select payload from {RAW}.audit_events where action = 'LoginSucceed' order by occurred_at desc limit 1"
    )[0][0]
    evs.append(json.loads(dup))
    w.events(evs, "b2-audit", t2)
    w.run(
        "audit_events",
        "success",
        t2,
        t2 + dt.timedelta(seconds=3),
        t2 - dt.timedelta(days=1),
        t2,
        len(evs),
        "incremental",
    )
    w.ips([ip_row(LATE_GEO_IP, 3, t2 + dt.timedelta(minutes=1), "b2-geo")])


def phase3(w: Writer, now: dt.datetime) -> None:
    """Only a new login of an unchanged user: no user rows, no sweep."""
    t3 = now - dt.timedelta(minutes=1)
    evs = [audit_event(RELOGIN_USER_2, "LoginSucceed", t3 - dt.timedelta(minutes=2), "198.51.100.9")]
    w.events(evs, "b3-audit", t3)
    w.run("audit_events", "success", t3, t3, t3 - dt.timedelta(minutes=5), t3, len(evs), "incremental")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="warehouse.duckdb")
    ap.add_argument("--phase", type=int, choices=(1, 2, 3), default=1)
    ap.add_argument("--data-loss", action="store_true", help="phase 1: also land a data_loss audit row")
    args = ap.parse_args()
    now = utc_now()
    with DuckDBLandingWriter(args.db, schema=RAW) as landing:
        if args.phase == 1:
            landing.query(f"drop schema if exists {RAW} cascade")
        landing.ensure_tables()
        w = Writer(landing)
        if args.phase == 1:
            phase1(w, now, args.data_loss)
        elif args.phase == 2:
            phase2(w, now)
        else:
            phase3(w, now)
        for table in LANDING_TABLES:
            print(f"{RAW}.{table}: {landing.count(table)} rows")


if __name__ == "__main__":
    main()
