"""``POST /v1/mgmt/audit/search``: the audit search (docs/simulator.md, "Audit")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .answer import answer
from .request_fields import BadRequest, boolean, integer, string, strings

if TYPE_CHECKING:
    from .server import Simulator

FAMILY = "audit_search"
PATH = "/v1/mgmt/audit/search"
RETENTION_MS = 30 * 86_400 * 1000
MAX_PAGE = 1000
IMPLEMENTED_FIELDS = frozenset(
    {"from", "to", "size", "page", "oldestFirst", "actions", "excludedActions", "userIds"}
    | {"remoteAddresses", "devices", "methods", "geos", "tenants", "externalIds", "noTenants", "text"}
)


def search_audit(sim: Simulator, q: dict[str, Any]) -> bytes:
    """The answer's body: a page of events in the world's dialect, bent by the family's answer fault."""
    dialect = sim.world.dialect
    now_ms = int(sim.world.now() * 1000)
    from_ms = integer(q, "from", 0) or now_ms - RETENTION_MS
    to_ms = integer(q, "to", 0) or now_ms
    if from_ms < now_ms - RETENTION_MS:
        raise BadRequest("from is older than the 30 day retention")
    size = integer(q, "size", 0)
    if size < 0:
        raise BadRequest("size must be >= 0")
    size = min(size or MAX_PAGE, MAX_PAGE) if dialect.audit_size == "honoured" else MAX_PAGE
    page = integer(q, "page", 0)
    if page < 0:
        raise BadRequest("page must be >= 0")
    page = page if dialect.audit_page == "honoured" else 0
    oldest_first = boolean(q, "oldestFirst") and dialect.audit_oldest_first == "honoured"
    lo, hi = dialect.audit_bounds(from_ms, to_ms)
    past = sim.past_max_offset(page, size)
    blobs, total = sim.world.search_audit(
        from_ms=lo,
        to_ms=hi,
        size=0 if past else size,
        page=0 if past else page,
        oldest_first=oldest_first,
        actions=strings(q, "actions"),
        excluded_actions=strings(q, "excludedActions"),
        user_ids=strings(q, "userIds"),
        remote_addresses=strings(q, "remoteAddresses"),
        devices=strings(q, "devices"),
        methods=strings(q, "methods"),
        geos=strings(q, "geos"),
        tenants=strings(q, "tenants"),
        external_ids=strings(q, "externalIds"),
        no_tenants=boolean(q, "noTenants"),
        text=string(q, "text"),
    )
    return answer("audits", blobs, total, omit_empty=dialect.omit_empty, fault=sim.answer_fault.get(FAMILY))
