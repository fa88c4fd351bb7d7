"""Deterministic user objects, addresses, audit events and audit history, all from seeds.

Users are generated in two steps so that a million of them fit in memory and build fast:
the columns every query needs (userId, createdTime, modifiedTime, test, status) are drawn
up front from the world RNG (:meth:`Generator.build`); the rest of the user object is
generated on demand from a per-user RNG seeded with ``(seed, seq)``
(:meth:`Generator.user_object`) and stays identical for the life of the world.

This module knows nothing about indexes, queries or HTTP.
"""

from __future__ import annotations

import base64
import bisect
import functools
import hashlib
import importlib
import ipaddress
import itertools
import math
import os
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from . import names

DAY = 86_400
STATUS_WEIGHTS = {"enabled": 85, "disabled": 7, "invited": 6, "expired": 2}
DEVICES = ("Desktop", "Mobile", "Tablet", "Bot")
DEVICE_WEIGHTS = (60, 30, 8, 2)
METHODS = ("otp", "magiclink", "oauth", "password", "sso", "webauthn")
METHOD_WEIGHTS = (20, 15, 30, 20, 10, 5)
# Addresses an event may carry instead of one of the user's home IPs (the client IP is the
# address itself: private and IPv6 ones are valid IPs, the last three are not).
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
PUBLIC_IPV6 = ("2001:4860:4860::8888", "2606:4700:4700::1111")
PROXIES = ("10.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.10.1")
# Where a user record has no usable createdTime: sorts before every real time.
MISSING_TIME = -(2**63)


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


@functools.lru_cache(maxsize=256)
def odd_geo(ip: str) -> str:
    """Country code of an address outside the pool (IPv6 resolves; private/garbage do not)."""
    import geoip2.database

    try:
        with geoip2.database.Reader(geolite_city_path()) as reader:
            return reader.city(ip).country.iso_code or ""
    except Exception:
        return ""


