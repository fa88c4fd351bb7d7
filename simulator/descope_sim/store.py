"""The indexes behind the two searches: live user records and indexed audit events.

:class:`UserStore` keeps every live record in two sorted lists per test-user inclusion:
by ``(createdTime, key)`` (records without a usable createdTime first) and by
``(modifiedTime, key)`` (only records that have one). A query's matching rows are a
bisected slice of one of them, filtered further only when a filter needs it; the view is
cached per query until the store changes. Each record is serialized once per version.

:class:`EventStore` keeps the events audit search can see sorted by ``(occurred, tie-break)``
(the tie-break is the event ``ID``, or :func:`.generate.event_hash`), each pre-serialized so a
page is a byte join. Events not yet indexed (``occurred + delay`` still in the future) wait in
a heap and are moved in when a read finds the clock has passed them; with no delays the heap
is empty and a read costs a bisect.

Both take plain bounds (inclusive seconds for users, ``[from, to)`` ms for audit): what a
filter means in a dialect is decided by :class:`.dialect.Dialect` before a query gets here.
"""

from __future__ import annotations

import bisect
import heapq
import json
import operator
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .dialect import strip_empty
from .generate import MISSING_TIME, Rec, event_tiebreak
from .generate import tenant_ids as tenants_of

USER_SORT_FIELDS = ("createdTime", "modifiedTime", "userId", "email", "name")
_QUERY_CACHE_SIZE = 16

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_JSON_ASCII = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))
_quote: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]

_created_key = operator.attrgetter("created", "key")
_modified_key = operator.attrgetter("modified", "key")  # only for records that have a modifiedTime
_event_key = operator.itemgetter(0, 1)


def _created_of(r: Rec) -> int:
    return r.created


def _modified_of(r: Rec) -> int:
    return r.modified  # type: ignore[return-value]  # only records in the modified index


def _occurred_of(e: tuple) -> int:
    return e[0]


