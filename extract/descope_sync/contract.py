"""What the extractor, the simulator's truth, the tests and the dev fixture must agree on.

One place for the names and rules that cross module boundaries: run statuses, which audit actions
are logins and deletions, the audit retention and how an audit event is identified. The streams
and the landing tables are declared in catalog.py (re-exported here: `STREAMS`, `LANDING_TABLES`).
dbt's vars `login_actions`, `single_user_deletion_actions`, `bulk_user_deletion_actions`,
`cursor_statuses` and `audit_retention_days` (dbt_project.yml) repeat the values here; a test
checks they agree.
docs/design.md describes the same contract in prose.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

# Declared in catalog.py; re-exported, the names every module has always read here.
from descope_sync.catalog import LANDING_TABLES as LANDING_TABLES
from descope_sync.catalog import STREAMS as STREAMS
from descope_sync.catalog import Column as Column


class RunStatus(StrEnum):
    """`_sync_runs.status`: what a stream proved about the interval it covers."""

    SUCCESS = "success"  # everything it claims was proved read
    PARTIAL = "partial"  # stopped by its time budget; progress committed, the next run resumes
    INCOMPLETE = "incomplete"  # finished, but not proved complete: no deletion may be inferred from it
    DATA_LOSS = "data_loss"  # an interval older than the audit retention: it can never be read
    FAILED = "failed"  # an error; nothing about the cursor changes
    RESET = "reset"  # `descope-sync reset`: the stream's cursor starts over; rows before it no longer count


class RunMode(StrEnum):
    """`_sync_runs.mode`: `full` for a users sweep over every user, else `incremental`."""

    FULL = "full"
    INCREMENTAL = "incremental"


# Worst first: when one run has several statuses, the first of these that occurs is the run's.
SEVERITY: tuple[RunStatus, ...] = (
    RunStatus.FAILED,
    RunStatus.DATA_LOSS,
    RunStatus.INCOMPLETE,
    RunStatus.PARTIAL,
    RunStatus.SUCCESS,
)


def worst_status(statuses: Iterable[str]) -> RunStatus:
    """The worst of `statuses` (SUCCESS when there are none); an unknown status counts as failed."""
    seen: set[RunStatus] = set()
    for status in statuses:
        try:
            seen.add(RunStatus(status))
        except ValueError:
            return RunStatus.FAILED
    return next((status for status in SEVERITY if status in seen), RunStatus.SUCCESS)


# Rows whose `cursor_to` counts toward a stream's position. A stream sets `cursor_to` only on a
# row that proves it (a failed row never does; an incomplete row only for what it did prove).
# Only rows that finished after the stream's latest `reset` row count (CURSOR_SQL says it once).
CURSOR_STATUSES: tuple[RunStatus, ...] = (
    RunStatus.SUCCESS,
    RunStatus.PARTIAL,
    RunStatus.INCOMPLETE,
    RunStatus.DATA_LOSS,
)


def cursor_sql(table: str, stream_param: str, statuses_param: str) -> str:
    """The stream's cursor: the greatest `cursor_to` of its rows in CURSOR_STATUSES that finished
    after its latest `reset` row (a cursor row without `finished_at` counts, as it always did).
    One text for both warehouses (DuckDB and BigQuery), so their answers cannot drift apart."""
    return (
        f"select max(r.cursor_to) as cursor_to from {table} as r "
        f"where r.stream = {stream_param} and r.status in {statuses_param} "
        f"and not exists (select 1 from {table} as z where z.stream = r.stream "
        f"and z.status = '{RunStatus.RESET}' and z.finished_at >= r.finished_at)"
    )


# Audit actions that count as a successful login. `LoginFlowDone` appears in no Descope source;
# counted beside `LoginSucceed` it could count one login twice.
LOGIN_ACTIONS: tuple[str, ...] = ("LoginSucceed",)

# Audit actions that delete one user, the one `userId` names (nothing else in the event counts).
SINGLE_USER_DELETION_ACTIONS: tuple[str, ...] = ("UserDeleted",)
# Audit actions that delete many users: IDs in `userId`, `data` or `externalIds` (where exactly is
# not documented), never the `actorId` (an admin who deletes others is not deleted).
BULK_USER_DELETION_ACTIONS: tuple[str, ...] = ("UsersDeleted",)
# Every audit action that deletes users.
USER_DELETION_ACTIONS: tuple[str, ...] = (*SINGLE_USER_DELETION_ACTIONS, *BULK_USER_DELETION_ACTIONS)

# How far back Descope's audit search reaches.
AUDIT_RETENTION_DAYS = 30

# Fields whose hash identifies an audit event that carries no `ID`.
EVENT_HASH_FIELDS: tuple[str, ...] = ("userId", "action", "occurred", "device", "method", "remoteAddress")


def event_id(event: dict[str, Any]) -> str:
    """Descope's `ID`, else `h_` + a stable hash of the fields that identify an event."""
    given = event.get("ID")
    if isinstance(given, str) and given:
        return given
    key = [event.get(k) for k in EVENT_HASH_FIELDS]
    return "h_" + hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()[:40]
