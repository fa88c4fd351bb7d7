"""``POST /v2/mgmt/user/search`` (and ``/search/test``): the user search (docs/simulator.md, "Users")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .answer import answer
from .request_fields import BadRequest, boolean, integer, string, strings
from .store import USER_SORT_FIELDS

if TYPE_CHECKING:
    from .server import Simulator

FAMILY = "user_search"
PATH = "/v2/mgmt/user/search"
TEST_USERS_PATH = "/v2/mgmt/user/search/test"
DEFAULT_LIMIT = 100
IMPLEMENTED_FIELDS = frozenset(
    {"limit", "page", "sort", "fromCreatedTime", "toCreatedTime", "fromModifiedTime", "toModifiedTime"}
    | {"withTestUser", "testUsersOnly", "statuses", "tenantIds", "emails", "userIds", "roleNames"}
    | {"loginIds", "phones", "text"}
)


def search_users(sim: Simulator, q: dict[str, Any], *, test_only: bool) -> bytes:
    """The answer's body: a page of users in the world's dialect, bent by the family's answer fault."""
    limit = integer(q, "limit", 0)
    if limit < 0:
        raise BadRequest("limit must be >= 0")
    limit = min(limit or DEFAULT_LIMIT, sim.max_page_size)
    page = integer(q, "page", 0)
    if page < 0:
        raise BadRequest("page must be >= 0")
    dialect = sim.world.dialect
    query = {
        "sort": _sort(q),
        "created": dialect.user_bounds(_bound(q, "fromCreatedTime"), _bound(q, "toCreatedTime")),
        "modified": dialect.user_bounds(_bound(q, "fromModifiedTime"), _bound(q, "toModifiedTime")),
        "with_test_users": boolean(q, "withTestUser"),
        "test_users_only": test_only or boolean(q, "testUsersOnly"),
        "statuses": strings(q, "statuses"),
        "tenant_ids": strings(q, "tenantIds"),
        "emails": strings(q, "emails"),
        "user_ids": strings(q, "userIds"),
        "role_names": strings(q, "roleNames"),
        "login_ids": strings(q, "loginIds"),
        "phones": strings(q, "phones"),
        "text": string(q, "text"),
    }
    if sim.past_max_offset(page, limit):
        users, total = sim.world.search_users_raw(limit=0, page=0, **query)
    else:
        users, total = sim.world.search_users_raw(limit=limit, page=page, **query)
    return answer("users", users, total, omit_empty=dialect.omit_empty, fault=sim.answer_fault.get(FAMILY))


def _bound(q: dict[str, Any], key: str) -> int | None:
    """A time filter; 0 (or null, or absent) is no bound, as a protobuf default would be."""
    return integer(q, key, 0) or None


def _sort(q: dict[str, Any]) -> list[tuple[str, bool]]:
    raw_sort = q.get("sort") or []
    if not isinstance(raw_sort, list):
        raise BadRequest("sort must be a list")
    sort = []
    for item in raw_sort:
        if not isinstance(item, dict) or item.get("field") not in USER_SORT_FIELDS:
            raise BadRequest(f"unsupported sort {item!r}; fields: {', '.join(USER_SORT_FIELDS)}")
        sort.append((item["field"], bool(item.get("desc", False))))
    return sort
