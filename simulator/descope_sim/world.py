"""The simulated Descope project: a facade over generation, storage, mutations and the truth.

- :mod:`.generate`: deterministic users, addresses, events and history from seeds.
- :mod:`.store`: the user indexes and the event index, and the two searches.
- :mod:`.mutate`: create / modify / delete / bulk delete / login / put_user / add_event.
- :mod:`.truth`: what a perfect pipeline must show.
- :mod:`.dialect`: which reading of Descope's disagreeing sources the world plays.

The world does not speak HTTP; :mod:`.server` does (:mod:`.routes`). Every public method takes ``World.lock``
(re-entrant), so a caller may hold it around several calls to make them atomic.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from . import mutate
from . import truth as truth_module
from .dialect import Dialect
from .generate import Generator, event_hash, event_tiebreak, ip_pool, rint
from .store import USER_SORT_FIELDS, EventStore, UserStore

__all__ = ["USER_SORT_FIELDS", "World", "event_hash", "event_tiebreak", "ip_pool"]

BULK_IDS_IN = ("data", "externalIds")


class World:
    """A seeded Descope project.

    ``users`` live users (plus ~0.5% extra users deleted during the audit window),
    ``audit_days`` (<= 29) days of audit history with ``logins_per_user`` successful logins
    per user on average. ``now`` is the clock (a callable returning epoch seconds) for
    generation, mutations and audit visibility.

    ``dialect``: the reading of Descope's API to play (:class:`.dialect.Dialect`).
    ``index_delay_ms=(lo, hi)``: each event becomes visible to audit search only once
    ``now >= occurred + delay``, the delay drawn per event (generated history too).
    ``bulk_import``: exactly how many users share the one bulk-import createdTime second
    (default max(5, 3%)). ``bulk_ids_in``: where a ``UsersDeleted`` event carries the user IDs,
    ``"data"`` (``data.userIds``) or ``"externalIds"``. ``user_padding_bytes``: a custom attribute
    ``padding`` of that many characters in every user, for pages that take long to land.
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
        dialect: Dialect | None = None,
        index_delay_ms: tuple[int, int] = (0, 0),
        bulk_import: int | None = None,
        bulk_ids_in: str = "data",
        user_padding_bytes: int = 0,
    ) -> None:
        if not 0 < audit_days <= 29:
            raise ValueError("audit_days must be between 1 and 29 (everything must be readable)")
        if users < 0:
            raise ValueError("users must be >= 0")
        lo, hi = index_delay_ms
        if not 0 <= lo <= hi:
            raise ValueError("index_delay_ms must be (lo, hi) with 0 <= lo <= hi")
        if bulk_import is not None and not 0 <= bulk_import <= users:
            raise ValueError("bulk_import must be between 0 and users")
        if bulk_ids_in not in BULK_IDS_IN:
            raise ValueError(f"bulk_ids_in must be one of {', '.join(BULK_IDS_IN)}")
        self.seed = seed
        self.now = now
        self.audit_days = audit_days
        self.logins_per_user = logins_per_user
        self.extra_fields = extra_fields
        self.project_id = project_id
        self.dialect = dialect if dialect is not None else Dialect()
        self.index_delay_ms = (lo, hi)
        self.bulk_ids_in = bulk_ids_in
        self.lock = threading.RLock()
        self.mrng = random.Random(seed * 7919 + 1)  # mutations
        self._drng = random.Random(seed * 15_485_863 + 3)  # index delays
        self.gen = Generator(
            seed,
            project_id,
            extra_fields=extra_fields,
            logins_per_user=logins_per_user,
            audit_days=audit_days,
            paired_flow_done=self.dialect.login_flow_done == "paired",
            padding_bytes=user_padding_bytes,
        )
        self.user_store = UserStore(self.gen.user_object, self.dialect.omit_empty)
        self.event_store = EventStore(self.dialect.omit_empty)
        self.deleted: list[str] = []
        self.no_id_count = 0
        self._seq = 0
        self._build(users, bulk_import)

    # ------------------------------------------------------------------ plumbing for the parts
    def _build(self, n_users: int, bulk_import: int | None) -> None:
        t0 = int(self.now())
        built = self.gen.build(random.Random(self.seed), n_users, t0, bulk_import, self.user_store.recs)
        self._seq = len(built.live) + len(built.ghosts)
        self.user_store.load(built.live)
        pack = self.event_store.pack
        packed = [pack(event, client) for event, client in built.events]
        visible = None if self.index_delay_ms == (0, 0) else [p[0] + self.index_delay() for p in packed]
        self.event_store.load(packed, visible, t0 * 1000)
        self.deleted = built.deleted

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def index_delay(self) -> int:
        """One event's indexing delay (ms), drawn from ``index_delay_ms``."""
        lo, hi = self.index_delay_ms
        return lo if lo == hi else rint(self._drng, lo, hi)

    # ------------------------------------------------------------------ mutations
    def create_user(self) -> dict[str, Any]:
        """A new user created now (createdTime = modifiedTime = now); emits ``UserCreated``."""
        with self.lock:
            return mutate.create_user(self)

    def modify_user(self, user_id: str | None = None) -> dict[str, Any]:
        """Change a few attributes of a user, set modifiedTime = now; emits ``UserModified``."""
        with self.lock:
            return mutate.modify_user(self, user_id)

    def delete_user(self, user_id: str | None = None, emit_event: bool = True) -> dict[str, Any]:
        """Remove a user (its audit history stays); emits ``UserDeleted`` unless ``emit_event`` is false."""
        with self.lock:
            return mutate.delete_user(self, user_id, emit_event)

    def delete_users(self, user_ids: list[str], event: str | None = "bulk") -> dict[str, Any]:
        """Remove users: one ``UsersDeleted`` (``"bulk"``), a ``UserDeleted`` each (``"single"``) or silently (None)."""
        with self.lock:
            return mutate.delete_users(self, user_ids, event)

    def delete_test_users(self) -> dict[str, Any]:
        """Bulk-delete every live test user (one ``UsersDeleted`` event)."""
        with self.lock:
            return mutate.delete_test_users(self)

    def login(
        self,
        user_id: str | None = None,
        success: bool = True,
        occurred_ms: int | None = None,
        *,
        remote_address: str | None = None,
        client_ip: str | None = None,
    ) -> dict[str, Any]:
        """A ``LoginSucceed`` (or ``LoginFailed``) at ``occurred_ms`` (default now; older = indexed late)."""
        with self.lock:
            return mutate.login(self, user_id, success, occurred_ms, remote_address=remote_address, client_ip=client_ip)

    def add_event(
        self,
        event: dict[str, Any],
        *,
        client_ip: str | None = None,
        visible_from_ms: int | None = None,
        filed_at_ms: int | None = None,
    ) -> dict[str, Any]:
        """Insert any event verbatim, visible from ``visible_from_ms`` (default now: "indexed late");
        ``filed_at_ms``: searched and counted at that time whatever its ``occurred`` says."""
        with self.lock:
            return mutate.add_event(
                self, event, client_ip=client_ip, visible_from_ms=visible_from_ms, filed_at_ms=filed_at_ms
            )

    def put_user(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Insert or replace (by userId) a user object served verbatim; see :func:`.mutate.put_user`."""
        with self.lock:
            return mutate.put_user(self, obj)

    def random_mutation(self) -> list[dict[str, Any]]:
        """One chaos mutation: create, modify (sometimes followed by a login) or delete."""
        with self.lock:
            return mutate.random_mutation(self)

    # ------------------------------------------------------------------ reads
    @property
    def user_count(self) -> int:
        """Live user records, test users and records without a userId included."""
        return len(self.user_store)

    @property
    def event_count(self) -> int:
        """Events audit search can see now."""
        with self.lock:
            self.event_store.promote(self.now_ms())
            return len(self.event_store.events)

    @property
    def pending_event_count(self) -> int:
        """Events logged but not yet indexed."""
        with self.lock:
            self.event_store.promote(self.now_ms())
            return self.event_store.pending_count

    def user(self, user_id: str) -> dict[str, Any] | None:
        """A live user as served, or None."""
        with self.lock:
            rec = self.user_store.recs.get(user_id)
            if rec is None or not self.user_store.is_live(user_id):
                return None
            return self.user_store.served(rec)

    def search_users(self, **query: Any) -> tuple[list[Any], int]:
        """One page of users (as served) and the total; see :meth:`.store.UserStore.search`."""
        with self.lock:
            return self.user_store.search(**query)

    def search_users_raw(self, **query: Any) -> tuple[list[bytes], int]:
        """:meth:`search_users` with each user as serialized JSON (cached per user version)."""
        with self.lock:
            return self.user_store.search(**query, raw=True)

    def search_audit(self, **query: Any) -> tuple[list[bytes], int]:
        """One page of visible events (serialized) and the total; see :meth:`.store.EventStore.search`."""
        with self.lock:
            self.event_store.promote(self.now_ms())
            return self.event_store.search(**query)

    def truth(self) -> dict[str, Any]:
        """What a perfect extractor + dbt would know; see :mod:`.truth` and docs/simulator.md, "Truth"."""
        return truth_module.truth(self)
