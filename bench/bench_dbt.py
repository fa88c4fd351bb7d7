"""dbt cost of an incremental build vs a full build, and how each grows with landed history.

    python bench/bench_dbt.py [--users 1000000] [--events 5000000] [--db PATH]

Landing rows are generated directly with DuckDB SQL, shaped like the simulator's payloads (user
objects with every field the models read, audit events with `ID`, `userId`, `occurred`,
`remoteAddress`, `method`, `tenants`, ...; one lookup per address in `ip_locations`; a users full
sweep and an audit run in `_sync_runs`): extracting a million users through the simulator would take
longer than the builds it measures. History: `--events` audit events (80% LoginSucceed) over the 30
days before T, each extracted minutes after it occurred; every user extracted once by a sweep at
T - 30 days.

1. `dbt build --full-refresh` (models and data tests, as `descope-sync transform` runs them: without
   dbt's unit tests, which CI runs).
2. A day passes: 1% of users modified (a new version each), one day of logins (events / 30, new
   addresses among them, looked up), a few deletion events. Incremental `dbt build`. `--days` times
   (the machine is shared: the median is reported).
3. History doubled: every user gets an older version, and as many audit events again in the 30 days
   before the first ones (landed back then). `dbt build --full-refresh`.
4. Days pass as in 2, incremental builds. Flat when incremental cost does not grow with history.

Every dbt command runs in its own process (as the CLI and the function run it), after a
`dbt parse` that leaves partial parsing ready. Printed for each build: wall time and the models'
and tests' own execution time, summed from target/run_results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from descope_sync.landing.duckdb import DuckDBLandingWriter
from descope_sync.transform import project_dir

DAY = timedelta(days=1)


def dbt(db: Path, target_path: Path, command: str, *args: str) -> float:
    """`dbt <command>` in its own process, as `descope-sync transform` runs it; wall seconds."""
    code = (
        "import sys; from descope_sync.transform import run_dbt; "
        f"o = run_dbt({command!r}, duckdb_path={str(db)!r}, extra_args={list(args)!r}, unit_tests=False); "
        "sys.exit(0 if o.success else print(o.failures) or 1)"
    )
    env = {**os.environ, "DBT_TARGET_PATH": str(target_path)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return time.perf_counter() - started


def node_results(target_path: Path) -> list[dict]:
    """The nodes' results of the last dbt run (target/run_results.json)."""
    return json.loads((project_dir() / target_path / "run_results.json").read_text())["results"]


def execution_seconds(results: list[dict]) -> dict[str, float]:
    """The nodes' own execution time, summed per kind (model, test, unit_test)."""
    sums: dict[str, float] = {}
    for result in results:
        kind = result["unique_id"].split(".", 1)[0]
        sums[kind] = sums.get(kind, 0.0) + float(result["execution_time"])
    return sums


def slowest_nodes(results: list[dict], count: int) -> str:
    """The `count` nodes with the longest execution time, as `name s` pairs."""
    slowest = sorted(results, key=lambda result: -float(result["execution_time"]))[:count]
    return ", ".join(f"{r['unique_id'].split('.')[-1][:48]} {float(r['execution_time']):.2f}" for r in slowest)


