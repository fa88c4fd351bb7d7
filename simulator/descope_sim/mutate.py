"""Changes to a world after it was built: what happens in a Descope project over time.

Each function takes the :class:`~.world.World` (the facade exposes them as methods), runs under
``world.lock``, changes the user store, and logs the audit events the change produces through
:func:`log_event`, which decides when each event becomes visible to audit search:
``max(occurred + index delay, now)`` (the delay is drawn per event from ``index_delay_ms``).

Random choices come from the world's mutation RNG, so a seeded world replays the same changes.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from . import names
from .generate import DEVICE_CUM, DEVICES, METHOD_CUM, METHODS, MISSING_TIME, Rec, wchoice

if TYPE_CHECKING:
    from .world import World

BULK_EVENTS = ("bulk", "single", None)


def log_event(
    w: World, event: dict[str, Any], client_ip: str | None = None, *, visible_from_ms: int | None = None, **pack: Any
) -> bool:
    """Store one event; it is indexed at ``visible_from_ms`` (default: occurred + a drawn delay, not
    before now). Returns whether audit search sees it already."""
    now_ms = w.now_ms()
    if visible_from_ms is None:
        visible_from_ms = max(int(event["occurred"]) + w.index_delay(), now_ms)
    return w.event_store.add(w.event_store.pack(event, client_ip, **pack), visible_from_ms, now_ms)


def pick(w: World, user_id: str | None, *, generated_only: bool = False) -> Rec:
    """A live record: the given one, or a random generated user."""
    store = w.user_store
    if user_id is None:
        if not store.live:
            raise LookupError("the world has no live generated users")
        user_id = w.mrng.choice(store.live)
    rec = store.recs.get(user_id)
    if rec is None or not store.is_live(user_id):
        raise LookupError(f"no live user {user_id}")
    if generated_only and rec.verbatim:
        raise LookupError(f"user {user_id} was put with put_user: change it with put_user")
    return rec


def create_user(w: World) -> dict[str, Any]:
    """A new user created now (createdTime = modifiedTime = now); emits ``UserCreated``."""
    rng = w.mrng
    now = int(w.now())
    test = rng.random() < 0.03
    status = "enabled" if test else rng.choice(("enabled", "enabled", "enabled", "invited"))
    rec = Rec(w.gen.new_uid(rng, w.user_store.recs), w.next_seq(), now, now, test, status)
    rec.obj = w.gen.user_object(rec)
    w.user_store.recs[rec.key] = rec
    w.user_store.add(rec)
    address, client = w.gen.address(rec, rng)
    event = w.gen.event(
        "UserCreated",
        rec,
        w.now_ms(),
        device=rng.choice(DEVICES[:3]),
        method=rng.choice(METHODS),
        address=address,
        client_ip=client,
        rng=rng,
        obj=rec.obj,
    )
    log_event(w, event, client)
    return {"op": "create", "userId": rec.key, "user": w.user_store.served(rec), "event": event}


def modify_user(w: World, user_id: str | None = None) -> dict[str, Any]:
    """Change a few attributes of a generated user, set modifiedTime = now; emits ``UserModified``."""
    rng = w.mrng
    rec = pick(w, user_id, generated_only=True)
    obj = copy.deepcopy(w.user_store.obj(rec))
    changed: list[str] = []
    for name in rng.sample(("name", "status", "customAttributes", "roleNames", "phone"), rng.choice((1, 1, 2))):
        changed.append(name)
        if name == "name":
            given = rng.choice(names.SCRIPTS["latin"][0])[0]
            obj["givenName"] = given
            obj["name"] = " ".join(p for p in (given, obj.get("familyName", "")) if p)
        elif name == "status":
            obj["status"] = rec.status = rng.choice([s for s in ("enabled", "disabled", "expired") if s != rec.status])
        elif name == "customAttributes":
            obj.setdefault("customAttributes", {})["plan"] = rng.choice(names.PLANS)
            obj["customAttributes"]["seats"] = rng.randint(1, 500)
        elif name == "roleNames":
            obj["roleNames"] = rng.sample(names.PROJECT_ROLES, rng.choice((0, 1, 2)))
        else:
            obj["phone"] = rng.choice(names.PHONE_PREFIXES) + str(rng.randint(10**8, 10**10 - 1))
    modified = int(w.now())
    obj["modifiedTime"] = modified
    w.user_store.set_modified(rec, modified, obj)
    address = w.gen.admin_address(rng)
    event = w.gen.event("UserModified", rec, w.now_ms(), device="Desktop", method="", address=address, rng=rng, obj=obj)
    log_event(w, event, address)
    return {"op": "modify", "userId": rec.key, "changed": changed, "user": w.user_store.served(rec), "event": event}


def delete_user(w: World, user_id: str | None = None, emit_event: bool = True) -> dict[str, Any]:
    """Remove a user (its audit history stays); emits ``UserDeleted`` unless ``emit_event`` is false.

    A put_user record without a userId (``user_id`` = the key put_user returned) is always
    deleted silently and is not listed among the deleted user ids.
    """
    rng = w.mrng
    rec = pick(w, user_id)
    obj = w.user_store.obj(rec)
    event = None
    if emit_event and rec.has_id:
        address = w.gen.admin_address(rng)
        event = w.gen.event(
            "UserDeleted", rec, w.now_ms(), device="Desktop", method="", address=address, rng=rng, obj=obj
        )
        log_event(w, event, address)
    w.user_store.remove(rec)
    if rec.has_id:
        w.deleted.append(rec.key)
    return {"op": "delete", "userId": rec.key if rec.has_id else None, "event": event}


def delete_users(w: World, user_ids: list[str], event: str | None = "bulk") -> dict[str, Any]:
    """Remove several users at once.

    ``event="bulk"``: one ``UsersDeleted`` event (see :meth:`.generate.Generator.users_deleted`);
    ``"single"``: one ``UserDeleted`` per user; ``None``: no audit event at all. Every id must be
    a live user (checked before anything is deleted); duplicates count once.
    """
    if event not in BULK_EVENTS:
        raise ValueError(f"event must be one of {BULK_EVENTS}, not {event!r}")
    recs = [pick(w, uid) for uid in dict.fromkeys(user_ids)]
    if event == "single":
        done = [delete_user(w, rec.key) for rec in recs]
        return {
            "op": "delete_users",
            "userIds": [d["userId"] for d in done if d["userId"]],
            "events": [d["event"] for d in done if d["event"]],
        }
    objs = [w.user_store.obj(rec) for rec in recs]
    for rec in recs:
        w.user_store.remove(rec)
    ids = [rec.key for rec in recs if rec.has_id]
    w.deleted.extend(ids)
    events = []
    if event == "bulk" and ids:
        logged, client = w.gen.users_deleted(
            [o for o, r in zip(objs, recs, strict=True) if r.has_id], ids, w.now_ms(), w.mrng, w.bulk_ids_in
        )
        log_event(w, logged, client)
        events.append(logged)
    return {"op": "delete_users", "userIds": ids, "events": events}


def delete_test_users(w: World) -> dict[str, Any]:
    """Descope's "delete all test users": a bulk deletion of every live test user."""
    ids = [r.key for r in w.user_store.all_live() if r.test and r.has_id]
    return delete_users(w, ids, event="bulk")


