"""The simulated Descope project: seeded users, audit events, mutations and the truth.

Users are generated in two steps so that a million of them fit in memory and build fast:
the columns every query needs (userId, createdTime, modifiedTime, test, status) are drawn
up front from the world RNG; the rest of the user object is generated on demand from a
per-user RNG seeded with ``(seed, seq)`` and stays identical for the life of the world.
A user that is created or modified holds its own materialized object (copy-on-write, so
an object handed out to a response is never changed afterwards).

Audit events are kept sorted by ``(occurred, tie-break)`` where the tie-break is the
event ``ID``, or, when the event has no ``ID``, :func:`event_hash`. Each event is stored
pre-serialized, so answering a page is a byte join.

The world does not speak HTTP; :mod:`.server` does, and holds ``World.lock`` around every call.
"""

from __future__ import annotations

import base64
import bisect
import copy
import functools
import hashlib
import importlib
import ipaddress
import itertools
import json
import math
import operator
import os
import random
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import names

DAY = 86_400
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SUCCESS_ACTIONS = ("LoginSucceed", "LoginFlowDone")
STATUS_WEIGHTS = {"enabled": 85, "disabled": 7, "invited": 6, "expired": 2}
DEVICES = ("Desktop", "Mobile", "Tablet", "Bot")
DEVICE_WEIGHTS = (60, 30, 8, 2)
METHODS = ("otp", "magiclink", "oauth", "password", "sso", "webauthn")
METHOD_WEIGHTS = (20, 15, 30, 20, 10, 5)
ODD_ADDRESSES = (
    "10.0.3.17",
    "10.12.0.5",
    "192.168.1.20",
    "192.168.0.101",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "",
    "unknown",
    "1.2.3",
)
USER_SORT_FIELDS = ("createdTime", "modifiedTime", "userId", "email", "name")
_QUERY_CACHE_SIZE = 16


def geolite_city_path() -> str:
    """Path of the GeoLite2 City database bundled with ``maxminddb-geolite2``."""
    package = importlib.import_module("_maxminddb_geolite2")
    return os.path.join(os.path.dirname(package.__file__), "GeoLite2-City.mmdb")


@functools.lru_cache(maxsize=4)
def ip_pool(size: int = 400, seed: int = 20180703) -> tuple[tuple[str, str], ...]:
    """``size`` public IPv4 addresses (with their country code) that resolve to a city.

    Sampled deterministically from random addresses; computed once per process.
    """
    import geoip2.database
    import geoip2.errors

    rng = random.Random(seed)
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    with geoip2.database.Reader(geolite_city_path()) as reader:
        while len(found) < size:
            address = ipaddress.IPv4Address(rng.getrandbits(32))
            ip = str(address)
            if not address.is_global or ip in seen:
                continue
            seen.add(ip)
            try:
                city = reader.city(ip)
            except (geoip2.errors.AddressNotFoundError, ValueError):
                continue
            if city.city.name is not None:
                found.append((ip, city.country.iso_code or ""))
    return tuple(found)


@functools.lru_cache(maxsize=64)
def _odd_geo(ip: str) -> str:
    """Country code for the few odd addresses (IPv6 resolves; private/garbage do not)."""
    import geoip2.database

    try:
        with geoip2.database.Reader(geolite_city_path()) as reader:
            return reader.city(ip).country.iso_code or ""
    except Exception:
        return ""


def event_hash(event: dict[str, Any]) -> str:
    """Stable stand-in for a missing ``ID``: sha256 over the fields the API docs name.

    ``sha256("|".join([userId, action, occurred, device, method, remoteAddress]))``, hex.
    """
    parts = [str(event.get(k, "")) for k in ("userId", "action", "occurred", "device", "method", "remoteAddress")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def event_tiebreak(event: dict[str, Any]) -> str:
    """The second sort key of an event: its ``ID``, else :func:`event_hash`."""
    return event.get("ID") or event_hash(event)


_B64_TO_B62 = bytes.maketrans(b"+/=", b"xQ7")
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_quote: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]
_EVENT_KEYS_NO_ID = {
    "projectId",
    "userId",
    "action",
    "occurred",
    "device",
    "method",
    "geo",
    "remoteAddress",
    "externalIds",
    "tenants",
    "data",
    "type",
}
_EVENT_KEYS = _EVENT_KEYS_NO_ID | {"ID"}


