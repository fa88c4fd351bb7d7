"""Tenants: the newest complete snapshot is the tenants there are, and users_clean names a user's tenants.

Snapshots are crafted landing rows (the writer's own columns) with the `_sync_runs` rows the tenants
stream writes: a batch counts only once a `success` row names it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.transform.conftest import NOW, Landing, assert_marts_built, build, query, user


def snapshot(landing: Landing, batch: str, at: datetime, tenants: list[tuple[str, str]], status: str | None) -> None:
    """Land one tenants batch; `status`: the run row naming it (None: no row, as after a crash)."""
    rows = [
        {
            "tenant_id": tenant_id,
            "name": name,
            "payload": {"id": tenant_id, "name": name, "createdTime": 1_700_000_000},
            "_batch_id": batch,
            "_extracted_at": at,
        }
        for tenant_id, name in tenants
    ]
    landing.rows("tenants", rows)
    if status is not None:
        landing.run(
            stream="tenants",
            status=status,
            started_at=at,
            finished_at=at + timedelta(seconds=1),
            rows_loaded=len(rows),
            details={"batch_id": batch, "tenants": len(rows)},
        )


def member_of(*tenants: tuple[str, str]) -> dict[str, Any]:
    return {"userTenants": [{"tenantId": t, "tenantName": n, "roleNames": ["Viewer"]} for t, n in tenants]}


def staged_tenants(db) -> dict[str, str]:
    return dict(query(db, "select tenant_id, tenant_name from descope_staging.int_tenants_current"))


def tenant_names(db) -> dict[str, str | None]:
    return dict(query(db, "select user_id, tenant_names from descope_data_v2.users_clean"))


def test_the_newest_complete_snapshot_is_the_tenants_and_names_reach_users_clean(landing: Landing) -> None:
    db = landing.path
    acme, globex, initech = ("T-acme", "Acme Corp"), ("T-globex", "Globex"), ("T-initech", "Initech")
    landing.users(
        user("both", **member_of(globex, acme)),
        user("one", **member_of(initech)),
        user("unknown-tenant", **member_of(("T-never-listed", "Ghost"))),
        user("no-tenants"),
        extracted_at=NOW - timedelta(hours=3),
    )
    snapshot(landing, "old", NOW - timedelta(hours=3), [acme, globex, initech], "success")
    assert_marts_built(build(db))
    assert staged_tenants(db) == dict([acme, globex, initech])
    assert tenant_names(db) == {
        "both": "Acme Corp, Globex",
        "one": "Initech",
        "unknown-tenant": None,
        "no-tenants": None,
    }

    # A newer batch without its success row (a run that failed or stopped before the row): not a snapshot.
    snapshot(landing, "cut-short", NOW - timedelta(hours=2), [acme], None)
    snapshot(landing, "failed", NOW - timedelta(hours=2), [acme], "failed")
    assert_marts_built(build(db))
    assert staged_tenants(db) == dict([acme, globex, initech])

    # The newest complete snapshot lacks Initech and renamed Globex: Initech is gone.
    snapshot(landing, "new", NOW - timedelta(hours=1), [acme, ("T-globex", "Globex Corporation")], "success")
    assert_marts_built(build(db))
    assert staged_tenants(db) == {"T-acme": "Acme Corp", "T-globex": "Globex Corporation"}
    assert tenant_names(db)["both"] == "Acme Corp, Globex Corporation"
    assert tenant_names(db)["one"] is None


def test_an_empty_complete_snapshot_means_no_tenants(landing: Landing) -> None:
    db = landing.path
    landing.users(user("member", **member_of(("T-acme", "Acme Corp"))), extracted_at=NOW - timedelta(hours=3))
    snapshot(landing, "full", NOW - timedelta(hours=2), [("T-acme", "Acme Corp")], "success")
    snapshot(landing, "empty", NOW - timedelta(hours=1), [], "success")
    assert_marts_built(build(db))
    assert staged_tenants(db) == {}
    assert tenant_names(db) == {"member": None}
