"""The state queries answer the same on both writers: identical landing rows go into a DuckDB file and an
emulator dataset, and every question the streams ask gets the same answer (and the answer the rows imply)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from descope_sync.landing.base import SyncRun
from descope_sync.landing.duckdb import DuckDBLandingWriter
from tests.bigquery.helpers import bq_writer, dataset_for

T = datetime(2026, 10, 1, 0, 0, 0)


def at(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


def user(user_id: str, extracted: float) -> dict:
    return {
        "user_id": user_id,
        "modified_at": at(extracted - 1),
        "payload": {"userId": user_id},
        "_batch_id": "b",
        "_extracted_at": at(extracted),
    }


def event(event_id: str, action: str, occurred: float, user_id: str | None = None, ip: str | None = None, **payload):
    return {
        "event_id": event_id,
        "action": action,
        "user_id": user_id,
        "occurred_at": at(occurred),
        "remote_address": ip,
        "payload": {"ID": event_id, "action": action, **payload},
        "_batch_id": "b",
        "_extracted_at": at(occurred + 1),
    }


def run(stream: str, status: str, started: float, finished: float | None, cursor: float | None = None, **fields):
    return SyncRun(
        run_id=f"{stream}-{status}-{started}",
        stream=stream,
        status=status,
        started_at=at(started),
        finished_at=at(finished) if finished is not None else None,
        cursor_to=at(cursor) if cursor is not None else None,
        **fields,
    )


USERS = [
    *(user(f"U{i}", 10) for i in range(1, 13)),
    user("U1", 50),  # landed again later
    user("U13", 60),
    user("U14", 60),
    user('U"q', 60),  # a quote in the id: the bulk-deletion text holds it escaped, so neither engine matches it
    user("Uë", 60),
    user("U-old", 1),
]
EVENTS = [
    event("E01", "LoginSucceed", 5, "U1", "203.0.113.5"),
    event("E02", "LoginSucceed", 7, "U2", "203.0.113.6:443"),
    event("E03", "UserDeleted", 8, "U3", "198.51.100.1"),
    event("E04", "UserDeleted", 8, None, "198.51.100.1"),  # names nobody
    event("E05", "UsersDeleted", 9, None, None, data=["U4", "U5", "U1"], externalIds=["U6"], actorId="U1"),
    event("E06", "UsersDeleted", 9, "U7", "2001:db8::1", data={"nested": {"ids": ["U8"]}}),
    event("E07", "UsersDeleted", 9, None, None, data="U9"),
    event("E08", "UsersDeleted", 9, None, None, data=['U"q', 17, None, True, "Uë"]),
    event("E09", "LoginSucceed", 20, "U10", "203.0.113.5"),
    event("E10", "LoginSucceed", 20, "U11", "203.0.113.7"),  # same instant as E09: the tie goes to the larger id
    event("E11", "Logout", 30, "U12", "192.0.2.44"),
    event("E12", "Logout", 30, "U12", None),
    event("E13", "UserDeleted", 40, "U13", "192.0.2.45", data=["U14"]),  # UserDeleted: only user_id counts
]
IP_LOCATIONS = [
    {"ip": "203.0.113.5", "database_type": "GeoLite2-City", "database_built_at": at(-100), "_looked_up_at": at(1)},
    {"ip": "203.0.113.6:443", "database_type": "GeoLite2-City", "database_built_at": at(-200), "_looked_up_at": at(1)},
    {"ip": "192.0.2.44", "database_type": "GeoLite2-Country", "database_built_at": at(-100), "_looked_up_at": at(1)},
]
RUNS = [
    run("users", "partial", 0, 5, 4, mode="full", sweep_id="S1", sweep_started_at=at(0), details={"position": 10}),
    run("users", "success", 0, 9, 8, mode="full", sweep_id="S1", sweep_started_at=at(0), details={"reconciled": True}),
    run(
        "users",
        "incomplete",
        20,
        25,
        None,
        mode="full",
        sweep_id="S2",
        sweep_started_at=at(20),
        details={"reconciled": True, "held": True, "would_remove": 3},
    ),
    run("users", "success", 30, 31, 30),
    run("users", "failed", 40, 41, 99, error="boom"),  # a failed row's cursor never counts
    run("users", "partial", 50, None, 35, mode="full", sweep_id="S3", sweep_started_at=at(50)),  # never finished
    run("audit_events", "data_loss", 0, 1, 2),
    run("audit_events", "partial", 2, 3, 12),
    run("audit_events", "incomplete", 4, 5, 15),
    run("ip_locations", "success", 6, 7, None, rows_loaded=3),
    # `descope-sync reset`: only rows that finished after a stream's latest reset count toward its cursor
    run("reset_then_ran", "success", 0, 1, 50),
    run("reset_then_ran", "reset", 2, 2),
    run("reset_then_ran", "partial", 3, 4, 10),
    run("reset_then_ran", "reset", 1, 1),  # an older reset changes nothing
    run("reset_last", "success", 0, 1, 50),
    run("reset_last", "reset", 1, 1),  # same instant as the row it resets: that row no longer counts
]

# (question, arguments, the answer the rows imply)
CASES = [
    ("latest_cursor", ("users",), {}, at(35)),
    ("latest_cursor", ("audit_events",), {}, at(15)),
    ("latest_cursor", ("ip_locations",), {}, None),
    ("latest_cursor", ("nobody",), {}, None),
    ("latest_cursor", ("reset_then_ran",), {}, at(10)),
    ("latest_cursor", ("reset_last",), {}, None),
    ("last_run", ("users",), {}, "users-failed-40"),
    ("last_run", ("users",), {"in_sweep": True}, "users-incomplete-20"),
    ("last_run", ("users",), {"statuses": ["success"], "mode": "full", "in_sweep": True}, "users-success-0"),
    ("last_run", ("users",), {"statuses": ["incomplete"], "mode": "full", "sweep_id": "S2"}, "users-incomplete-20"),
    ("last_run", ("users",), {"statuses": ["success", "partial"]}, "users-success-30"),
    ("last_run", ("users",), {"mode": "incremental"}, "users-failed-40"),
    ("last_run", ("users",), {"sweep_id": "S3"}, "users-partial-50"),
    ("last_run", ("users",), {"sweep_id": "nope"}, None),
    ("last_run", ("ip_locations",), {}, "ip_locations-success-6"),
    (
        "runs",
        ("users",),
        {"statuses": ["success", "incomplete"], "mode": "full"},
        ["users-incomplete-20", "users-success-0"],
    ),
    ("runs", ("users",), {"in_sweep": True, "limit": 2}, ["users-incomplete-20", "users-success-0"]),
    ("runs", ("nobody",), {}, []),
    # 17 users; deleted: U3, U13 (UserDeleted), U4-U6 (data, externalIds; not the actor U1), U7 (user_id),
    # U8 (nested), U9 (a lone string), Uë; not U14 (named by a UserDeleted's data), not U"q (escaped)
    ("live_user_count", (None,), {}, 8),
    ("live_user_count", (at(10),), {}, 7),  # U-old was extracted before
    ("live_user_count", (at(50),), {}, 3),  # U1, U14, U"q
    ("live_user_count", (at(61),), {}, 0),
    ("latest_audit_event", (at(25),), {}, ("E10", at(20))),
    ("latest_audit_event", (at(100),), {}, ("E13", at(40))),
    ("latest_audit_event", (at(100), ["LoginSucceed"]), {}, ("E10", at(20))),
    ("latest_audit_event", (at(100), ["UsersDeleted", "Logout"]), {}, ("E12", at(30))),
    ("latest_audit_event", (at(4),), {}, None),
    ("latest_audit_event", (at(8), []), {}, ("E04", at(8))),
    ("ips_without_location", ("GeoLite2-City", at(-100), 2), {}, 6),
    ("ips_without_location", ("GeoLite2-Country", at(-100), 100), {}, 6),
    ("ips_without_location", ("GeoLite2-City", at(-300), 1), {}, 7),
    ("count", ("users",), {}, len(USERS)),
    ("count", ("audit_events",), {}, len(EVENTS)),
    ("count", ("_sync_runs",), {}, len(RUNS)),
]


def _land(writer) -> None:
    writer.ensure_tables()
    writer.append("users", USERS[:10])
    writer.append("users", USERS[10:])
    writer.append("audit_events", EVENTS)
    writer.append(
        "ip_locations",
        [{**row, "_batch_id": "b", "is_found": True, "latitude": 1.5, "accuracy_radius_km": 5} for row in IP_LOCATIONS],
    )
    for sync_run in RUNS:
        writer.record_run(sync_run)


@pytest.fixture(scope="module")
def writers(bq_emulator, tmp_path_factory, request):
    duck = DuckDBLandingWriter(tmp_path_factory.mktemp("parity") / "w.duckdb")
    big = bq_writer(bq_emulator, dataset_for(request))
    for writer in (duck, big):
        _land(writer)
    yield duck, big
    duck.close()
    big.close()


def _answer(writer, question: str, args: tuple, kwargs: dict):
    answer = getattr(writer, question)(*args, **kwargs)
    if question == "ips_without_location":
        chunks = list(answer)
        size = args[2]
        assert all(len(chunk) == size for chunk in chunks[:-1]) and 0 < len(chunks[-1]) <= size
        return sorted(ip for chunk in chunks for ip in chunk)
    return answer


@pytest.mark.parametrize(
    ("question", "args", "kwargs", "implied"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_both_writers_give_the_same_answer(writers, question, args, kwargs, implied):
    duck, big = writers
    expected, actual = _answer(duck, question, args, kwargs), _answer(big, question, args, kwargs)
    assert actual == expected
    if question == "last_run":
        assert (expected.run_id if expected else None) == implied
    elif question == "runs":
        assert [r.run_id for r in expected] == implied
    elif question == "latest_audit_event":
        assert ((expected.event_id, expected.occurred_at) if expected else None) == implied
    elif question == "ips_without_location":
        assert len(expected) == implied
    else:
        assert expected == implied


def test_a_sync_run_round_trips_through_both_writers_field_for_field(writers):
    duck, big = writers
    held = big.last_run("users", statuses=["incomplete"])
    assert held == duck.last_run("users", statuses=["incomplete"])
    assert held.details == {"reconciled": True, "held": True, "would_remove": 3}
    assert (held.sweep_started_at, held.finished_at, held.rows_loaded) == (at(20), at(25), 0)
