"""Every landing table and every stream, each declared once.

A landing table (schema/dataset `descope_raw`, append-only, written only by the extractor) is its
name, columns, key column, BigQuery day-partition column and clustering. A stream is its name, its
landing table, the Descope endpoint it reads, how it knows where it is (its cursor kind) and its
default share of a run's time budget. The stream order, the registry (`streams/__init__.py`), both
landing writers, the BigQuery table specs, the default budget shares, the test helpers and the
test holding dbt's sources YAML to these declarations all read them. Adding a stream: a
`StreamSpec` here, its module `streams/<name>.py` with `run(ctx)`.

This module imports nothing of the package: every other module may read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# A column's logical type; each writer maps it to its warehouse's type.
COLUMN_TYPES = ("string", "timestamp", "json", "double", "integer", "boolean")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # one of COLUMN_TYPES


def columns(spec: str) -> tuple[Column, ...]:
    """`"name:type name:type ..."` as columns."""
    return tuple(Column(*item.split(":")) for item in spec.split())


@dataclass(frozen=True)
class LandingTable:
    name: str
    columns: tuple[Column, ...]
    partition: str  # the column BigQuery partitions the table by (by day)
    clustering: tuple[str, ...] = ()  # BigQuery's clustering columns, in order
    key: str | None = None  # the column naming a record (an oversize row's quarantine preview)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: a column is declared twice")
        unknown = [c.type for c in self.columns if c.type not in COLUMN_TYPES]
        if unknown:
            raise ValueError(f"{self.name}: unknown column type(s) {', '.join(unknown)}")
        for name in (self.partition, *self.clustering, *([self.key] if self.key else [])):
            if name not in names:
                raise ValueError(f"{self.name}: {name!r} is not one of its columns")
        if self.column(self.partition).type != "timestamp":
            raise ValueError(f"{self.name}: the partition column {self.partition!r} is not a timestamp")

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


class Cursor(StrEnum):
    """How a stream knows where it is."""

    MODIFIED_TIME = "modified_time"  # users: Descope's modifiedTime, and full sweeps
    OCCURRED = "occurred"  # audit events: the time they occurred
    DERIVED = "derived"  # read from other landing tables, not from Descope (ip_locations)
    SNAPSHOT = "snapshot"  # none: every run lands the whole list as one batch


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str


@dataclass(frozen=True)
class StreamSpec:
    name: str
    table: LandingTable
    cursor: Cursor
    budget_share: float  # the default share of a run's time budget (DESCOPE_STREAM_BUDGET_SHARES overrides)
    api: Endpoint | None = None  # the Descope endpoint it reads; None for a derived stream


USERS = LandingTable(
    "users",
    columns("user_id:string modified_at:timestamp payload:json _batch_id:string _extracted_at:timestamp"),
    partition="_extracted_at",
    clustering=("user_id",),
    key="user_id",
)
AUDIT_EVENTS = LandingTable(
    "audit_events",
    columns(
        "event_id:string action:string user_id:string occurred_at:timestamp remote_address:string "
        "payload:json _batch_id:string _extracted_at:timestamp"
    ),
    partition="_extracted_at",
    clustering=("action", "user_id"),
    key="event_id",
)
IP_LOCATIONS = LandingTable(
    "ip_locations",
    columns(
        "ip:string client_ip:string city:string region:string region_code:string country_code:string "
        "country_name:string continent_code:string latitude:double longitude:double "
        "accuracy_radius_km:integer time_zone:string is_found:boolean not_found_reason:string "
        "database_type:string database_built_at:timestamp _looked_up_at:timestamp _batch_id:string"
    ),
    partition="_looked_up_at",
    clustering=("ip",),
    key="ip",
)
TENANTS = LandingTable(
    "tenants",
    columns("tenant_id:string name:string payload:json _batch_id:string _extracted_at:timestamp"),
    partition="_extracted_at",
    clustering=("tenant_id",),
    key="tenant_id",
)
# The extractor's own tables: its run log (the streams' cursors) and the records it could not land.
SYNC_RUNS = LandingTable(
    "_sync_runs",
    columns(
        "run_id:string stream:string status:string started_at:timestamp finished_at:timestamp "
        "cursor_from:timestamp cursor_to:timestamp rows_loaded:integer error:string mode:string "
        "sweep_id:string sweep_started_at:timestamp details:json"
    ),
    partition="started_at",
    clustering=("stream",),
)
QUARANTINE = LandingTable(
    "_quarantine",
    columns("stream:string reason:string payload:json _batch_id:string _extracted_at:timestamp"),
    partition="_extracted_at",
)

# In the order one run executes them. Audit first: deletion events land before the users stream
# compares Descope's user count with the live users the warehouse holds.
STREAM_SPECS: tuple[StreamSpec, ...] = (
    StreamSpec("audit_events", AUDIT_EVENTS, Cursor.OCCURRED, 0.4, Endpoint("POST", "/v1/mgmt/audit/search")),
    StreamSpec("users", USERS, Cursor.MODIFIED_TIME, 0.45, Endpoint("POST", "/v2/mgmt/user/search")),
    StreamSpec("tenants", TENANTS, Cursor.SNAPSHOT, 0.05, Endpoint("GET", "/v1/mgmt/tenant/all")),
    StreamSpec("ip_locations", IP_LOCATIONS, Cursor.DERIVED, 0.1),
)
INTERNAL_TABLES: tuple[LandingTable, ...] = (SYNC_RUNS, QUARANTINE)

STREAMS: tuple[str, ...] = tuple(spec.name for spec in STREAM_SPECS)
TABLES: dict[str, LandingTable] = {t.name: t for t in (*(s.table for s in STREAM_SPECS), *INTERNAL_TABLES)}
LANDING_TABLES: dict[str, tuple[Column, ...]] = {name: table.columns for name, table in TABLES.items()}


def stream(name: str) -> StreamSpec:
    """The declaration of stream `name` (KeyError for an unknown one)."""
    for spec in STREAM_SPECS:
        if spec.name == name:
            return spec
    raise KeyError(name)


def api_path(name: str) -> str:
    """The path of the Descope endpoint stream `name` reads."""
    api = stream(name).api
    if api is None:
        raise KeyError(f"stream {name} reads no Descope endpoint")
    return api.path


def default_budget_shares() -> dict[str, float]:
    return {spec.name: spec.budget_share for spec in STREAM_SPECS}


if len(TABLES) != len(STREAM_SPECS) + len(INTERNAL_TABLES):
    raise ValueError("two declarations name the same landing table")
if sum(spec.budget_share for spec in STREAM_SPECS) > 1 + 1e-9:
    raise ValueError("the streams' budget shares add up to more than 1")