# ------------------------------------------------------------------------------ landing rows
def user_rows(con: duckdb.DuckDBPyConnection, first: int, count: int, extracted_at: datetime, modified_s: str) -> None:
    """Users first..first+count as Descope user objects; `modified_s`: SQL for modifiedTime (epoch s) of user i."""
    con.execute(
        f"""
        insert into descope_raw.users
        with numbered as (
            select
                i,
                'U2' || substr(md5(cast(i as varchar)), 1, 26) as user_id,
                'user' || i || '@example' || (i % 97) || '.com' as email,
                1600000000 + (i * 37) % 31536000 as created_s,
                cast({modified_s} as bigint) as modified_s
            from range({first}, {first + count}) as t (i)
        )
        select
            user_id,
            make_timestamp(modified_s * 1000000) as modified_at,
            json_object(
                'loginIds', json_array(email), 'userId', user_id, 'name', 'User ' || i,
                'email', case when i % 20 = 0 then ' ' || upper(email) || ' ' else email end,
                'phone', case when i % 5 < 3 then '+1555' || lpad(cast(i % 10000000 as varchar), 7, '0') else '' end,
                'verifiedEmail', i % 5 < 4, 'verifiedPhone', i % 5 < 2,
                'roleNames', case when i % 3 = 0 then json_array('Tenant Admin') else json_array() end,
                'userTenants', json_array(json_object(
                    'tenantId', 'T' || (i % 50), 'tenantName', 'Tenant ' || (i % 50),
                    'roleNames', json_array('member'), 'permissions', json_array()
                )),
                'status', case when i % 50 = 0 then 'disabled' when i % 70 = 0 then 'invited' else 'enabled' end,
                'externalIds', json_array(email),
                'picture', case when i % 5 < 2 then 'https://i.pravatar.cc/150?u=' || user_id else '' end,
                'test', i % 100 = 0,
                'customAttributes', json_object(
                    'plan', 'plan' || (i % 4), 'department', 'dept' || (i % 9), 'signupSource', 'web',
                    'seats', i % 500, 'marketingOptIn', i % 3 = 0
                ),
                'createdTime', created_s, 'TOTP', i % 10 = 0, 'SAML', i % 10 = 1,
                'OAuth', json_object('google', true), 'webauthn', i % 7 = 0, 'password', i % 5 < 2,
                'ssoAppIds', json_array(), 'givenName', 'Given' || (i % 1000), 'middleName', '',
                'familyName', 'Family' || (i % 5000), 'editable', true, 'SCIM', i % 20 = 0,
                'push', i % 20 = 1, 'permissions', json_array(), 'modifiedTime', modified_s
            ) as payload,
            'bench-users-' || strftime(timestamp '{extracted_at}', '%Y%m%d%H%M') as _batch_id,
            timestamp '{extracted_at}' + (i - {first}) // 1000 * interval 200 millisecond as _extracted_at
        from numbered
        """
    )


def address(expression: str) -> str:
    """A public-looking IPv4 address (some with a port) from an integer expression."""
    return (
        f"(cast(41 + ({expression}) % 170 as varchar) || '.' || cast(({expression}) // 170 % 256 as varchar) || '.' "
        f"|| cast(({expression}) // 43520 % 256 as varchar) || '.' || cast(7 + ({expression}) % 241 as varchar)"
        f" || case when ({expression}) % 10 = 0 then ':443' else '' end)"
    )


def event_rows(
    con: duckdb.DuckDBPyConnection, first: int, count: int, users: int, start: datetime, span: timedelta, addresses: int
) -> None:
    """Audit events first..first+count spread over [start, start + span), each extracted 5 minutes
    after its page's last event; 80% LoginSucceed from one of `addresses` addresses."""
    span_ms = int(span.total_seconds() * 1000)
    con.execute(
        f"""
        insert into descope_raw.audit_events
        with numbered as (
            select
                j,
                'U2' || substr(md5(cast(hash(j) % {users} as varchar)), 1, 26) as user_id,
                case
                    when j % 10 < 8 then 'LoginSucceed'
                    when j % 10 = 8 then 'UserModified'
                    else 'LoginFailed'
                end as action,
                make_timestamp(
                    (epoch_ms(timestamp '{start}') + (j - {first}) * {span_ms} // {count}) * 1000
                ) as occurred_at,
                {address(f"hash(j * 7) % {addresses}")} as remote_address
            from range({first}, {first + count}) as t (j)
        )
        select
            'e' || substr(md5(cast(j as varchar)), 1, 23) as event_id,
            action,
            user_id,
            occurred_at,
            remote_address,
            json_object(
                'ID', 'e' || substr(md5(cast(j as varchar)), 1, 23), 'projectId', 'P2bench', 'userId', user_id,
                'action', action, 'occurred', cast(epoch_ms(occurred_at) as varchar),
                'device', case when j % 3 = 0 then 'Mobile' else 'Desktop' end,
                'method', case when j % 200 = 0 then 'Impersonate' when j % 2 = 0 then 'otp' else 'magiclink' end,
                'geo', 'US', 'remoteAddress', remote_address, 'externalIds', json_array(user_id || '@x.com'),
                'tenants', json_array('T' || (j % 50)), 'data', json_object(), 'type', 'info'
            ) as payload,
            'bench-audit-' || strftime(occurred_at, '%Y%m%d') as _batch_id,
            -- pages of 1000 events, each landed 5 minutes after it occurred
            max(occurred_at) over (partition by (j - {first}) // 1000) + interval 5 minute as _extracted_at
        from numbered
        """
    )