def login(
    w: World,
    user_id: str | None = None,
    success: bool = True,
    occurred_ms: int | None = None,
    *,
    remote_address: str | None = None,
    client_ip: str | None = None,
) -> dict[str, Any]:
    """A ``LoginSucceed`` (or ``LoginFailed``) event for a user.

    At ``occurred_ms`` (default now); an older time makes it an event indexed late: visible from
    now on, though it occurred in the past. The address is drawn like generated history's unless
    ``remote_address`` is given (its client IP is ``client_ip``, default the address itself). In
    the ``paired`` dialect a success also logs its ``LoginFlowDone`` 1-40 ms later.
    """
    rng = w.mrng
    rec = pick(w, user_id)
    if remote_address is None:
        remote_address, client_ip = w.gen.address(rec, rng)
    elif client_ip is None:
        client_ip = remote_address
    event = w.gen.event(
        "LoginSucceed" if success else "LoginFailed",
        rec,
        w.now_ms() if occurred_ms is None else int(occurred_ms),
        device=wchoice(rng, DEVICES, DEVICE_CUM),
        method=wchoice(rng, METHODS, METHOD_CUM),
        address=remote_address,
        client_ip=client_ip,
        rng=rng,
        obj=w.user_store.obj(rec),
    )
    visible = log_event(w, event, client_ip)
    done: dict[str, Any] = {"op": "login", "userId": rec.key, "event": event, "visible": visible}
    if success and w.dialect.login_flow_done == "paired":
        flow_done = w.gen.flow_done(event)
        log_event(w, flow_done, client_ip)
        done["flow_done"] = flow_done
    return done


