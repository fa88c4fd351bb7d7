"""An audit event as landed (`streams/audit/rows.py`): its typed columns and id, and the malformed ones quarantined."""

from __future__ import annotations

import json

import pytest

from descope_sync.timeutil import from_ms
from tests.conftest import logged, query, settings_for
from tests.extract.streams.audit.conftest import (
    HOUR_AGO,
    NOW_MS,
    READERS,
    UNLIMITED,
    extract_at,
    extract_audit,
    landed_event_ids,
    newest_first_world,
    truth_event_ids,
    world_of,
)


def test_occurred_strings_and_missing_ids_are_typed_and_hashed(simulator, tmp_path):
    sim = simulator(users=80)
    db = tmp_path / "w.duckdb"
    extract_audit(settings_for(sim, db))
    rows = query(
        db,
        "select event_id, occurred_at, payload->>'occurred', payload->>'ID' from descope_raw.audit_events limit 500",
    )
    hashed = [r for r in rows if r[3] is None]
    assert hashed and all(r[0].startswith("h_") for r in hashed)
    for _, occurred_at, occurred_text, _ in rows:
        assert isinstance(occurred_text, str) and occurred_text.isdigit()
        assert occurred_at == from_ms(int(occurred_text))


@pytest.mark.parametrize("where", ["last", "first", "middle"])
@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b'"a bare string"', "not an object"),
        (b'{"id": "EVbad", "action": "LoginSucceed", "occurred": "soon"}', "audit event without a usable 'occurred'"),
    ],
)
def test_a_malformed_event_anywhere_in_a_page_is_quarantined_and_the_rest_land(
    simulator, tmp_path, caplog, where, bad, reason
):
    sim = simulator(users=40)
    original, served = sim.world.search_audit, []

    def with_a_malformed_event(**query):
        events, total = original(**query)
        if len(events) > 2 and not served:
            served.append(True)
            at = {"first": 0, "middle": len(events) // 2, "last": len(events)}[where]
            return [*events[:at], bad, *events[at:]], total + 1
        return events, total

    sim.world.search_audit = with_a_malformed_event
    db = tmp_path / "w.duckdb"
    summary = extract_audit(settings_for(sim, db))
    stream = summary.streams[0]
    assert served and stream.status == "success" and stream.rows_quarantined == 1
    quarantined = "select stream, reason, payload::varchar, _batch_id, _extracted_at from descope_raw._quarantine"
    [(table, why, payload, batch, extracted_at)] = query(db, quarantined)
    assert (table, why, batch) == ("audit_events", reason, f"{summary.run_id}:audit_events")
    assert extracted_at is not None
    assert json.loads(payload) == json.loads(bad)
    assert set(landed_event_ids(db)) == truth_event_ids(sim)
    assert "audit_events: quarantined 1 malformed event(s)" in logged(caplog)


def test_each_landed_event_carries_its_typed_columns_and_the_batch_of_the_run_that_landed_it(simulator, tmp_path):
    """The landing columns dbt keys on: user_id (an empty userId is no user), action and remoteAddress
    only when they are strings, and the run's batch on every row."""
    clock = [NOW_MS / 1000]
    world = newest_first_world(oldest_first="honoured", clock=clock)
    hour_ago = NOW_MS - 3_600_000
    events = {
        "plain": {"userId": "U1", "action": "LoginSucceed", "remoteAddress": "1.2.3.4"},
        "empty-user": {"userId": "", "action": "LoginSucceed", "remoteAddress": "1.2.3.4:443"},
        "no-user": {"action": "LoginFailed"},
        "odd-types": {"userId": "U2", "action": 7, "remoteAddress": ["1.2.3.4"]},
    }
    for n, (id_, fields) in enumerate(events.items()):
        world.add_event({"ID": id_, "occurred": str(hour_ago + n), **fields})
    sim = simulator(world=world)
    db = tmp_path / "w.duckdb"
    assert str(extract_at(sim, db).streams[0].status) == "success"
    first_batches = {batch for (batch,) in query(db, "select _batch_id from descope_raw.audit_events")}
    assert len(first_batches) == 1 and None not in first_batches  # one run, one batch, on every row
    world.add_event({"ID": "second-run", "userId": "U3", "action": "LoginSucceed", "occurred": str(NOW_MS + 5)})
    clock[0] = (NOW_MS + 60_000) / 1000
    assert str(extract_at(sim, db, now_ms=NOW_MS + 60_000).streams[0].status) == "success"

    rows = {
        event: (user_id, action, remote)
        for event, user_id, action, remote in query(
            db, "select event_id, user_id, action, remote_address from descope_raw.audit_events"
        )
    }
    assert rows == {
        "plain": ("U1", "LoginSucceed", "1.2.3.4"),
        "empty-user": (None, "LoginSucceed", "1.2.3.4:443"),
        "no-user": (None, "LoginFailed", None),
        "odd-types": ("U2", None, None),
        "second-run": ("U3", "LoginSucceed", None),
    }
    [(second_batch,)] = query(db, "select _batch_id from descope_raw.audit_events where event_id = 'second-run'")
    assert second_batch is not None and second_batch not in first_batches


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("at", [0, 49, 50, 75, 999, 1000, 1001, 1449, 1499])
def test_an_event_whose_occurred_does_not_parse_is_quarantined_counted_and_fails_nothing(
    simulator, tmp_path, monkeypatch, reader, at
):
    """Descope files the event at its own time and counts it in `total`; we cannot read that time. It goes to
    _quarantine once, with its reason and batch, and every other event lands once: first, last or in the middle
    of a page, at a page boundary (pages of 50 asked, 1000 served by a server ignoring size), in either order."""
    world = world_of(reader, *range(HOUR_AGO, HOUR_AGO + 1500))
    bad = {"ID": "EVbad", "action": "LoginSucceed", "userId": "U1", "occurred": "soon"}
    world.add_event(bad, filed_at_ms=HOUR_AGO + at)
    sim = simulator(world=world, rate_limits=UNLIMITED)
    db = tmp_path / "w.duckdb"
    summary = extract_at(sim, db, max_seconds=60)
    stream = summary.streams[0]
    assert (str(stream.status), stream.rows_quarantined) == ("success", 1), stream.message
    [(why, batch, payload)] = query(db, "select reason, _batch_id, payload::varchar from descope_raw._quarantine")
    assert (why, batch, json.loads(payload)) == (
        "audit event without a usable 'occurred'",
        f"{summary.run_id}:audit_events",
        bad,
    )
    landed = landed_event_ids(db)
    assert sorted(landed) == sorted(truth_event_ids(sim) - {"EVbad"})
    assert stream.cursor_to == from_ms(NOW_MS)
