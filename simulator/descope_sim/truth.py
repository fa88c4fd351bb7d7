"""What a perfect extractor + dbt would know about a world right now (``GET /_sim/truth``).

Everything is as served in the world's dialect, and only events audit search can see now
count (events not yet indexed are only counted, in ``pending_events``). Logins are the
``contract.LOGIN_ACTIONS`` events; a user's activity excludes impersonation (method
``Impersonate``), and its last login is the one with the greatest
``(occurred, contract.event_id(event))``, the tie-break dbt uses.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from descope_sync.contract import LOGIN_ACTIONS, event_id

from .generate import is_ip
from .store import ACTION, ADDRESS, BLOB, CLIENT_IP, METHOD, OCCURRED, USER_ID

if TYPE_CHECKING:
    from .world import World


def _no_activity() -> dict[str, Any]:
    return {
        "login_count": 0,
        "first_login_time_ms": None,
        "last_login_time_ms": None,
        "last_login_ip": None,
        "last_login_remote_address": None,
    }


def truth(w: World) -> dict[str, Any]:
    """Every key: docs/simulator.md, "Truth"."""
    with w.lock:
        now_ms = w.now_ms()
        w.event_store.promote(now_ms)
        store = w.user_store
        users: dict[str, Any] = {}
        without_id: list[Any] = []
        for rec in store.all_live():
            if rec.has_id:
                users[rec.key] = store.served(rec)
            else:
                without_id.append(store.served(rec))
        packed = list(w.event_store.events)
        pending = w.event_store.pending_count
        deleted = list(w.deleted)
        dialect = w.dialect.as_dict()
    events = json.loads(b"[" + b",".join(p[BLOB] for p in packed) + b"]")
    activity = {uid: _no_activity() for uid in users}
    best: dict[str, tuple[int, str]] = {}
    logins = []
    for p, event in zip(packed, events, strict=True):
        if p[ACTION] not in LOGIN_ACTIONS:
            continue
        logins.append(event)
        uid = p[USER_ID]
        if uid not in activity or p[METHOD] == "Impersonate":
            continue
        row = activity[uid]
        occurred = p[OCCURRED]
        row["login_count"] += 1
        if row["first_login_time_ms"] is None or occurred < row["first_login_time_ms"]:
            row["first_login_time_ms"] = occurred
        key = (occurred, event_id(event))
        if uid not in best or key > best[uid]:
            best[uid] = key
            row["last_login_time_ms"] = occurred
            row["last_login_ip"] = p[CLIENT_IP] if is_ip(p[CLIENT_IP]) else None
            row["last_login_remote_address"] = p[ADDRESS]
    return {
        "now_ms": now_ms,
        "dialect": dialect,
        "users": users,
        "users_without_id": without_id,
        "user_count": len(users) + len(without_id),
        "events": events,
        "event_client_ips": [p[CLIENT_IP] for p in packed],
        "pending_events": pending,
        "logins": logins,
        "deleted_user_ids": deleted,
        "expected_activity": activity,
    }
