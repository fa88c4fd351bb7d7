"""The project's tenants, as `GET /v1/mgmt/tenant/all` (the SDKs' `tenant.load_all`) serves them.

The tenants are the generator's (``names.TENANTS``): the ids and names the users' ``userTenants``
carry. An answer is ``{"tenants": [{"id", "name", "selfProvisioningDomains", "customAttributes",
"createdTime"}]}``, in the world's dialect (``omit_empty`` drops empty fields, and the list itself
when there is no tenant). A test may rename or remove a tenant, or add one no user belongs to; users
keep the ``userTenants`` they were generated with (as Descope's do until they are updated).

``TenantDirectory.fault`` bends the 200 answer the way the search endpoints' answer faults do
(:mod:`.answer`): ``empty_object`` answers ``{}``, ``missing_list`` an object without ``tenants``,
``bad_list`` the list as an object of index: tenant.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .dialect import strip_empty
from .store import dumps

if TYPE_CHECKING:
    from .world import World

TENANTS_PATH = "/v1/mgmt/tenant/all"
FAMILY = "tenant_load"  # its rate limit (RateLimits.tenant_load)
FAULTS = ("empty_object", "missing_list", "bad_list")


class TenantDirectory:
    """The tenants of one world, changeable by tests (thread-safe)."""

    def __init__(self, world: World) -> None:
        self._omit_empty = world.dialect.omit_empty
        self.fault: str | None = None  # one of FAULTS, or None: the normal answer
        self._lock = threading.Lock()
        created = int(world.now()) - 400 * 86_400
        self._tenants: dict[str, dict[str, Any]] = {
            t["tenantId"]: {
                "id": t["tenantId"],
                "name": t["tenantName"],
                "selfProvisioningDomains": [t["domain"]],
                "customAttributes": {"plan": ("enterprise", "team", "free")[i % 3]},
                "createdTime": created + i * 86_400,
            }
            for i, t in enumerate(world.gen.tenants)
        }

    def listing(self) -> list[dict[str, Any]]:
        """Every tenant as served (before the dialect), in creation order."""
        with self._lock:
            return [dict(t) for t in self._tenants.values()]

    def put(self, tenant_id: str, name: str, **fields: Any) -> dict[str, Any]:
        """Add a tenant, or rename / change one."""
        with self._lock:
            current = self._tenants.get(tenant_id, {"selfProvisioningDomains": [], "customAttributes": {}})
            self._tenants[tenant_id] = {**current, **fields, "id": tenant_id, "name": name}
            return dict(self._tenants[tenant_id])

    def remove(self, tenant_id: str) -> None:
        with self._lock:
            del self._tenants[tenant_id]

    def answer(self) -> bytes:
        fault = self.fault
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown tenants fault {fault!r}; faults: {', '.join(FAULTS)}")
        if fault == "empty_object":
            return b"{}"
        tenants = self.listing()
        body: dict[str, Any] = {} if fault == "missing_list" else {"tenants": tenants}
        if fault == "bad_list":
            body["tenants"] = {str(i): tenant for i, tenant in enumerate(tenants)}
        return dumps(strip_empty(body) if self._omit_empty else body)