def lookup_rows(con: duckdb.DuckDBPyConnection, first: int, count: int, looked_up_at: datetime) -> None:
    """One lookup of each address first..first+count (as the ip_locations stream lands them)."""
    con.execute(
        f"""
        insert into descope_raw.ip_locations by name
        select
            {address("k")} as ip,
            split_part({address("k")}, ':', 1) as client_ip,
            'City' || (k % 3000) as city, 'Region' || (k % 300) as region, 'R' || (k % 300) as region_code,
            'C' || chr(cast(65 + k % 26 as integer)) as country_code,
            'Country ' || chr(cast(65 + k % 26 as integer)) as country_name,
            'EU' as continent_code, (k % 180) - 90.0 + 0.5 as latitude, (k % 360) - 180.0 + 0.5 as longitude,
            100 as accuracy_radius_km, 'Europe/Paris' as time_zone, true as is_found,
            cast(null as varchar) as not_found_reason, 'GeoLite2-City' as database_type,
            timestamp '2026-01-01 00:00:00' as database_built_at,
            timestamp '{looked_up_at}' as _looked_up_at, 'bench-ip' as _batch_id
        from range({first}, {first + count}) as t (k)
        """
    )


def deletion_rows(con: duckdb.DuckDBPyConnection, users: list[int], at: datetime) -> None:
    for n, i in enumerate(users):
        user_id = con.execute(f"select 'U2' || substr(md5(cast({i} as varchar)), 1, 26)").fetchone()[0]
        payload = json.dumps({"ID": f"del-{at:%Y%m%d}-{n}", "action": "UserDeleted", "userId": user_id})
        con.execute(
            "insert into descope_raw.audit_events by name select ? as event_id, 'UserDeleted' as action, "
            "? as user_id, ? as occurred_at, cast(? as json) as payload, 'bench-del' as _batch_id, "
            "? as _extracted_at",
            [f"del-{at:%Y%m%d}-{n}", user_id, at, payload, at + timedelta(minutes=5)],
        )


def sync_runs(con: duckdb.DuckDBPyConnection, sweep_at: datetime, audit_to: datetime) -> None:
    details = json.dumps({"reconciled": True, "held": False, "would_remove": 0, "reason": None})
    con.execute(
        """
        insert into descope_raw._sync_runs by name
        select 'bench-sweep' as run_id, 'users' as stream, 'success' as status, 'full' as mode,
            ? as started_at, ? as finished_at, ? as cursor_to, 'bench-sweep' as sweep_id,
            ? as sweep_started_at, cast(? as json) as details
        """,
        [sweep_at, sweep_at + timedelta(hours=1), sweep_at, sweep_at - timedelta(hours=1), details],
    )
    con.execute(
        """
        insert into descope_raw._sync_runs by name
        select 'bench-audit-' || strftime(?, '%Y%m%d%H') as run_id, 'audit_events' as stream,
            'success' as status, 'incremental' as mode, ? as started_at, ? as finished_at,
            ? as cursor_from, ? as cursor_to
        """,
        [audit_to, audit_to, audit_to, audit_to - DAY, audit_to],
    )