def dumps(value: Any) -> bytes:
    """Compact JSON as UTF-8; a string UTF-8 cannot encode (a lone surrogate) makes it ASCII-escaped."""
    try:
        return _JSON.encode(value).encode()
    except UnicodeEncodeError:
        return _JSON_ASCII.encode(value).encode()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class UserStore:
    """Live user records, their indexes and the user search."""

    def __init__(self, materialize: Callable[[Rec], dict[str, Any]], omit_empty: bool) -> None:
        self._materialize = materialize
        self.omit_empty = omit_empty
        self.recs: dict[str, Rec] = {}  # every record ever made, by key (deleted ones too)
        self.live: list[str] = []  # generated live records: what random mutations pick from
        self._live_pos: dict[str, int] = {}
        self.verbatim: dict[str, Rec] = {}  # live put_user records, by key
        self._created: dict[bool, list[Rec]] = {True: [], False: []}  # with test users?
        self._modified: dict[bool, list[Rec]] = {True: [], False: []}
        self.version = 0
        self._cache: OrderedDict[Any, Any] = OrderedDict()

    # ------------------------------------------------------------------ records
    def load(self, live: list[Rec]) -> None:
        """Index the generated live records in one go (a sort, not n inserts)."""
        self._created[True] = sorted(live, key=_created_key)
        self._created[False] = [r for r in self._created[True] if not r.test]
        self._modified[True] = sorted((r for r in live if r.modified is not None), key=_modified_key)
        self._modified[False] = [r for r in self._modified[True] if not r.test]
        self.live = [r.key for r in live]
        self._live_pos = {uid: i for i, uid in enumerate(self.live)}
        self.version += 1

    def __len__(self) -> int:
        return len(self.live) + len(self.verbatim)

    def is_live(self, key: str) -> bool:
        return key in self._live_pos or key in self.verbatim

    def all_live(self) -> list[Rec]:
        """Every live record, in the default order (createdTime, key)."""
        return list(self._created[True])

    def obj(self, rec: Rec) -> dict[str, Any]:
        """The record's object as the world holds it (before the dialect shapes it)."""
        return rec.obj if rec.obj is not None else self._materialize(rec)

    def served(self, rec: Rec) -> dict[str, Any]:
        """The record's object exactly as search serves it in this dialect."""
        obj = self.obj(rec)
        return strip_empty(obj) if self.omit_empty and not rec.verbatim else obj

    def blob(self, rec: Rec) -> bytes:
        if rec.blob is None:
            rec.blob = dumps(self.served(rec))
        return rec.blob

    def add(self, rec: Rec) -> None:
        for with_test in (True, False):
            if with_test or not rec.test:
                bisect.insort(self._created[with_test], rec, key=_created_key)
                if rec.modified is not None:
                    bisect.insort(self._modified[with_test], rec, key=_modified_key)
        if rec.verbatim:
            self.verbatim[rec.key] = rec
        else:
            self._live_pos[rec.key] = len(self.live)
            self.live.append(rec.key)
        self.version += 1

    def remove(self, rec: Rec) -> None:
        for with_test in (True, False):
            if with_test or not rec.test:
                self._remove_from(self._created[with_test], rec, _created_key)
                if rec.modified is not None:
                    self._remove_from(self._modified[with_test], rec, _modified_key)
        if rec.verbatim:
            del self.verbatim[rec.key]
        else:
            pos = self._live_pos.pop(rec.key)
            last = self.live.pop()
            if last != rec.key:
                self.live[pos] = last
                self._live_pos[last] = pos
        self.version += 1

    def set_modified(self, rec: Rec, modified: int, obj: dict[str, Any]) -> None:
        """Give a live record a new object and modifiedTime (re-indexed)."""
        for with_test in (True, False):
            if (with_test or not rec.test) and rec.modified is not None:
                self._remove_from(self._modified[with_test], rec, _modified_key)
        rec.modified = modified
        rec.obj, rec.blob = obj, None
        for with_test in (True, False):
            if with_test or not rec.test:
                bisect.insort(self._modified[with_test], rec, key=_modified_key)
        self.version += 1

    @staticmethod
    def _remove_from(lst: list[Rec], rec: Rec, key: Callable[[Rec], Any]) -> None:
        i = bisect.bisect_left(lst, key(rec), key=key)
        if i < len(lst) and lst[i] is rec:
            del lst[i]
        else:  # pragma: no cover - indexes are kept consistent; stay correct if not
            lst.remove(rec)

    # ------------------------------------------------------------------ search
    def _cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        hit = self._cache.get(key)
        if hit is not None and hit[0] == self.version:
            self._cache.move_to_end(key)
            return hit[1]
        value = compute()
        self._cache[key] = (self.version, value)
        if len(self._cache) > _QUERY_CACHE_SIZE:
            self._cache.popitem(last=False)
        return value

    def search(
        self,
        *,
        limit: int = 100,
        page: int = 0,
        created: tuple[int | None, int | None] = (None, None),
        modified: tuple[int | None, int | None] = (None, None),
        sort: Sequence[tuple[str, bool]] = (),
        with_test_users: bool = False,
        test_users_only: bool = False,
        statuses: Iterable[str] = (),
        tenant_ids: Iterable[str] = (),
        emails: Iterable[str] = (),
        user_ids: Iterable[str] = (),
        role_names: Iterable[str] = (),
        login_ids: Iterable[str] = (),
        phones: Iterable[str] = (),
        text: str = "",
        raw: bool = False,
    ) -> tuple[list[Any], int]:
        """One page of users and the number of users matching the filter.

        ``created`` / ``modified`` are inclusive ``(lo, hi)`` bounds on the second-valued times
        (``None``: no bound on that side). Records without a modifiedTime never match a modified
        bound; records without an integer createdTime never match a created bound. Default
        order: createdTime asc (records without one first), then userId.
        """
        filters = (frozenset(statuses), frozenset(tenant_ids), frozenset(emails), frozenset(user_ids))
        view_args = (tuple(created), tuple(modified), tuple(sort) or (("createdTime", False),), with_test_users)
        view_args += (test_users_only, *filters, frozenset(role_names), frozenset(login_ids), frozenset(phones), text)
        lst, lo, hi, reverse = self._cached(("users", *view_args), lambda: self._view(*view_args))
        off = page * limit
        if reverse:
            chunk = lst[max(lo, hi - off - limit) : max(lo, hi - off)][::-1]
        else:
            chunk = lst[min(hi, lo + off) : min(hi, lo + off + limit)]
        if raw:
            return [self.blob(r) for r in chunk], hi - lo
        return [self.served(r) for r in chunk], hi - lo

    def _view(
        self,
        created,
        modified,
        sort,
        with_test,
        test_only,
        statuses,
        tenant_ids,
        emails,
        user_ids,
        role_names,
        login_ids,
        phones,
        text,
    ) -> tuple[list[Rec], int, int, bool]:
        include_test = with_test or test_only
        extra: list[Callable[[Rec], bool]] = []
        c_lo, c_hi = created
        if c_lo is None and c_hi is not None:
            c_lo = MISSING_TIME + 1  # a bound never matches a record without createdTime
        if modified != (None, None):
            base, natural, of = self._modified[include_test], "modifiedTime", _modified_of
            lo_s, hi_s = modified
            if c_lo is not None:
                extra.append(lambda r: r.created >= c_lo)
            if c_hi is not None:
                extra.append(lambda r: r.created <= c_hi)
        else:
            base, natural, of = self._created[include_test], "createdTime", _created_of
            lo_s, hi_s = c_lo, c_hi
        lo = 0 if lo_s is None else bisect.bisect_left(base, lo_s, key=of)
        hi = len(base) if hi_s is None else bisect.bisect_right(base, hi_s, key=of)
        hi = max(lo, hi)
        if test_only:
            extra.append(lambda r: r.test)
        if statuses:
            extra.append(lambda r: r.status in statuses)
        if user_ids:
            extra.append(lambda r: r.has_id and r.key in user_ids)
        if emails:
            lowered = {e.strip().lower() for e in emails}
            extra.append(lambda r: _text(self.obj(r).get("email")).strip().lower() in lowered)
        if tenant_ids:
            extra.append(lambda r: bool(tenant_ids.intersection(tenants_of(self.obj(r)))))
        if role_names:
            extra.append(lambda r: bool(role_names.intersection(_strings(self.obj(r).get("roleNames")))))
        if login_ids:
            extra.append(lambda r: bool(login_ids.intersection(_strings(self.obj(r).get("loginIds")))))
        if phones:
            extra.append(lambda r: _text(self.obj(r).get("phone")) in phones)
        if text:
            needle = text.casefold()
            extra.append(lambda r: any(needle in value.casefold() for value in _searchable(self.obj(r))))
        if extra:
            base = [r for r in base[lo:hi] if all(f(r) for f in extra)]
            lo, hi = 0, len(base)
        if len(sort) == 1 and sort[0][0] == natural:
            return base, lo, hi, sort[0][1]
        rows = base[lo:hi]
        rows.sort(key=self._sort_key("userId"), reverse=sort[0][1])
        for name, desc in reversed(sort):
            rows.sort(key=self._sort_key(name), reverse=desc)
        return rows, 0, len(rows), False

    def _sort_key(self, name: str) -> Callable[[Rec], Any]:
        if name == "createdTime":
            return _created_of
        if name == "modifiedTime":
            return lambda r: MISSING_TIME if r.modified is None else r.modified
        if name == "userId":
            return lambda r: r.key if r.has_id else ""
        if name in ("email", "name"):
            return lambda r: _text(self.obj(r).get(name))
        raise ValueError(f"unsupported sort field {name!r}")