def event_hash(event: dict[str, Any]) -> str:
    """Stable stand-in for a missing ``ID`` in the server's sort order.

    ``sha256("|".join([userId, action, occurred, device, method, remoteAddress]))``, hex; a
    missing field counts as ``""`` so the order does not depend on the JSON dialect.
    """
    parts = [str(event.get(k, "")) for k in ("userId", "action", "occurred", "device", "method", "remoteAddress")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def event_tiebreak(event: dict[str, Any]) -> str:
    """The second sort key of an event in audit search: its ``ID`` (a non-empty string), else :func:`event_hash`."""
    given = event.get("ID")
    return given if isinstance(given, str) and given else event_hash(event)


def is_ip(text: Any) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address string (private ones included)."""
    if not isinstance(text, str) or not text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


_B64_TO_B62 = bytes.maketrans(b"+/=", b"xQ7")


def b62(rng: random.Random, n: int) -> str:
    """``n`` base62 characters (from base64 with two symbols folded in: bias is irrelevant here)."""
    return base64.b64encode(rng.randbytes(n * 3 // 4 + 3))[:n].translate(_B64_TO_B62).decode()


def _cum(weights: Sequence[float]) -> tuple[list[float], float]:
    cum = list(itertools.accumulate(weights))
    return cum, cum[-1]


def wchoice(rng: random.Random, population: Sequence[Any], cum: tuple[list[float], float]) -> Any:
    """A weighted choice (faster than ``Random.choices`` for one draw)."""
    return population[bisect.bisect_right(cum[0], rng.random() * cum[1])]


def rint(rng: random.Random, a: int, b: int) -> int:
    """``rng.randint(a, b)``, faster (for the hot generation loops)."""
    return a + int(rng.random() * (b - a + 1))


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


DEVICE_CUM = _cum(DEVICE_WEIGHTS)
METHOD_CUM = _cum(METHOD_WEIGHTS)
_STATUSES = list(STATUS_WEIGHTS)
_STATUS_CUM = _cum(list(STATUS_WEIGHTS.values()))
_SCRIPTS = list(names.SCRIPT_WEIGHTS)
_SCRIPT_CUM = _cum(list(names.SCRIPT_WEIGHTS.values()))
_TENANT_COUNT_CUM = _cum((30, 45, 18, 7))
_OAUTH_COUNT_CUM = _cum((55, 38, 7))
_ROLE_COUNT_CUM = _cum((50, 40, 10))


class Rec:
    """One user record: the indexed columns, plus the materialized object once it has one.

    ``key`` is the userId, or an internal key for a :meth:`World.put_user` record without one.
    ``created`` is :data:`MISSING_TIME` when the object has no integer createdTime; ``modified``
    is ``None`` when it has no integer modifiedTime. ``verbatim`` records (put_user) are served
    exactly as given, in every dialect.
    """

    __slots__ = ("blob", "created", "has_id", "homes", "key", "modified", "obj", "seq", "status", "test", "verbatim")

    def __init__(self, key: str, seq: int, created: int, modified: int | None, test: bool, status: str):
        self.key = key
        self.seq = seq
        self.created = created
        self.modified = modified
        self.test = test
        self.status = status
        self.obj: dict[str, Any] | None = None
        self.homes: tuple[str, ...] | None = None
        self.blob: bytes | None = None  # the object as served, cached once served
        self.verbatim = False
        self.has_id = True

    @property
    def uid(self) -> str:
        return self.key


def first_login_id(obj: dict[str, Any]) -> list[Any]:
    """``[obj.loginIds[0]]`` when there is one (robust to odd put_user records)."""
    ids = obj.get("loginIds")
    return ids[:1] if isinstance(ids, list) else []


def tenant_ids(obj: dict[str, Any]) -> list[str]:
    """The user's tenant ids (robust to odd put_user records)."""
    tenants = obj.get("userTenants")
    if not isinstance(tenants, list):
        return []
    return [t["tenantId"] for t in tenants if isinstance(t, dict) and isinstance(t.get("tenantId"), str)]


@dataclass
class Built:
    """What :meth:`Generator.build` returns: live records, audit events, deleted user ids."""

    live: list[Rec]
    ghosts: list[Rec]
    events: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # (event, client IP)
    deleted: list[str] = field(default_factory=list)


class Generator:
    """Seeded generation of one project's users and events (no state beyond seeds and the pool)."""

    def __init__(
        self,
        seed: int,
        project_id: str,
        *,
        extra_fields: bool,
        logins_per_user: float,
        audit_days: int,
        paired_flow_done: bool,
        padding_bytes: int = 0,
    ) -> None:
        self.padding_bytes = padding_bytes
        self.seed = seed
        self.project_id = project_id
        self.extra_fields = extra_fields
        self.logins_per_user = logins_per_user
        self.audit_days = audit_days
        self.paired_flow_done = paired_flow_done
        self.pool = ip_pool()
        self.geo = dict(self.pool)
        rng = random.Random(seed * 31 + 5)
        self.tenants = [
            {"tenantId": "T2" + b62(rng, 27), "tenantName": name, "domain": domain} for name, domain in names.TENANTS
        ]
        self.admins = tuple("U2" + b62(rng, 27) for _ in range(3))  # actors of admin actions (not users)
        # paired LoginFlowDone events draw from their own RNG: every other event is the same in both dialects
        self._prng = random.Random(seed * 104_729 + 17)

    # ------------------------------------------------------------------ users
    @staticmethod
    def new_uid(rng: random.Random, taken: Any) -> str:
        while True:
            uid = "U2" + b62(rng, 27)
            if uid not in taken:
                return uid

    def build(self, rng: random.Random, n_users: int, t0: int, bulk_import: int | None, taken: dict) -> Built:
        """``n_users`` live users plus ``n_users // 200`` deleted inside the window, and their history.

        ``taken`` receives every record by key (to keep user ids unique).
        """
        n_ghosts = n_users // 200 if n_users >= 200 else 0
        total = n_users + n_ghosts
        n_bulk = bulk_import
        if n_bulk is None:
            n_bulk = min(total, max(5, total * 3 // 100)) if total >= 10 else 0
        bulk = set(rng.sample(range(n_ghosts, total), n_bulk)) if n_bulk else set()
        bulk_second = t0 - rng.randint(30 * DAY, 700 * DAY)
        window_start = t0 - self.audit_days * DAY
        recs: list[Rec] = []
        for i in range(total):
            if i in bulk:
                created, modified = bulk_second, None
            else:
                created = t0 - rint(rng, 2 * DAY, 3 * 365 * DAY)
                if i < n_ghosts:  # ghosts are deleted inside the window: make them older
                    created = min(created, window_start - DAY)
                if created == bulk_second:  # exactly n_bulk users share the bulk second
                    created -= 1
                roll = rng.random()
                if roll < 0.15:  # legacy: no modifiedTime
                    modified = None
                elif roll < 0.55:  # never changed since it was created
                    modified = created
                else:
                    modified = rint(rng, created, t0 - DAY)
            test = rng.random() < 0.03
            status = "enabled" if test else wchoice(rng, _STATUSES, _STATUS_CUM)
            rec = Rec(self.new_uid(rng, taken), i + 1, created, modified, test, status)
            taken[rec.key] = rec
            recs.append(rec)
        built = Built(live=recs[n_ghosts:], ghosts=recs[:n_ghosts])
        live_ids = [r.key for r in built.live]
        events = built.events
        for rec in built.live:
            self.history(rng, rec, t0, events, live_ids)
        for rec in built.ghosts:
            before = len(events)
            self.history(rng, rec, t0, events, live_ids)
            last = max((int(e["occurred"]) for e, _ in events[before:]), default=(window_start + DAY) * 1000)
            when = min(last + rng.randint(60_000, 3 * DAY * 1000), (t0 - 3600) * 1000)
            address = self.admin_address(rng)
            events.append(
                (self.event("UserDeleted", rec, when, device="Desktop", method="", address=address, rng=rng), address)
            )
            built.deleted.append(rec.key)
        return built

    def user_rng(self, seq: int) -> random.Random:
        return random.Random(self.seed * 1_000_003 + seq * 7_777_777_777)

    def user_object(self, rec: Rec) -> dict[str, Any]:
        """The full user object of ``rec`` from its own RNG (deterministic)."""
        rng = self.user_rng(rec.seq)
        script = wchoice(rng, _SCRIPTS, _SCRIPT_CUM)
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
        n_tenants = wchoice(rng, (0, 1, 2, 3), _TENANT_COUNT_CUM)
        tenants = rng.sample(self.tenants, n_tenants)
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
        oauth = {p: True for p in rng.sample(names.OAUTH_PROVIDERS, wchoice(rng, (0, 1, 2), _OAUTH_COUNT_CUM))}
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
            "userId": rec.key,
            "name": name,
            "email": email,
            "phone": phone,
            "verifiedEmail": bool(email) and rng.random() < 0.8,
            "verifiedPhone": bool(phone) and rng.random() < 0.6,
            "roleNames": rng.sample(names.PROJECT_ROLES, wchoice(rng, (0, 1, 2), _ROLE_COUNT_CUM)),
            "userTenants": user_tenants,
            "status": rec.status,
            "externalIds": list(login_ids),
            "picture": f"https://i.pravatar.cc/150?u={rec.key}" if rng.random() < 0.4 else "",
            "test": rec.test,
            "customAttributes": custom,
            "createdTime": rec.created,
            "TOTP": rng.random() < 0.1,
            "SAML": rng.random() < 0.1,
            "OAuth": oauth,
            "webauthn": rng.random() < 0.15,
            "password": rng.random() < 0.4,
            "ssoAppIds": ["SA2" + b62(rng, 27)] if rng.random() < 0.05 else [],
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
        if self.padding_bytes:
            obj["customAttributes"] = {**obj["customAttributes"], "padding": "x" * self.padding_bytes}
        return obj

    # ------------------------------------------------------------------ addresses
    def homes(self, rec: Rec) -> tuple[str, ...]:
        """The 1-3 public IPv4 addresses a user logs in from (stable per user)."""
        if rec.homes is None:
            digest = hashlib.blake2b(f"{self.seed}:{rec.key}".encode(), digest_size=16).digest()
            count = (1, 1, 2, 3)[digest[0] % 4]
            picks = [int.from_bytes(digest[1 + 4 * i : 5 + 4 * i], "big") % len(self.pool) for i in range(count)]
            rec.homes = tuple(dict.fromkeys(self.pool[i][0] for i in picks))
        return rec.homes

    def admin_address(self, rng: random.Random) -> str:
        return rng.choice(self.pool)[0]

    def address(self, rec: Rec, rng: random.Random) -> tuple[str, str]:
        """``(remoteAddress, client IP)`` of one event of ``rec``.

        94% a home IP; 3% a decorated form of the client IP (``ip:port``, ``[ipv6]:port``,
        ``client, proxy`` or ``private-proxy, client``); 1% another public IP; 2% odd addresses.
        """
        roll = rng.random()
        if roll < 0.94:
            homes = self.homes(rec)
            home = homes[0] if rng.random() < 0.7 else rng.choice(homes)
            return home, home
        if roll < 0.97:
            home = rng.choice(self.homes(rec))
            kind = rng.random()
            if kind < 0.25:
                return f"{home}:{rng.choice((443, 80, rint(rng, 1024, 65535)))}", home
            if kind < 0.5:
                ip6 = rng.choice(PUBLIC_IPV6)
                return f"[{ip6}]:{rng.choice((443, rint(rng, 1024, 65535)))}", ip6
            if kind < 0.75:
                return f"{home}, {rng.choice(PROXIES)}", home  # X-Forwarded-For: client first
            return f"{rng.choice(PROXIES)}, {home}", home  # a private proxy first
        if roll < 0.98:
            ip = rng.choice(self.pool)[0]
            return ip, ip
        odd = rng.choice(ODD_ADDRESSES)
        return odd, odd

    def country(self, client_ip: str) -> str:
        return self.geo[client_ip] if client_ip in self.geo else odd_geo(client_ip)

    # ------------------------------------------------------------------ events
    def event(
        self,
        action: str,
        rec: Rec,
        occurred_ms: int,
        *,
        device: str,
        method: str,
        address: str,
        rng: random.Random,
        client_ip: str | None = None,
        obj: dict[str, Any] | None = None,
        actor: str | None = None,
        event_id: str | None = None,
        who: tuple[list[Any], list[str]] | None = None,
    ) -> dict[str, Any]:
        """One audit event of ``rec`` (``ID`` missing on ~20% unless ``event_id`` is given).

        ``who``: :meth:`who` of the user's object, when the caller has it already.
        """
        external, tenants = who if who is not None else self.who(obj if obj is not None else self.user_object(rec))
        event: dict[str, Any] = {}
        if event_id is not None:
            event["ID"] = event_id
        elif rng.random() >= 0.2:
            event["ID"] = f"{rng.getrandbits(96):024x}"
        event.update(
            {
                "projectId": self.project_id,
                "userId": rec.key,
                "action": action,
                "occurred": str(occurred_ms),
                "device": device,
                "method": method,
                "geo": self.country(address if client_ip is None else client_ip),
                "remoteAddress": address,
                "externalIds": external,
                "tenants": tenants,
                "data": {},
                "type": "info",
            }
        )
        if actor:
            event["actorId"] = actor
        return event

    @staticmethod
    def who(obj: dict[str, Any]) -> tuple[list[Any], list[str]]:
        """What an event of this user names: ``(externalIds, tenants)`` (first loginId, first tenant)."""
        return first_login_id(obj), tenant_ids(obj)[:1]

    def users_deleted(
        self, objs: list[dict[str, Any]], user_ids: list[str], occurred_ms: int, rng: random.Random, ids_in: str
    ) -> tuple[dict[str, Any], str]:
        """One ``UsersDeleted`` event for a bulk deletion, and its client IP.

        No ``userId``; ``actorId`` is an admin; the IDs sit in ``data.userIds`` (``ids_in="data"``,
        with the users' first loginIds in ``externalIds``) or directly in ``externalIds``. Always has
        an ``ID`` (without one, two bulk deletions in one millisecond would look identical).
        """
        address = self.admin_address(rng)
        external = [i for obj in objs for i in first_login_id(obj)]
        event = {
            "ID": f"{rng.getrandbits(96):024x}",
            "projectId": self.project_id,
            "action": "UsersDeleted",
            "occurred": str(occurred_ms),
            "device": "Desktop",
            "method": "",
            "geo": self.country(address),
            "remoteAddress": address,
            "externalIds": list(user_ids) if ids_in == "externalIds" else external,
            "tenants": [],
            "data": {} if ids_in == "externalIds" else {"userIds": list(user_ids)},
            "type": "info",
            "actorId": rng.choice(self.admins),
        }
        return event, address

    def flow_done(self, login: dict[str, Any]) -> dict[str, Any]:
        """The ``LoginFlowDone`` a paired-dialect server logs 1-40 ms after a successful login."""
        rng = self._prng
        event = {"ID": f"{rng.getrandbits(96):024x}"}
        event.update({k: v for k, v in login.items() if k not in ("ID", "actorId")})
        event["action"] = "LoginFlowDone"
        event["occurred"] = str(int(login["occurred"]) + rint(rng, 1, 40))
        return event

    def history(
        self, rng: random.Random, rec: Rec, t0: int, out: list[tuple[dict[str, Any], str]], live_ids: list[str]
    ) -> None:
        """Audit events of one user inside the window (never before its createdTime)."""
        ws_s = max(t0 - self.audit_days * DAY + 60, rec.created)
        ws, we = ws_s * 1000, (t0 - 60) * 1000
        created_in = rec.created * 1000 >= t0 * 1000 - self.audit_days * DAY * 1000 + 60_000
        modified_in = rec.modified is not None and rec.modified * 1000 >= ws + 60_000 and rec.modified > rec.created
        n = 0 if rec.status == "invited" or rng.random() < 0.2 else poisson(rng, self.logins_per_user / 0.8)
        failed = n == 0 and rng.random() < 0.03
        if not (n or failed or created_in or modified_in):
            return
        obj = self.user_object(rec)
        who = self.who(obj)
        if created_in:
            address, client = self.address(rec, rng)
            kw = {"device": rng.choice(DEVICES[:3]), "method": rng.choice(METHODS)}
            event = self.event(
                "UserCreated", rec, rec.created * 1000, address=address, client_ip=client, **kw, rng=rng, who=who
            )
            out.append((event, client))
        if modified_in:
            address = self.admin_address(rng)
            kw = {"device": "Desktop", "method": "", "address": address}
            out.append((self.event("UserModified", rec, rec.modified * 1000, **kw, rng=rng, who=who), address))
        if failed:
            t = rint(rng, ws, we)
            device, method = wchoice(rng, DEVICES, DEVICE_CUM), wchoice(rng, METHODS, METHOD_CUM)
            address, client = self.address(rec, rng)
            kw = {"device": device, "method": method, "address": address, "client_ip": client}
            out.append((self.event("LoginFailed", rec, t, **kw, rng=rng, who=who), client))
        for _ in range(n):
            t = rint(rng, ws, we)
            device = wchoice(rng, DEVICES, DEVICE_CUM)
            method = wchoice(rng, METHODS, METHOD_CUM)
            address, client = self.address(rec, rng)
            actor = None
            if rng.random() < 0.01:
                method, actor = "Impersonate", rng.choice(live_ids) if live_ids else None
            kw = {"device": device, "method": method, "address": address, "client_ip": client, "rng": rng, "who": who}
            login = self.event("LoginSucceed", rec, t, actor=actor, **kw)
            out.append((login, client))
            if self.paired_flow_done:
                out.append((self.flow_done(login), client))
            if rng.random() < 0.4:
                out.append((self.event("LoginStarted", rec, max(ws, t - rint(rng, 1_000, 30_000)), **kw), client))
            if rng.random() < 0.08:
                out.append((self.event("LoginFailed", rec, max(ws, t - rint(rng, 30_000, 300_000)), **kw), client))
            if rng.random() < 0.01:
                out.append((self.event("LoginStartedFailed", rec, max(ws, t - rint(rng, 1_000, 30_000)), **kw), client))
