"""Throwaway dev helper: fill a DuckDB file with realistic landing tables for the dbt project.

    python scripts/dev_landing_fixture.py --db /tmp/dev.duckdb --phase 1   # recreate + first load
    python scripts/dev_landing_fixture.py --db /tmp/dev.duckdb --phase 2   # append a second run
    python scripts/dev_landing_fixture.py --db /tmp/dev.duckdb --phase 3   # one login, nothing else

Phase 1 writes users (with and without modifiedTime, duplicate versions, a same-batch duplicate,
test users), audit events (LoginSucceed / LoginFlowDone / LoginFailed / impersonation, events
with and without ID, duplicates across batches, one UserDeleted), ip_locations (found and not
found, one IP left unlooked-up), _sync_runs (a full users sweep, a data_loss audit gap) and a
_quarantine row. Phase 2 appends a later run: modified users, a re-login of an unchanged user,
a full sweep that no longer sees one user (deleted by rule 2), another UserDeleted, the late
geolocation of the IP left out in phase 1, and a duplicate of an already-landed event.
Tables and types follow docs/design.md exactly.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import uuid

import duckdb

RAW = "descope_raw"

DDL = {
    "users": """user_id varchar, modified_at timestamp, payload json, _batch_id varchar,
                _extracted_at timestamp""",
    "audit_events": """event_id varchar, action varchar, user_id varchar, occurred_at timestamp,
                remote_address varchar, payload json, _batch_id varchar, _extracted_at timestamp""",
    "ip_locations": """ip varchar, city varchar, region varchar, region_code varchar,
                country_code varchar, country_name varchar, continent_code varchar,
                latitude double, longitude double, accuracy_radius_km integer, time_zone varchar,
                is_found boolean, not_found_reason varchar, database_type varchar,
                database_built_at timestamp, _looked_up_at timestamp, _batch_id varchar""",
    "_sync_runs": """run_id varchar, stream varchar, status varchar, started_at timestamp,
                finished_at timestamp, cursor_from timestamp, cursor_to timestamp,
                rows_loaded bigint, error varchar, mode varchar""",
    "_quarantine": """stream varchar, reason varchar, payload json, _batch_id varchar,
                _extracted_at timestamp""",
}

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
    if modified is not None:
        user["modifiedTime"] = epoch_s(modified)
    return user


def audit_event(user_id, action, occurred, ip, method="otp", device="Desktop", with_id=True) -> dict:
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
        "tenants": [f"T{int(user_id[1:]) % 4}"] if int(user_id[1:]) % 3 else [],
        "data": {},
    }
    if with_id:
        ev["ID"] = uuid.uuid5(uuid.NAMESPACE_URL, f"{user_id}/{action}/{ev['occurred']}/{ip}").hex
    return ev


def event_id(ev: dict) -> str:
    if ev.get("ID"):
        return ev["ID"]
    key = "|".join(str(ev.get(k, "")) for k in ("userId", "action", "occurred", "device", "method", "remoteAddress"))
    return "h_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def ip_row(ip: str, city_idx: int | None, looked_up: dt.datetime, batch: str) -> tuple:
    built = dt.datetime(2018, 7, 3)
    if city_idx is None:
        return (
            ip,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            False,
            "private",
            "GeoLite2-City",
            built,
            looked_up,
            batch,
        )
    c = CITIES[city_idx]
    return (
        ip,
        c[0],
        c[1],
        c[2],
        c[3],
        c[4],
        c[5],
        c[6],
        c[7],
        20,
        c[8],
        True,
        None,
        "GeoLite2-City",
        built,
        looked_up,
        batch,
    )


class Writer:
    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def users(self, rows):
        self.con.executemany(f"insert into {RAW}.users values (?, ?, ?, ?, ?)", rows)

    def events(self, evs, batch, extracted):
        rows = []
        for ev in evs:
            occurred = dt.datetime.fromtimestamp(int(ev["occurred"]) / 1000, dt.UTC).replace(tzinfo=None)
            rows.append(
                (
                    event_id(ev),
                    ev["action"],
                    ev.get("userId"),
                    occurred,
                    ev.get("remoteAddress"),
                    json.dumps(ev, ensure_ascii=False),
                    batch,
                    extracted,
                )
            )
        self.con.executemany(f"insert into {RAW}.audit_events values (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def ips(self, rows):
        self.con.executemany(f"insert into {RAW}.ip_locations values ({', '.join(['?'] * 17)})", rows)

    def run(self, stream, status, started, finished, cfrom, cto, rows, mode, error=None):
        self.con.execute(
            f"insert into {RAW}._sync_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [uuid.uuid4().hex, stream, status, started, finished, cfrom, cto, rows, error, mode],
        )


N_USERS = 120
DELETED_BY_EVENT = "U0005"
DELETED_BY_SWEEP = "U0006"
RELOGIN_USER = "U0010"  # unchanged record, logs in again in phase 2
LATE_GEO_IP = "203.0.113.77"  # logged in during phase 1, geolocated only in phase 2
RELOGIN_USER_2 = "U0011"  # phase 3: a login and nothing else


def phase1(con, now):
    rng = random.Random(1)
    w = Writer(con)
    t1 = now - dt.timedelta(days=1)
    batch = "b1-users"
    rows = []
    for i in range(N_USERS):
        created = now - dt.timedelta(days=rng.randint(1, 400), seconds=rng.randint(0, 86400))
        has_modified = i % 5 != 0
        modified = created + dt.timedelta(days=rng.randint(0, 30)) if has_modified else None
        modified = min(modified, t1 - dt.timedelta(hours=1)) if modified else None
        p = user_payload(rng, i, created, modified)
        rows.append((p["userId"], modified, json.dumps(p, ensure_ascii=False), batch, t1))
        if i % 10 == 3:  # same version twice in one batch (overlapping pages)
            rows.append((p["userId"], modified, json.dumps(p, ensure_ascii=False), batch, t1))
        if i % 10 == 4 and modified:  # an older version from an earlier batch
            old = dict(p, modifiedTime=p["modifiedTime"] - 3600, givenName="OLD")
            rows.append(
                (p["userId"], modified - dt.timedelta(hours=1), json.dumps(old), "b0-users", t1 - dt.timedelta(days=2))
            )
    w.users(rows)
    w.run("users", "success", t1 - dt.timedelta(minutes=1), t1 + dt.timedelta(seconds=5), None, t1, len(rows), "full")

    # audit events: logins over the last 90 days
    evs = []
    ips = [f"198.51.100.{k}" for k in range(1, 40)] + ["10.0.0.5", "192.168.1.20"]
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
    evs.append(audit_event(DELETED_BY_EVENT, "UserDeleted", t1 - dt.timedelta(hours=2), "198.51.100.1"))
    evs.append(audit_event("U0001", "UserModified", t1 - dt.timedelta(hours=2), "198.51.100.1"))
    w.events(evs[: len(evs) // 2], "b1-audit-a", t1)
    # overlapping window: the last 20 events of page one are landed again by the next page
    w.events(evs[len(evs) // 2 - 20 :], "b1-audit-b", t1 + dt.timedelta(seconds=30))
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
    con.execute(
        f"insert into {RAW}._quarantine values (?, ?, ?, ?, ?)",
        ["users", "missing userId", json.dumps({"email": "ghost@example.com"}), batch, t1],
    )


def phase2(con, now):
    rng = random.Random(2)
    w = Writer(con)
    t2 = now - dt.timedelta(minutes=5)
    latest = {
        r[0]: json.loads(r[1])
        for r in con.execute(
            f"""select user_id, payload from {RAW}.users
                qualify row_number() over (partition by user_id order by modified_at desc nulls last,
                                           _extracted_at desc) = 1"""
        ).fetchall()
    }
    # A full sweep that sees every live user except DELETED_BY_SWEEP (and the UserDeleted one).
    rows = []
    for uid, p in sorted(latest.items()):
        if uid in (DELETED_BY_SWEEP, DELETED_BY_EVENT):
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
        rows.append((uid, modified, json.dumps(p, ensure_ascii=False), "b2-users", t2))
    new = user_payload(rng, N_USERS, t2 - dt.timedelta(hours=2), t2 - dt.timedelta(hours=1))
    rows.append((new["userId"], t2 - dt.timedelta(hours=1), json.dumps(new), "b2-users", t2))
    w.users(rows)
    w.run("users", "success", t2 - dt.timedelta(minutes=2), t2 + dt.timedelta(seconds=5), None, t2, len(rows), "full")

    evs = [
        audit_event(RELOGIN_USER, "LoginSucceed", t2 - dt.timedelta(minutes=20), "198.51.100.3"),
        audit_event(new["userId"], "LoginSucceed", t2 - dt.timedelta(minutes=50), "198.51.100.4"),
        audit_event("U0007", "UserDeleted", t2 - dt.timedelta(minutes=15), "198.51.100.4"),
    ]
    # an event already landed in phase 1, read again by the overlapping window
    dup = con.execute(
        f"select payload from {RAW}.audit_events where action = 'LoginSucceed' order by occurred_at desc limit 1"
    ).fetchone()[0]
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
    del rng


def phase3(con, now):
    """Only a new login of an unchanged user: no user rows, no sweep."""
    w = Writer(con)
    t3 = now - dt.timedelta(minutes=1)
    evs = [audit_event(RELOGIN_USER_2, "LoginSucceed", t3 - dt.timedelta(minutes=2), "198.51.100.9")]
    w.events(evs, "b3-audit", t3)
    w.run("audit_events", "success", t3, t3, t3 - dt.timedelta(minutes=5), t3, len(evs), "incremental")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="warehouse.duckdb")
    ap.add_argument("--phase", type=int, choices=(1, 2, 3), default=1)
    args = ap.parse_args()
    now = utc_now()
    con = duckdb.connect(args.db)
    if args.phase == 1:
        con.execute(f"drop schema if exists {RAW} cascade")
        con.execute(f"create schema {RAW}")
        for table, cols in DDL.items():
            con.execute(f"create table {RAW}.{table} ({cols})")
        phase1(con, now)
    elif args.phase == 2:
        phase2(con, now)
    else:
        phase3(con, now)
    for table in DDL:
        n = con.execute(f"select count(*) from {RAW}.{table}").fetchone()[0]
        print(f"{RAW}.{table}: {n} rows")
    con.close()


if __name__ == "__main__":
    main()
