"""`make dbt-check`: the whole job as a user runs it, twice, with changes in between, checked against the truth.

    python scripts/dbt_check.py [--duckdb-path target/check.duckdb] [--users 300]

Starts the Descope simulator, runs `descope-sync run` (extract + a full dbt build), then changes the
source the ways production changes it: users created and modified, deleted with an event, deleted in
bulk, deleted without any event, successful logins, and logins that occurred before the first run's
cursor but were indexed only after it. Then `descope-sync run` again (an incremental build), and the
marts must equal what the simulator says a correct pipeline shows. Exit 1, listing the differences,
when they do not.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from descope_sim import Simulator, World
from descope_sync.timeutil import from_ms


def run(sim: Simulator, db: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_")}
    env.update(
        DESCOPE_PROJECT_ID=sim.project_id,
        DESCOPE_MANAGEMENT_KEY=sim.management_key,
        DESCOPE_BASE_URL=sim.base_url,
        DUCKDB_PATH=str(db),
        DESCOPE_AUDIT_SETTLE_SECONDS="0",  # the simulator indexes at once, but for the late logins below
    )
    result = subprocess.run([sys.executable, "-m", "descope_sync.cli", "run"], env=env, capture_output=True, text=True)
    print(result.stdout, end="")
    if result.returncode != 0:
        print(result.stderr, file=sys.stderr)
        raise SystemExit(f"dbt-check: descope-sync run exited {result.returncode}")


def change_the_source(world: World) -> dict[str, int]:
    live = sorted(world.truth()["users"])
    done = {
        "created": len([world.create_user() for _ in range(5)]),
        "modified": len([world.modify_user() for _ in range(10)]),
        "deleted with an event": len([world.delete_user(uid) for uid in live[:2]]),
        "deleted silently": len([world.delete_user(uid, emit_event=False) for uid in live[2:4]]),
    }
    world.delete_users(live[4:7], event="bulk")
    done["deleted in bulk"] = 3
    done["logins"] = len([world.login() for _ in range(10)])
    # Logins that happened before the first run's cursor but were indexed only now.
    late_ms = int((time.time() - 20) * 1000)
    done["late logins"] = len([world.login(occurred_ms=late_ms) for _ in range(3)])
    return done


def differences(db: Path, truth: dict) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        users = {
            row[0]: row[1:]
            for row in con.execute(
                "select user_id, login_count, last_login_time, email from descope_data_v2.users"
            ).fetchall()
        }
        clean = {r[0] for r in con.execute("select user_id from descope_data_v2.users_clean").fetchall()}
        logins = con.execute("select count(*), count(distinct event_id) from descope_data_v2.user_logins").fetchone()
    finally:
        con.close()
    problems = []
    live = truth["users"]
    if set(users) != set(live):
        problems.append(f"users: {len(set(users) - set(live))} too many, {len(set(live) - set(users))} missing")
    for uid, (count, last, email) in users.items():
        expected = truth["expected_activity"].get(uid)
        if expected is None:
            continue
        last_ms = expected["last_login_time_ms"]
        if count != expected["login_count"] or last != (from_ms(last_ms) if last_ms is not None else None):
            problems.append(f"user {uid}: {count} logins, last {last}; expected {expected['login_count']}, {last_ms}")
        if email != live[uid].get("email"):
            problems.append(f"user {uid}: email {email!r}, expected {live[uid].get('email')!r}")
    if clean != {uid for uid, u in live.items() if not u.get("test")}:
        problems.append("users_clean: not the live users without test users")
    if logins[0] != logins[1] or logins[0] != len(truth["logins"]):
        problems.append(f"user_logins: {logins[0]} rows, {logins[1]} distinct, expected {len(truth['logins'])}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duckdb-path", type=Path, default=Path("target/check.duckdb"))
    parser.add_argument("--users", type=int, default=300)
    args = parser.parse_args()
    for leftover in (args.duckdb_path, args.duckdb_path.with_name(args.duckdb_path.name + ".wal")):
        leftover.unlink(missing_ok=True)
    args.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    with Simulator(World(seed=7, users=args.users)) as sim:
        print(f"dbt-check: first run (full build) against {args.users} simulated users")
        run(sim, args.duckdb_path)
        changes = change_the_source(sim.world)
        print("dbt-check: changed the source: " + ", ".join(f"{n} {what}" for what, n in changes.items()))
        run(sim, args.duckdb_path)
        problems = differences(args.duckdb_path, sim.world.truth())
    if problems:
        print("dbt-check: the marts differ from the simulator's truth:", *problems[:20], sep="\n  ", file=sys.stderr)
        return 1
    print("dbt-check: after the incremental build the marts equal the simulator's truth")
    return 0


if __name__ == "__main__":
    sys.exit(main())
