"""What the BigQuery tests share: a dataset of their own, writers and clients on the emulator, landed data."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from tests.bigquery.emulator import BigQueryEmulator


def dataset_for(request: Any, suffix: str = "") -> str:
    """A dataset name no other test uses (tests share one emulator)."""
    stem = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:60]
    return f"{stem}{suffix}_{uuid.uuid4().hex[:8]}"


def bq_writer(emulator: BigQueryEmulator, dataset: str, **kwargs: Any):
    from descope_sync.landing.bigquery import BigQueryLandingWriter

    kwargs.setdefault("api_endpoint", emulator.endpoint)
    return BigQueryLandingWriter(emulator.project, dataset, **kwargs)


def bq_query(emulator: BigQueryEmulator, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """A query through a client of its own (not the writer's: no flush)."""
    from google.cloud import bigquery

    from descope_sync.landing.bigquery_values import query_param

    client = emulator.client()
    try:
        config = bigquery.QueryJobConfig(query_parameters=[query_param(k, v) for k, v in params.items()])
        return [tuple(row.values()) for row in client.query(sql, job_config=config).result()]
    finally:
        client.close()


def table(emulator: BigQueryEmulator, dataset: str, name: str) -> str:
    return f"`{emulator.project}`.`{dataset}`.`{name}`"


def bq_count(emulator: BigQueryEmulator, dataset: str, name: str) -> int:
    return bq_query(emulator, f"select count(*) from {table(emulator, dataset, name)}")[0][0]


def load_jobs(emulator: BigQueryEmulator, dataset: str) -> dict[str, int]:
    """Load jobs the emulator ran into `dataset`, by destination table."""
    client = emulator.client()
    try:
        counts: dict[str, int] = {}
        for job in client.list_jobs(all_users=True):
            destination = getattr(job, "destination", None)
            if job.job_type == "load" and destination is not None and destination.dataset_id == dataset:
                counts[destination.table_id] = counts.get(destination.table_id, 0) + 1
        return counts
    finally:
        client.close()


def latest_landed_users(emulator: BigQueryEmulator, dataset: str) -> dict[str, dict[str, Any]]:
    """The newest landed version of each user, by modifiedTime then extraction order (what dbt keeps)."""
    rows = bq_query(
        emulator,
        f"""
        select user_id, to_json_string(payload) from (
            select user_id, payload, row_number() over (
                partition by user_id order by modified_at desc nulls last, _extracted_at desc
            ) as rn
            from {table(emulator, dataset, "users")}
        ) where rn = 1
        """,
    )
    return {user_id: json.loads(payload) for user_id, payload in rows}


def landed_event_ids(emulator: BigQueryEmulator, dataset: str) -> set[str]:
    return {
        r[0] for r in bq_query(emulator, f"select distinct event_id from {table(emulator, dataset, 'audit_events')}")
    }