def _b62(rng: random.Random, n: int) -> str:
    """``n`` base62 characters (from base64 with two symbols folded in: bias is irrelevant here)."""
    return base64.b64encode(rng.randbytes(n * 3 // 4 + 3))[:n].translate(_B64_TO_B62).decode()


def _cum(weights: Sequence[float]) -> tuple[list[float], float]:
    cum = list(itertools.accumulate(weights))
    return cum, cum[-1]


def _wchoice(rng: random.Random, population: Sequence[Any], cum: tuple[list[float], float]) -> Any:
    """A weighted choice (faster than ``Random.choices`` for one draw)."""
    return population[bisect.bisect_right(cum[0], rng.random() * cum[1])]


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


class _Rec:
    """One user: the indexed columns, plus the materialized object once it has one."""

    __slots__ = ("blob", "created", "homes", "modified", "obj", "seq", "status", "test", "uid")

    def __init__(self, uid: str, seq: int, created: int, modified: int | None, test: bool, status: str):
        self.uid = uid
        self.seq = seq
        self.created = created
        self.modified = modified
        self.test = test
        self.status = status
        self.obj: dict[str, Any] | None = None
        self.homes: tuple[str, ...] | None = None
        self.blob: bytes | None = None  # the object serialized, cached once served


_DEVICE_CUM = _cum(DEVICE_WEIGHTS)
_METHOD_CUM = _cum(METHOD_WEIGHTS)
_SCRIPTS = list(names.SCRIPT_WEIGHTS)
_SCRIPT_CUM = _cum(list(names.SCRIPT_WEIGHTS.values()))
_TENANT_COUNT_CUM = _cum((30, 45, 18, 7))
_OAUTH_COUNT_CUM = _cum((55, 38, 7))
_ROLE_COUNT_CUM = _cum((50, 40, 10))


_created_key = operator.attrgetter("created", "uid")
_modified_key = operator.attrgetter("modified", "uid")  # only for users that have a modifiedTime
_event_key = operator.itemgetter(0, 1)


def _rint(rng: random.Random, a: int, b: int) -> int:
    """``rng.randint(a, b)``, faster (for the hot generation loops)."""
    return a + int(rng.random() * (b - a + 1))


def _created_of(r: _Rec) -> int:
    return r.created


def _modified_of(r: _Rec) -> int:
    return r.modified or 0


def _occurred_of(e: tuple) -> int:
    return e[0]


class World:
    """A seeded Descope project.

    ``users`` live users (plus ~0.5% extra users deleted during the audit window),
    ``audit_days`` (<= 29) days of audit history with ``logins_per_user`` successful logins
    per user on average. ``now`` is the clock (epoch seconds) for generation and mutations.
    """

    def __init__(
        self,
        seed: int = 7,
        users: int = 1000,
        now: Callable[[], float] = time.time,
        audit_days: int = 29,
        *,
        logins_per_user: float = 4.0,
        extra_fields: bool = True,
        project_id: str = "P2simulatorproject00000000000000",
    ) -> None:
        if not 0 < audit_days <= 29:
            raise ValueError("audit_days must be between 1 and 29 (everything must be readable)")
        if users < 0:
            raise ValueError("users must be >= 0")
        self.seed = seed
        self.now = now
        self.audit_days = audit_days
        self.logins_per_user = logins_per_user
        self.extra_fields = extra_fields
        self.project_id = project_id
        self.lock = threading.RLock()
        self._rng = random.Random(seed)
        self._mrng = random.Random(seed * 7919 + 1)  # mutations
        self._pool = ip_pool()
        self._geo = dict(self._pool)
        self._tenants = self._make_tenants()
        self._recs: dict[str, _Rec] = {}
        self._live: list[str] = []
        self._live_pos: dict[str, int] = {}
        self._created: dict[bool, list[_Rec]] = {True: [], False: []}  # with test users?
        self._modified: dict[bool, list[_Rec]] = {True: [], False: []}
        self._events: list[tuple] = []
        self._deleted: list[str] = []
        self._seq = 0
        self._version = 0
        self._ev_version = 0
        self._cache: OrderedDict[Any, Any] = OrderedDict()
        self._build(users)

    # ------------------------------------------------------------------ generation
    def _make_tenants(self) -> list[dict[str, str]]:
        rng = random.Random(self.seed * 31 + 5)
        return [
            {"tenantId": "T2" + _b62(rng, 27), "tenantName": name, "domain": domain} for name, domain in names.TENANTS
        ]

    def _new_uid(self, rng: random.Random) -> str:
        while True:
            uid = "U2" + _b62(rng, 27)
            if uid not in self._recs:
                return uid

    def _build(self, n_users: int) -> None:
        rng = self._rng
        t0 = int(self.now())
        n_ghosts = n_users // 200 if n_users >= 200 else 0
        total = n_users + n_ghosts
        statuses = list(STATUS_WEIGHTS)
        status_cum = _cum(list(STATUS_WEIGHTS.values()))
        n_bulk = min(total, max(5, total * 3 // 100)) if total >= 10 else 0
        bulk = set(rng.sample(range(n_ghosts, total), n_bulk)) if n_bulk else set()
        bulk_second = t0 - rng.randint(30 * DAY, 700 * DAY)
        window_start = t0 - self.audit_days * DAY
        recs: list[_Rec] = []
        for i in range(total):
            if i in bulk:
                created, modified = bulk_second, None
            else:
                created = t0 - _rint(rng, 2 * DAY, 3 * 365 * DAY)
                if i < n_ghosts:  # ghosts are deleted inside the window: make them older
                    created = min(created, window_start - DAY)
                roll = rng.random()
                if roll < 0.15:  # legacy: no modifiedTime
                    modified = None
                elif roll < 0.55:  # never changed since it was created
                    modified = created
                else:
                    modified = _rint(rng, created, t0 - DAY)
            test = rng.random() < 0.03
            status = "enabled" if test else _wchoice(rng, statuses, status_cum)
            rec = _Rec(self._new_uid(rng), self._next_seq(), created, modified, test, status)
            self._recs[rec.uid] = rec
            recs.append(rec)
        live = recs[n_ghosts:]  # ghosts: users deleted inside the window, never indexed
        self._created[True] = sorted(live, key=_created_key)
        self._created[False] = [r for r in self._created[True] if not r.test]
        self._modified[True] = sorted((r for r in live if r.modified is not None), key=_modified_key)
        self._modified[False] = [r for r in self._modified[True] if not r.test]
        self._live = [r.uid for r in live]
        self._live_pos = {uid: i for i, uid in enumerate(self._live)}
        events: list[dict[str, Any]] = []
        for rec in recs[n_ghosts:]:
            self._history(rec, t0, events)
        for rec in recs[:n_ghosts]:
            before = len(events)
            self._history(rec, t0, events)
            last = max((int(e["occurred"]) for e in events[before:]), default=(window_start + DAY) * 1000)
            when = min(last + rng.randint(60_000, 3 * DAY * 1000), (t0 - 3600) * 1000)
            events.append(
                self._event(
                    "UserDeleted", rec, when, device="Desktop", method="", address=self._admin_address(rng), rng=rng
                )
            )
            self._deleted.append(rec.uid)
        self._events = sorted((self._pack(e) for e in events), key=_event_key)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _user_rng(self, seq: int) -> random.Random:
        return random.Random(self.seed * 1_000_003 + seq * 7_777_777_777)

    def _generate(self, rec: _Rec) -> dict[str, Any]:
        """The full user object of ``rec`` from its own RNG (deterministic)."""
        rng = self._user_rng(rec.seq)
        script = _wchoice(rng, _SCRIPTS, _SCRIPT_CUM)
        given_names, family_names, family_first = names.SCRIPTS[script]
        given, given_rom = rng.choice(given_names)
        family, family_rom = rng.choice(family_names)
        middle = ""
        if script == "latin" and rng.random() < 0.1:
            middle = rng.choice(given_names)[0]
        name = family + given if family_first else " ".join(p for p in (given, middle, family) if p)
        if rng.random() < 0.005:
            name += " 🌸"
        if rec.test:
            name = f"Test User {rec.seq}"
        n_tenants = _wchoice(rng, (0, 1, 2, 3), _TENANT_COUNT_CUM)
        tenants = rng.sample(self._tenants, n_tenants)
        user_tenants = []
        for t in tenants:
            roles = rng.sample(list(names.TENANT_ROLES), rng.choice((1, 1, 2)))
            perms = sorted({p for r in roles for p in names.TENANT_ROLES[r]})
            user_tenants.append(
                {"tenantId": t["tenantId"], "tenantName": t["tenantName"], "roleNames": roles, "permissions": perms}
            )
        domain = tenants[0]["domain"] if tenants and rng.random() < 0.6 else rng.choice(names.PUBLIC_DOMAINS)
        handle = f"{_ascii(given_rom)}.{_ascii(family_rom)}"
        if rng.random() < 0.5:
            handle += str(rng.randint(1, 9999))
        if rec.test:
            handle = f"test-user-{rec.seq}"
            domain = "example.com"
        email = f"{handle}@{domain}"
        roll = rng.random()
        if roll < 0.05:
            email = email.split("@")[0].title() + "@" + domain.capitalize()
        elif roll < 0.08:
            email = f" {email} "
        elif roll < 0.11:
            email = ""
        has_phone = rng.random() < 0.6
        phone = (rng.choice(names.PHONE_PREFIXES) + str(rng.randint(10**8, 10**10 - 1))) if has_phone else ""
        if email:
            login_ids = [email.strip().lower()]
            if phone and rng.random() < 0.05:
                login_ids.append(phone)
        elif phone:
            login_ids = [phone]
        else:
            login_ids = [f"{handle}-{rec.seq}"]
        oauth = {p: True for p in rng.sample(names.OAUTH_PROVIDERS, _wchoice(rng, (0, 1, 2), _OAUTH_COUNT_CUM))}
        custom = {
            "plan": rng.choice(names.PLANS),
            "department": rng.choice(names.DEPARTMENTS),
            "signupSource": rng.choice(names.SIGNUP_SOURCES),
            "seats": rng.randint(1, 500),
            "marketingOptIn": rng.random() < 0.4,
        }
        if rng.random() < 0.1:
            del custom["department"]
        obj: dict[str, Any] = {
            "loginIds": login_ids,
            "userId": rec.uid,
            "name": name,
            "email": email,
            "phone": phone,
            "verifiedEmail": bool(email) and rng.random() < 0.8,
            "verifiedPhone": bool(phone) and rng.random() < 0.6,
            "roleNames": rng.sample(names.PROJECT_ROLES, _wchoice(rng, (0, 1, 2), _ROLE_COUNT_CUM)),
            "userTenants": user_tenants,
            "status": rec.status,
            "externalIds": list(login_ids),
            "picture": f"https://i.pravatar.cc/150?u={rec.uid}" if rng.random() < 0.4 else "",
            "test": rec.test,
            "customAttributes": custom,
            "createdTime": rec.created,
            "TOTP": rng.random() < 0.1,
            "SAML": rng.random() < 0.1,
            "OAuth": oauth,
            "webauthn": rng.random() < 0.15,
            "password": rng.random() < 0.4,
            "ssoAppIds": ["SA2" + _b62(rng, 27)] if rng.random() < 0.05 else [],
            "givenName": given,
            "middleName": middle,
            "familyName": family,
            "editable": rng.random() < 0.97,
            "SCIM": rng.random() < 0.05,
            "push": rng.random() < 0.05,
            "permissions": rng.sample(names.PROJECT_PERMISSIONS, 1 if rng.random() < 0.15 else 0),
            "OIDC": rng.random() < 0.05,
        }
        if rec.modified is not None:
            obj["modifiedTime"] = rec.modified
        if self.extra_fields and rng.random() < 0.02:
            obj["lastSeenRegion"] = rng.choice(names.REGIONS)
        return obj

    def _obj(self, rec: _Rec) -> dict[str, Any]:
        return rec.obj if rec.obj is not None else self._generate(rec)

    def _homes(self, rec: _Rec) -> tuple[str, ...]:
        if rec.homes is None:
            digest = hashlib.blake2b(f"{self.seed}:{rec.uid}".encode(), digest_size=16).digest()
            count = (1, 1, 2, 3)[digest[0] % 4]
            picks = [int.from_bytes(digest[1 + 4 * i : 5 + 4 * i], "big") % len(self._pool) for i in range(count)]
            rec.homes = tuple(dict.fromkeys(self._pool[i][0] for i in picks))
        return rec.homes

    def _poisson(self, rng: random.Random, lam: float) -> int:
        if lam <= 0:
            return 0
        if lam > 30:
            return max(0, round(rng.gauss(lam, math.sqrt(lam))))
        limit, k, p = math.exp(-lam), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k

    def _admin_address(self, rng: random.Random) -> str:
        return rng.choice(self._pool)[0]

    def _address(self, rec: _Rec, rng: random.Random) -> str:
        roll = rng.random()
        if roll < 0.97:
            homes = self._homes(rec)
            return homes[0] if rng.random() < 0.7 else rng.choice(homes)
        if roll < 0.98:
            return rng.choice(self._pool)[0]
        return rng.choice(ODD_ADDRESSES)

    def _event(
        self,
        action: str,
        rec: _Rec,
        occurred_ms: int,
        *,
        device: str,
        method: str,
        address: str,
        rng: random.Random,
        obj: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        obj = obj if obj is not None else self._obj(rec)
        tenants = [t["tenantId"] for t in obj.get("userTenants", [])]
        event: dict[str, Any] = {}
        if rng.random() >= 0.2:
            event["ID"] = f"{rng.getrandbits(96):024x}"
        event.update(
            {
                "projectId": self.project_id,
                "userId": rec.uid,
                "action": action,
                "occurred": str(occurred_ms),
                "device": device,
                "method": method,
                "geo": self._geo.get(address) if address in self._geo else _odd_geo(address),
                "remoteAddress": address,
                "externalIds": obj.get("loginIds", [])[:1],
                "tenants": tenants[:1] if tenants else [],
                "data": {},
                "type": "info",
            }
        )
        if actor:
            event["actorId"] = actor
        return event

    def _pack(self, e: dict[str, Any]) -> tuple:
        if e.keys() == _EVENT_KEYS or e.keys() == _EVENT_KEYS_NO_ID:  # fast path: the generator's shape
            q = _quote
            blob = (
                ("{" if "ID" not in e else '{"ID":' + q(e["ID"]) + ",")
                + f'"projectId":{q(e["projectId"])},"userId":{q(e["userId"])},"action":{q(e["action"])},'
                f'"occurred":{q(e["occurred"])},"device":{q(e["device"])},"method":{q(e["method"])},'
                f'"geo":{q(e["geo"])},"remoteAddress":{q(e["remoteAddress"])},'
                f'"externalIds":[{",".join(map(q, e["externalIds"]))}],'
                f'"tenants":[{",".join(map(q, e["tenants"]))}],"data":{{}},"type":{q(e["type"])}}}'
            ).encode()
        else:
            blob = _JSON.encode(e).encode()
        return (
            int(e["occurred"]),
            event_tiebreak(e),
            e["action"],
            e.get("userId"),
            e.get("device"),
            e.get("method"),
            e.get("remoteAddress"),
            blob,
        )

    def _history(self, rec: _Rec, t0: int, out: list[dict[str, Any]]) -> None:
        """Audit events of one user inside the window (never before its createdTime)."""
        rng = self._rng
        ws_s = max(t0 - self.audit_days * DAY + 60, rec.created)
        ws, we = ws_s * 1000, (t0 - 60) * 1000
        created_in = rec.created * 1000 >= t0 * 1000 - self.audit_days * DAY * 1000 + 60_000
        modified_in = rec.modified is not None and rec.modified * 1000 >= ws + 60_000 and rec.modified > rec.created
        n = 0 if rec.status == "invited" or rng.random() < 0.2 else self._poisson(rng, self.logins_per_user / 0.8)
        failed = n == 0 and rng.random() < 0.03
        if not (n or failed or created_in or modified_in):
            return
        obj: dict[str, Any] | None = None

        def user_obj() -> dict[str, Any]:
            nonlocal obj
            if obj is None:
                obj = self._obj(rec)
            return obj

        if created_in:
            out.append(
                self._event(
                    "UserCreated",
                    rec,
                    rec.created * 1000,
                    device=rng.choice(DEVICES[:3]),
                    method=rng.choice(METHODS),
                    address=self._address(rec, rng),
                    rng=rng,
                    obj=user_obj(),
                )
            )
        if modified_in:
            out.append(
                self._event(
                    "UserModified",
                    rec,
                    rec.modified * 1000,
                    device="Desktop",
                    method="",
                    address=self._admin_address(rng),
                    rng=rng,
                    obj=user_obj(),
                )
            )
        if failed:
            t = _rint(rng, ws, we)
            out.append(
                self._event(
                    "LoginFailed",
                    rec,
                    t,
                    device=_wchoice(rng, DEVICES, _DEVICE_CUM),
                    method=_wchoice(rng, METHODS, _METHOD_CUM),
                    address=self._address(rec, rng),
                    rng=rng,
                    obj=user_obj(),
                )
            )
        for _ in range(n):
            t = _rint(rng, ws, we)
            device = _wchoice(rng, DEVICES, _DEVICE_CUM)
            method = _wchoice(rng, METHODS, _METHOD_CUM)
            address = self._address(rec, rng)
            actor = None
            if rng.random() < 0.01:
                method, actor = "Impersonate", rng.choice(self._live) if self._live else None
            action = "LoginFlowDone" if rng.random() < 0.05 else "LoginSucceed"
            kw = {"device": device, "method": method, "address": address, "rng": rng, "obj": user_obj()}
            out.append(self._event(action, rec, t, actor=actor, **kw))
            if rng.random() < 0.4:
                out.append(self._event("LoginStarted", rec, max(ws, t - _rint(rng, 1_000, 30_000)), **kw))
            if rng.random() < 0.08:
                out.append(self._event("LoginFailed", rec, max(ws, t - _rint(rng, 30_000, 300_000)), **kw))
            if rng.random() < 0.01:
                out.append(self._event("LoginStartedFailed", rec, max(ws, t - _rint(rng, 1_000, 30_000)), **kw))

    # ------------------------------------------------------------------ indexes
    def _live_add(self, uid: str) -> None:
        self._live_pos[uid] = len(self._live)
        self._live.append(uid)

    def _live_remove(self, uid: str) -> None:
        pos = self._live_pos.pop(uid)
        last = self._live.pop()
        if last != uid:
            self._live[pos] = last
            self._live_pos[last] = pos

    def _index(self, rec: _Rec) -> None:
        for with_test in (True, False):
            if with_test or not rec.test:
                bisect.insort(self._created[with_test], rec, key=_created_key)
                if rec.modified is not None:
                    bisect.insort(self._modified[with_test], rec, key=_modified_key)

    def _remove_from(self, lst: list[_Rec], rec: _Rec, key: Callable[[_Rec], Any]) -> None:
        i = bisect.bisect_left(lst, key(rec), key=key)
        if i < len(lst) and lst[i] is rec:
            del lst[i]
        else:  # pragma: no cover - indexes are kept consistent; stay correct if not
            lst.remove(rec)

    def _unindex(self, rec: _Rec) -> None:
        for with_test in (True, False):
            if with_test or not rec.test:
                self._remove_from(self._created[with_test], rec, _created_key)
                if rec.modified is not None:
                    self._remove_from(self._modified[with_test], rec, _modified_key)
        self._live_remove(rec.uid)
        self._version += 1

    def _append_event(self, event: dict[str, Any]) -> None:
        packed = self._pack(event)
        bisect.insort(self._events, packed, key=_event_key)
        self._ev_version += 1

    # ------------------------------------------------------------------ mutations
    def _pick(self, user_id: str | None) -> _Rec:
        if user_id is None:
            if not self._live:
                raise LookupError("the world has no live users")
            user_id = self._mrng.choice(self._live)
        rec = self._recs.get(user_id)
        if rec is None or user_id not in self._live_pos:
            raise LookupError(f"no live user {user_id}")
        return rec

    def _now_ms(self) -> int:
        return int(self.now() * 1000)

    def create_user(self) -> dict[str, Any]:
        """A new user created now (createdTime = modifiedTime = now); emits ``UserCreated``."""
        with self.lock:
            rng = self._mrng
            now = self.now()
            test = rng.random() < 0.03
            status = "enabled" if test else rng.choice(("enabled", "enabled", "enabled", "invited"))
            rec = _Rec(self._new_uid(rng), self._next_seq(), int(now), int(now), test, status)
            rec.obj = self._generate(rec)
            self._recs[rec.uid] = rec
            self._index(rec)
            self._live_add(rec.uid)
            self._version += 1
            event = self._event(
                "UserCreated",
                rec,
                int(now * 1000),
                device=rng.choice(DEVICES[:3]),
                method=rng.choice(METHODS),
                address=self._address(rec, rng),
                rng=rng,
            )
            self._append_event(event)
            return {"op": "create", "userId": rec.uid, "user": rec.obj, "event": event}

    def modify_user(self, user_id: str | None = None) -> dict[str, Any]:
        """Change a few attributes of a user, set modifiedTime = now; emits ``UserModified``."""
        with self.lock:
            rng = self._mrng
            rec = self._pick(user_id)
            now = self.now()
            obj = copy.deepcopy(self._obj(rec))
            changed: list[str] = []
            for field in rng.sample(
                ("name", "status", "customAttributes", "roleNames", "phone"), rng.choice((1, 1, 2))
            ):
                changed.append(field)
                if field == "name":
                    given = rng.choice(names.SCRIPTS["latin"][0])[0]
                    obj["givenName"] = given
                    obj["name"] = " ".join(p for p in (given, obj.get("familyName", "")) if p)
                elif field == "status":
                    obj["status"] = rec.status = rng.choice(
                        [s for s in ("enabled", "disabled", "expired") if s != rec.status]
                    )
                elif field == "customAttributes":
                    obj.setdefault("customAttributes", {})["plan"] = rng.choice(names.PLANS)
                    obj["customAttributes"]["seats"] = rng.randint(1, 500)
                elif field == "roleNames":
                    obj["roleNames"] = rng.sample(names.PROJECT_ROLES, rng.choice((0, 1, 2)))
                else:
                    obj["phone"] = rng.choice(names.PHONE_PREFIXES) + str(rng.randint(10**8, 10**10 - 1))
            for with_test in (True, False):
                if (with_test or not rec.test) and rec.modified is not None:
                    self._remove_from(self._modified[with_test], rec, _modified_key)
            rec.modified = int(now)
            obj["modifiedTime"] = rec.modified
            rec.obj, rec.blob = obj, None
            for with_test in (True, False):
                if with_test or not rec.test:
                    bisect.insort(self._modified[with_test], rec, key=_modified_key)
            self._version += 1
            event = self._event(
                "UserModified",
                rec,
                int(now * 1000),
                device="Desktop",
                method="",
                address=self._admin_address(rng),
                rng=rng,
                obj=obj,
            )
            self._append_event(event)
            return {"op": "modify", "userId": rec.uid, "changed": changed, "user": obj, "event": event}

    def delete_user(self, user_id: str | None = None) -> dict[str, Any]:
        """Remove a user (its audit history stays); emits ``UserDeleted``."""
        with self.lock:
            rng = self._mrng
            rec = self._pick(user_id)
            obj = self._obj(rec)
            event = self._event(
                "UserDeleted",
                rec,
                self._now_ms(),
                device="Desktop",
                method="",
                address=self._admin_address(rng),
                rng=rng,
                obj=obj,
            )
            self._unindex(rec)
            self._deleted.append(rec.uid)
            self._append_event(event)
            return {"op": "delete", "userId": rec.uid, "event": event}

    def login(self, user_id: str | None = None, success: bool = True) -> dict[str, Any]:
        """A ``LoginSucceed`` (or ``LoginFailed``) event for a user, now, from one of its home IPs."""
        with self.lock:
            rng = self._mrng
            rec = self._pick(user_id)
            homes = self._homes(rec)
            event = self._event(
                "LoginSucceed" if success else "LoginFailed",
                rec,
                self._now_ms(),
                device=_wchoice(rng, DEVICES, _DEVICE_CUM),
                method=_wchoice(rng, METHODS, _METHOD_CUM),
                address=rng.choice(homes),
                rng=rng,
            )
            self._append_event(event)
            return {"op": "login", "userId": rec.uid, "event": event}

    def random_mutation(self) -> list[dict[str, Any]]:
        """One chaos mutation: create, modify (sometimes followed by a login) or delete."""
        with self.lock:
            op = self._mrng.choices(("create", "modify", "delete"), (3, 5, 2))[0]
            if op == "create" or not self._live:
                return [self.create_user()]
            if op == "delete" and len(self._live) > 1:
                return [self.delete_user()]
            done = [self.modify_user()]
            if self._mrng.random() < 0.3:
                done.append(self.login(done[0]["userId"]))
            return done

    # ------------------------------------------------------------------ reads
    @property
    def user_count(self) -> int:
        return len(self._live)

    @property
    def event_count(self) -> int:
        return len(self._events)

    def user(self, user_id: str) -> dict[str, Any] | None:
        with self.lock:
            rec = self._recs.get(user_id)
            return self._obj(rec) if rec is not None and user_id in self._live_pos else None

    def _cached(self, key: Any, version: int, compute: Callable[[], Any]) -> Any:
        hit = self._cache.get(key)
        if hit is not None and hit[0] == version:
            self._cache.move_to_end(key)
            return hit[1]
        value = compute()
        self._cache[key] = (version, value)
        if len(self._cache) > _QUERY_CACHE_SIZE:
            self._cache.popitem(last=False)
        return value

    def search_users(
        self,
        *,
        limit: int = 100,
        page: int = 0,
        from_modified_ms: int | None = None,
        to_modified_ms: int | None = None,
        from_created_ms: int | None = None,
        to_created_ms: int | None = None,
        sort: Sequence[tuple[str, bool]] = (),
        with_test_users: bool = False,
        test_users_only: bool = False,
        statuses: Iterable[str] = (),
        tenant_ids: Iterable[str] = (),
        emails: Iterable[str] = (),
        user_ids: Iterable[str] = (),
        role_names: Iterable[str] = (),
        raw: bool = False,
    ) -> tuple[list[Any], int]:
        """One page of users and the number of users matching the filter.

        ``from*`` are exclusive and ``to*`` inclusive, in epoch ms against the second-valued
        user times times 1000. ``None`` means no bound. Users without ``modifiedTime`` never
        match a modified-time bound. Default order: createdTime asc, then userId.
        """
        statuses, tenant_ids, emails = frozenset(statuses), frozenset(tenant_ids), frozenset(emails)
        user_ids, role_names = frozenset(user_ids), frozenset(role_names)
        sort = tuple(sort) or (("createdTime", False),)
        view_args = (
            from_modified_ms,
            to_modified_ms,
            from_created_ms,
            to_created_ms,
            sort,
            with_test_users,
            test_users_only,
            statuses,
            tenant_ids,
            emails,
            user_ids,
            role_names,
        )
        with self.lock:
            lst, lo, hi, reverse = self._cached(
                ("users", *view_args), self._version, lambda: self._user_view(*view_args)
            )
            off = page * limit
            if reverse:
                chunk = lst[max(lo, hi - off - limit) : max(lo, hi - off)][::-1]
            else:
                chunk = lst[min(hi, lo + off) : min(hi, lo + off + limit)]
            if raw:
                for r in chunk:
                    if r.blob is None:
                        r.blob = _JSON.encode(self._obj(r)).encode()
                return [r.blob for r in chunk], hi - lo
            return [self._obj(r) for r in chunk], hi - lo

    def search_users_raw(self, **query: Any) -> tuple[list[bytes], int]:
        """:meth:`search_users` with each user as serialized JSON (cached per user version)."""
        return self.search_users(**query, raw=True)

    def _user_view(
        self,
        from_mod,
        to_mod,
        from_cr,
        to_cr,
        sort,
        with_test,
        test_only,
        statuses,
        tenant_ids,
        emails,
        user_ids,
        role_names,
    ) -> tuple[list[_Rec], int, int, bool]:
        include_test = with_test or test_only
        extra: list[Callable[[_Rec], bool]] = []
        if from_mod is not None or to_mod is not None:
            base, natural, of = self._modified[include_test], "modifiedTime", _modified_of
            lo_ms, hi_ms = from_mod, to_mod
            if from_cr is not None:
                extra.append(lambda r: r.created * 1000 > from_cr)
            if to_cr is not None:
                extra.append(lambda r: r.created * 1000 <= to_cr)
        else:
            base, natural, of = self._created[include_test], "createdTime", _created_of
            lo_ms, hi_ms = from_cr, to_cr
        lo = 0 if lo_ms is None else bisect.bisect_right(base, lo_ms // 1000, key=of)
        hi = len(base) if hi_ms is None else bisect.bisect_right(base, hi_ms // 1000, key=of)
        hi = max(lo, hi)
        if test_only:
            extra.append(lambda r: r.test)
        if statuses:
            extra.append(lambda r: r.status in statuses)
        if user_ids:
            extra.append(lambda r: r.uid in user_ids)
        if emails:
            lowered = {e.strip().lower() for e in emails}
            extra.append(lambda r: (self._obj(r).get("email") or "").strip().lower() in lowered)
        if tenant_ids:
            extra.append(lambda r: any(t.get("tenantId") in tenant_ids for t in self._obj(r).get("userTenants") or []))
        if role_names:
            extra.append(lambda r: bool(role_names.intersection(self._obj(r).get("roleNames") or [])))
        if extra:
            base = [r for r in base[lo:hi] if all(f(r) for f in extra)]
            lo, hi = 0, len(base)
        if len(sort) == 1 and sort[0][0] == natural:
            return base, lo, hi, sort[0][1]
        rows = base[lo:hi]
        first_desc = sort[0][1]
        rows.sort(key=lambda r: r.uid, reverse=first_desc)
        for field, desc in reversed(sort):
            rows.sort(key=self._sort_key(field), reverse=desc)
        return rows, 0, len(rows), False

    def _sort_key(self, field: str) -> Callable[[_Rec], Any]:
        if field == "createdTime":
            return _created_of
        if field == "modifiedTime":
            return lambda r: -1 if r.modified is None else r.modified
        if field == "userId":
            return lambda r: r.uid
        if field in ("email", "name"):
            return lambda r: self._obj(r).get(field) or ""
        raise ValueError(f"unsupported sort field {field!r}")

    def search_audit(
        self,
        *,
        from_ms: int,
        to_ms: int,
        size: int = 1000,
        page: int = 0,
        oldest_first: bool = False,
        actions: Iterable[str] = (),
        excluded_actions: Iterable[str] = (),
        user_ids: Iterable[str] = (),
        remote_addresses: Iterable[str] = (),
        devices: Iterable[str] = (),
        methods: Iterable[str] = (),
    ) -> tuple[list[bytes], int]:
        """One page of events (pre-serialized JSON objects) in ``[from_ms, to_ms)`` and the total.

        Order: (occurred, ID-or-hash) descending, or ascending with ``oldest_first``.
        """
        filters = (
            frozenset(actions),
            frozenset(excluded_actions),
            frozenset(user_ids),
            frozenset(remote_addresses),
            frozenset(devices),
            frozenset(methods),
        )
        with self.lock:
            if any(filters):
                events = self._cached(("audit", filters), self._ev_version, lambda: self._filter_events(*filters))
            else:
                events = self._events
            lo = bisect.bisect_left(events, from_ms, key=_occurred_of)
            hi = max(lo, bisect.bisect_left(events, to_ms, key=_occurred_of))
            off = page * size
            if oldest_first:
                chunk = events[min(hi, lo + off) : min(hi, lo + off + size)]
            else:
                chunk = events[max(lo, hi - off - size) : max(lo, hi - off)][::-1]
            return [e[7] for e in chunk], hi - lo

    def _filter_events(self, actions, excluded, user_ids, addresses, devices, methods) -> list[tuple]:
        def keep(e: tuple) -> bool:
            return (
                (not actions or e[2] in actions)
                and e[2] not in excluded
                and (not user_ids or e[3] in user_ids)
                and (not addresses or e[6] in addresses)
                and (not devices or e[4] in devices)
                and (not methods or e[5] in methods)
            )

        return [e for e in self._events if keep(e)]

    def truth(self) -> dict[str, Any]:
        """What a perfect extractor + dbt would know; see the module docstring of :mod:`.server`."""
        with self.lock:
            users = {r.uid: self._obj(r) for r in self._created[True]}
            packed = [e for e in self._events if e[2] in SUCCESS_ACTIONS]
            events = [json.loads(e[7]) for e in self._events]
            deleted = list(self._deleted)
        activity: dict[str, dict[str, Any]] = {
            uid: {"login_count": 0, "first_login_time_ms": None, "last_login_time_ms": None, "last_login_ip": None}
            for uid in users
        }
        best: dict[str, tuple[int, str]] = {}
        logins = [json.loads(e[7]) for e in packed]
        for e in packed:  # oldest first: (occurred, tie-break) ascending
            occurred, tiebreak, _, uid, _, method, address, _ = e
            if uid not in activity or method == "Impersonate":
                continue
            row = activity[uid]
            row["login_count"] += 1
            if row["first_login_time_ms"] is None or occurred < row["first_login_time_ms"]:
                row["first_login_time_ms"] = occurred
            if uid not in best or (occurred, tiebreak) > best[uid]:
                best[uid] = (occurred, tiebreak)
                row["last_login_time_ms"] = occurred
                row["last_login_ip"] = address
        return {
            "users": users,
            "events": events,
            "logins": logins,
            "deleted_user_ids": deleted,
            "expected_activity": activity,
        }