class Landing:
    """The warehouse's landing tables and what has been generated into them."""

    def __init__(self, db: Path, users: int, events: int, t0: datetime) -> None:
        self.db, self.users, self.events, self.t0 = db, users, events, t0
        self.addresses = max(1000, users // 2)
        self.next_event = 0
        self.next_address = 0
        with DuckDBLandingWriter(db) as writer:
            writer.ensure_tables()

    def history(self, start: datetime) -> None:
        """`events` events over the 30 days before `start`, their addresses looked up."""
        with duckdb.connect(str(self.db)) as con:
            event_rows(con, self.next_event, self.events, self.users, start - 30 * DAY, 30 * DAY, self.addresses)
            self.next_event += self.events
            if self.next_address == 0:
                lookup_rows(con, 0, self.addresses, start - 30 * DAY)
                self.next_address = self.addresses

    def first_load(self) -> None:
        with duckdb.connect(str(self.db)) as con:
            user_rows(con, 0, self.users, self.t0 - 30 * DAY, "created_s + 86400")
            sync_runs(con, self.t0 - 30 * DAY, self.t0)
        self.history(self.t0)

    def double_history(self) -> None:
        """Every user an older version, and as many events again in the 30 days before the first ones."""
        with duckdb.connect(str(self.db)) as con:
            user_rows(con, 0, self.users, self.t0 - 60 * DAY, "created_s + 3600")
        self.history(self.t0 - 30 * DAY)

    def a_day_passes(self, day: int) -> None:
        """Day `day` after T: 1% of users modified, a day of logins (1% of them from new addresses)."""
        at = self.t0 + day * DAY
        changed = max(1, self.users // 100)
        first_changed = (day * 7919) % max(1, self.users - changed)
        with duckdb.connect(str(self.db)) as con:
            user_rows(con, first_changed, changed, at, f"{int(at.timestamp())} - 60")
            per_day = max(1, self.events // 30)
            new_addresses = max(1, per_day // 100)
            event_rows(con, self.next_event, per_day, self.users, at - DAY, DAY, self.next_address + new_addresses)
            self.next_event += per_day
            lookup_rows(con, self.next_address, new_addresses, at + timedelta(minutes=10))
            self.next_address += new_addresses
            deletion_rows(con, [first_changed + changed + k for k in range(5)], at - timedelta(hours=1))
            sync_runs(con, self.t0 - 30 * DAY, at)

    def counts(self) -> dict[str, int]:
        with duckdb.connect(str(self.db)) as con:
            return {
                table: con.execute(f"select count(*) from descope_raw.{table}").fetchone()[0]
                for table in ("users", "audit_events", "ip_locations")
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--db", type=Path, help="warehouse file (default: a temporary one)")
    parser.add_argument("--days", type=int, default=3, help="incremental builds after each full one")
    parser.add_argument("--slowest", type=int, default=0, help="also print the N slowest nodes of each build")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.duckdb"
        target = Path("target") / "bench"
        t0 = datetime.utcnow().replace(microsecond=0) - 3 * DAY
        landing = Landing(db, args.users, args.events, t0)
        started = time.perf_counter()
        landing.first_load()
        print(f"generated {landing.counts()} in {time.perf_counter() - started:.1f} s", flush=True)
        dbt(db, target, "parse")  # partial parsing ready for every timed run
        rows = []

        def measure(label: str, *dbt_args: str) -> None:
            wall = dbt(db, target, "build", *dbt_args)
            results = node_results(target)
            sums = execution_seconds(results)
            rows.append((label, wall, sums.get("model", 0.0), sums.get("test", 0.0), sums.get("unit_test", 0.0)))
            print(
                f"{label:<44} wall {wall:7.1f} s | models {sums.get('model', 0):7.2f} s | tests "
                f"{sums.get('test', 0):6.2f} s | unit tests {sums.get('unit_test', 0):5.2f} s",
                flush=True,
            )
            if args.slowest:
                print(f"    slowest: {slowest_nodes(results, args.slowest)}", flush=True)

        day = 0
        for phase in ("history", "history doubled"):
            if phase == "history doubled":
                landing.double_history()
                print(f"history doubled: {landing.counts()}", flush=True)
            measure(f"full (build --full-refresh), {phase}", "--full-refresh")
            for _ in range(args.days):
                day += 1
                landing.a_day_passes(day)
                measure(f"incremental (build), {phase}, day {day}")
        per_phase = 1 + args.days
        for first in (0, per_phase):
            full, days = rows[first], rows[first + 1 : first + per_phase]
            wall = statistics.median(row[1] for row in days)
            models = statistics.median(row[2] for row in days)
            print(
                f"{'history doubled' if first else 'history'}: incremental (median of {len(days)}) / full: "
                f"wall {wall:.1f} / {full[1]:.1f} s = {wall / full[1]:.1%}, "
                f"models {models:.2f} / {full[2]:.2f} s = {models / full[2]:.1%}"
            )


if __name__ == "__main__":
    main()