def add_event(
    w: World,
    event: dict[str, Any],
    *,
    client_ip: str | None = None,
    visible_from_ms: int | None = None,
    filed_at_ms: int | None = None,
) -> dict[str, Any]:
    """Insert any audit event, served verbatim in every dialect (``occurred`` must hold epoch ms).

    It becomes visible at ``visible_from_ms``, default now (or at ``occurred`` if that is later):
    an old ``occurred`` makes an event "indexed late". ``client_ip`` defaults to ``remoteAddress``.
    ``filed_at_ms``: the server files (sorts, filters, counts) the event at this time and serves its
    ``occurred`` as given, whatever it holds (a server whose index and payload disagree).
    """
    if not isinstance(event, dict):
        raise TypeError("an event is a dict")
    try:
        occurred = int(event["occurred"]) if filed_at_ms is None else filed_at_ms
    except (KeyError, TypeError, ValueError):
        raise ValueError("an event needs an occurred of epoch-ms digits") from None
    if visible_from_ms is None:
        visible_from_ms = max(w.now_ms(), occurred)
    visible = log_event(
        w, copy.deepcopy(event), client_ip, visible_from_ms=visible_from_ms, verbatim=True, filed_at_ms=filed_at_ms
    )
    return {"op": "event", "event": event, "visible": visible}


def put_user(w: World, obj: dict[str, Any]) -> dict[str, Any]:
    """Insert, or replace by userId, a user object served verbatim (any fields, any types); no event.

    A record counts as having an id when ``userId`` is a non-empty string; any other record gets
    an internal key (returned as ``key``; :func:`delete_user` accepts it). ``createdTime`` /
    ``modifiedTime`` are indexed only when they are JSON integers; ``test`` only when ``true``.
    """
    if not isinstance(obj, dict):
        raise TypeError("a user object is a dict")
    store = w.user_store
    uid = obj.get("userId")
    has_id = isinstance(uid, str) and uid != ""
    if has_id:
        key = uid
        old = store.recs.get(key)
        if old is not None and store.is_live(key):
            store.remove(old)
    else:
        w.no_id_count += 1
        key = f"\x00no-userId-{w.no_id_count}"
    created, modified = obj.get("createdTime"), obj.get("modifiedTime")
    status = obj.get("status")
    rec = Rec(
        key,
        w.next_seq(),
        created if type(created) is int else MISSING_TIME,
        modified if type(modified) is int else None,
        obj.get("test") is True,
        status if isinstance(status, str) else "",
    )
    rec.obj, rec.verbatim, rec.has_id = copy.deepcopy(obj), True, has_id
    store.recs[key] = rec
    store.add(rec)
    return {"op": "put", "userId": key if has_id else None, "key": key}


def random_mutation(w: World) -> list[dict[str, Any]]:
    """One chaos mutation: create, modify (sometimes followed by a login) or delete."""
    rng = w.mrng
    op = rng.choices(("create", "modify", "delete"), (3, 5, 2))[0]
    if op == "create" or not w.user_store.live:
        return [create_user(w)]
    if op == "delete" and len(w.user_store.live) > 1:
        return [delete_user(w)]
    done = [modify_user(w)]
    if rng.random() < 0.3:
        done.append(login(w, done[0]["userId"]))
    return done