def _served(e: tuple) -> dict[str, Any]:
    served = json.loads(e[BLOB])
    return served if isinstance(served, dict) else {}


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _searchable(obj: dict[str, Any]) -> Iterator[str]:
    """What free-text user search looks in: every top-level string and string list item."""
    for value in obj.values():
        if isinstance(value, str):
            yield value
        else:
            yield from _strings(value)


# ---------------------------------------------------------------------- events
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

# A packed event: (occurred ms, tie-break, action, userId, device, method, remoteAddress, blob, client IP)
OCCURRED, TIEBREAK, ACTION, USER_ID, DEVICE, METHOD, ADDRESS, BLOB, CLIENT_IP = range(9)


class EventStore:
    """Audit events: the indexed (visible) ones sorted, the not-yet-indexed ones in a heap."""

    def __init__(self, omit_empty: bool) -> None:
        self.omit_empty = omit_empty
        self.events: list[tuple] = []  # visible, sorted by (occurred, tie-break)
        self._pending: list[tuple[int, int, tuple]] = []  # (visible from ms, insertion no, packed)
        self._pushed = 0
        self.version = 0
        self._cache: OrderedDict[Any, Any] = OrderedDict()

    def pack(
        self, e: dict[str, Any], client_ip: str | None = None, *, verbatim: bool = False, filed_at_ms: int | None = None
    ) -> tuple:
        """An event as stored: its sort and filter columns, its JSON as served, its client IP.

        ``verbatim`` events are served exactly as given, in every dialect. ``filed_at_ms``: the time the
        server sorts, filters and counts the event by, whatever its ``occurred`` says (default: ``occurred``).
        """
        if verbatim:
            blob = dumps(e)
        elif not self.omit_empty and (e.keys() == _EVENT_KEYS or e.keys() == _EVENT_KEYS_NO_ID) and not e["data"]:
            q = _quote  # fast path: the generator's shape
            try:
                blob = (
                    ("{" if "ID" not in e else '{"ID":' + q(e["ID"]) + ",")
                    + f'"projectId":{q(e["projectId"])},"userId":{q(e["userId"])},"action":{q(e["action"])},'
                    f'"occurred":{q(e["occurred"])},"device":{q(e["device"])},"method":{q(e["method"])},'
                    f'"geo":{q(e["geo"])},"remoteAddress":{q(e["remoteAddress"])},'
                    f'"externalIds":[{",".join(map(q, e["externalIds"]))}],'
                    f'"tenants":[{",".join(map(q, e["tenants"]))}],"data":{{}},"type":{q(e["type"])}}}'
                ).encode()
            except (TypeError, UnicodeEncodeError):  # not the generator's types after all
                blob = dumps(e)
        else:
            blob = dumps(strip_empty(e) if self.omit_empty else e)
        address = e.get("remoteAddress")
        return (
            int(e["occurred"]) if filed_at_ms is None else filed_at_ms,
            event_tiebreak(e),
            e.get("action"),
            e.get("userId"),
            e.get("device"),
            e.get("method"),
            address,
            blob,
            address if client_ip is None else client_ip,
        )

    def load(self, packed: list[tuple], visible_from: list[int] | None, now_ms: int) -> None:
        """Bulk-load generated events (``visible_from[i]``: when event ``i`` gets indexed)."""
        if visible_from is None:
            self.events = sorted(packed, key=_event_key)
        else:
            self.events = sorted((p for p, v in zip(packed, visible_from, strict=True) if v <= now_ms), key=_event_key)
            for p, v in zip(packed, visible_from, strict=True):
                if v > now_ms:
                    self._push(v, p)
        self.version += 1

    def _push(self, visible_from: int, packed: tuple) -> None:
        self._pushed += 1
        heapq.heappush(self._pending, (visible_from, self._pushed, packed))

    def add(self, packed: tuple, visible_from: int, now_ms: int) -> bool:
        """Store one event; ``True`` when it is visible already."""
        if visible_from > now_ms:
            self._push(visible_from, packed)
            return False
        bisect.insort(self.events, packed, key=_event_key)
        self.version += 1
        return True

    def promote(self, now_ms: int) -> None:
        """Index every pending event whose time has come."""
        pending = self._pending
        if not pending or pending[0][0] > now_ms:
            return
        while pending and pending[0][0] <= now_ms:
            bisect.insort(self.events, heapq.heappop(pending)[2], key=_event_key)
        self.version += 1

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def search(
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
        geos: Iterable[str] = (),
        tenants: Iterable[str] = (),
        external_ids: Iterable[str] = (),
        no_tenants: bool = False,
        text: str = "",
    ) -> tuple[list[bytes], int]:
        """One page of visible events (serialized) with ``from_ms <= occurred < to_ms``, and the total.

        Order: (occurred, ID-or-hash) descending, or ascending with ``oldest_first``. ``tenants``
        keeps events of one of them (with ``no_tenants`` also events without tenants); ``text``
        keeps events with a top-level string (or string list item) containing it, case-insensitively.
        """
        filters = (
            frozenset(actions),
            frozenset(excluded_actions),
            frozenset(user_ids),
            frozenset(remote_addresses),
            frozenset(devices),
            frozenset(methods),
            frozenset(geos),
            frozenset(tenants),
            frozenset(external_ids),
            text,
        )
        if tenants and no_tenants:
            filters += ("no_tenants",)
        events = self._filtered(filters) if any(filters) else self.events
        lo = bisect.bisect_left(events, from_ms, key=_occurred_of)
        hi = max(lo, bisect.bisect_left(events, to_ms, key=_occurred_of))
        off = page * size
        if oldest_first:
            chunk = events[min(hi, lo + off) : min(hi, lo + off + size)]
        else:
            chunk = events[max(lo, hi - off - size) : max(lo, hi - off)][::-1]
        return [e[BLOB] for e in chunk], hi - lo

    def _filtered(self, filters: tuple[frozenset, ...]) -> list[tuple]:
        hit = self._cache.get(filters)
        if hit is not None and hit[0] == self.version:
            self._cache.move_to_end(filters)
            return hit[1]
        actions, excluded, user_ids, addresses, devices, methods, geos, tenants, external_ids, text = filters[:10]
        with_no_tenants = len(filters) > 10
        needle = text.casefold()

        def keep_served(served: dict[str, Any]) -> bool:
            """The filters on fields only the served JSON holds."""
            if geos and served.get("geo") not in geos:
                return False
            if tenants:
                own = _strings(served.get("tenants"))
                if not (tenants.intersection(own) or (with_no_tenants and not own)):
                    return False
            if external_ids and not external_ids.intersection(_strings(served.get("externalIds"))):
                return False
            return not needle or any(needle in value.casefold() for value in _searchable(served))

        def keep(e: tuple) -> bool:
            return (
                (not actions or e[ACTION] in actions)
                and e[ACTION] not in excluded
                and (not user_ids or e[USER_ID] in user_ids)
                and (not addresses or e[ADDRESS] in addresses)
                and (not devices or e[DEVICE] in devices)
                and (not methods or e[METHOD] in methods)
                and (not (geos or tenants or external_ids or needle) or keep_served(_served(e)))
            )

        value = [e for e in self.events if keep(e)]
        self._cache[filters] = (self.version, value)
        if len(self._cache) > _QUERY_CACHE_SIZE:
            self._cache.popitem(last=False)
        return value
