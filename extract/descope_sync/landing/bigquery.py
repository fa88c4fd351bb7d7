"""LandingWriter for BigQuery: newline-delimited JSON load jobs into day-partitioned, clustered tables.

Rows are appended by load jobs (`WRITE_APPEND`), never by streaming inserts: loads are free and their
rows can be merged at once. BigQuery allows 1,500 load jobs per table per day, and a 10M-user sweep
commits about 10,000 pages, so pages are buffered and loaded as one job per table per *batch*:

- A batch is flushed when it holds `batch_bytes` (64 MiB) or `batch_pages` (100 appends), when a run
  row that is not `partial` is appended (a stream's last word: its own load failure fails it, not the
  stream after it), before every state query (a stream always reads its own writes), and on `close()`.
- A flush loads the data tables first (their jobs run side by side) and `_sync_runs` only after every
  one of them succeeded. If a data load fails, the batch's run rows are dropped: a crash or a failed
  load loses at most the unflushed pages *together with* their checkpoints, and the next run resumes
  from the last durable checkpoint (rows already landed come again as duplicates, which dbt removes).
- Load failures are a `SyncError` carrying the job's error list (secret-free, clipped).

Every identifier that reaches SQL (project, dataset, table, column) is validated against BigQuery's
naming rules (`ConfigError` otherwise) and every value is a query parameter. The state queries mirror
`landing/duckdb.py` answer for answer; they are written so BigQuery and the local emulator (DuckDB
underneath) agree too: coalesced where NULL semantics could differ, explicit NULL ordering.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from google.cloud import bigquery

from descope_sync.catalog import LANDING_TABLES
from descope_sync.contract import CURSOR_STATUSES, RunStatus, cursor_sql
from descope_sync.errors import SyncError
from descope_sync.landing.base import AuditAnchor, LandingWriter, SyncRun
from descope_sync.landing.bigquery_jobs import API_ERRORS, BigQueryJobs, make_client
from descope_sync.landing.bigquery_jobs import emulator_endpoint as emulator_endpoint  # the factory's
from descope_sync.landing.bigquery_schema import (
    TABLE_NAME,
    ensure_landing_tables,
    identifier,
    validate_dataset,
    validate_location,
    validate_project,
)
from descope_sync.landing.bigquery_values import (
    chunks,
    details,
    error_list,
    naive,
    query_param,
)
from descope_sync.landing.bigquery_values import string_param as _string
from descope_sync.landing.bigquery_values import strings_param as _strings
from descope_sync.landing.live_users import live_users_sql
from descope_sync.secrets import scrub

DEFAULT_BATCH_BYTES = 64 * 1024 * 1024
DEFAULT_BATCH_PAGES = 100
DEFAULT_JOB_TIMEOUT = 600.0  # seconds a load or query job may take before the run gives up on it

_SYNC_RUN_COLUMNS = tuple(c.name for c in LANDING_TABLES["_sync_runs"])


class BigQueryLandingWriter(LandingWriter):
    def __init__(
        self,
        project: str,
        dataset: str,
        location: str = "US",
        *,
        api_endpoint: str | None = None,
        client: bigquery.Client | None = None,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        batch_pages: int = DEFAULT_BATCH_PAGES,
        job_timeout: float = DEFAULT_JOB_TIMEOUT,
    ) -> None:
        if batch_bytes < 1 or batch_pages < 1:
            raise ValueError("batch_bytes and batch_pages must be at least 1")
        self.project = validate_project(project)
        self.dataset = validate_dataset(dataset)
        self.location = validate_location(location)
        self.batch_bytes = batch_bytes
        self.batch_pages = batch_pages
        self.job_timeout = job_timeout
        self._client = client if client is not None else make_client(self.project, self.location, api_endpoint)
        self._buffers: dict[str, io.BytesIO] = {}
        self._buffered_rows: dict[str, int] = {}
        self._buffered_bytes = 0
        self._buffered_pages = 0
        self._closed = False
        self._jobs = BigQueryJobs(self._client, self.project, self.location, job_timeout, lambda: self.deadline)

    # ------------------------------------------------------------------ names
    def table_id(self, table: str) -> str:
        """The table's quoted path for SQL: `project`.`dataset`.`table`."""
        if table not in LANDING_TABLES:
            raise ValueError(f"unknown landing table {table!r}")
        identifier(table, TABLE_NAME, "table")
        return f"`{self.project}`.`{self.dataset}`.`{table}`"

    def _ref(self, table: str) -> bigquery.TableReference:
        self.table_id(table)  # validates
        return bigquery.DatasetReference(self.project, self.dataset).table(table)

    # ------------------------------------------------------------------ schema
    def ensure_tables(self) -> None:
        ensure_landing_tables(self._jobs, self.dataset, self.table_id)

    # ------------------------------------------------------------------ loading
    def _commit(self, batches: Mapping[str, list[bytes]]) -> None:
        if self._closed:
            raise SyncError("the BigQuery landing writer is closed")
        for table, lines in batches.items():
            if not lines:
                continue
            self.table_id(table)  # validates
            buffer = self._buffers.setdefault(table, io.BytesIO())
            for line in lines:
                buffer.write(line)
                buffer.write(b"\n")
                self._buffered_bytes += len(line) + 1
            self._buffered_rows[table] = self._buffered_rows.get(table, 0) + len(lines)
        self._buffered_pages += 1
        if (
            self._buffered_bytes >= self.batch_bytes
            or self._buffered_pages >= self.batch_pages
            or _has_final_run_row(batches.get("_sync_runs", ()))
        ):
            self.flush()

    def flush(self) -> None:
        """Load what is buffered: one job per data table, then (only if all of them succeeded) `_sync_runs`."""
        if not self._buffers:
            return
        # Taken out first: whatever happens below, a batch is loaded at most once.
        buffers, rows = self._buffers, self._buffered_rows
        self._buffers, self._buffered_rows = {}, {}
        self._buffered_bytes = self._buffered_pages = 0
        data = {table: buffer for table, buffer in buffers.items() if table != "_sync_runs"}
        checkpoints = buffers.get("_sync_runs")
        try:
            failures: list[str] = []
            started: list[tuple[str, bigquery.LoadJob]] = []
            for table, buffer in data.items():  # uploaded one by one; the jobs run side by side
                try:
                    started.append((table, self._jobs.start_load(self._ref(table), buffer)))
                except API_ERRORS as exc:
                    failures.append(self._load_failure(table, None, exc))
            for table, job in started:
                try:
                    self._jobs.wait(job)
                except API_ERRORS as exc:
                    failures.append(self._load_failure(table, job, exc))
            if failures:
                dropped = rows.get("_sync_runs", 0)
                raise SyncError(
                    scrub(
                        "; ".join(failures)
                        + (
                            f"; the {dropped} checkpoint(s) of this batch were not written, "
                            "so the next run resumes from the last durable one"
                            if dropped
                            else ""
                        )
                    )
                )
            if checkpoints is not None:
                job = None
                try:
                    job = self._jobs.start_load(self._ref("_sync_runs"), checkpoints)
                    self._jobs.wait(job)
                except API_ERRORS as exc:
                    raise SyncError(
                        scrub(
                            self._load_failure("_sync_runs", job, exc)
                            + "; the batch's rows landed without their checkpoints: the next run reads them again"
                        )
                    ) from None
        finally:
            for buffer in buffers.values():
                buffer.close()

    def _load_failure(self, table: str, job: Any, exc: BaseException) -> str:
        job_id = getattr(job, "job_id", None)
        what = f"BigQuery load job {job_id}" if job_id else "BigQuery load"
        return f"{what} into {self.dataset}.{table} failed: {error_list(job, exc)}"

    # ------------------------------------------------------------------ queries
    def _query(self, sql: str, params: Sequence[Any], what: str, page_size: int | None = None) -> Any:
        self.flush()  # a stream always reads its own writes
        return self._jobs.query(sql, params, what, page_size)

    def latest_cursor(self, stream: str) -> datetime | None:
        rows = self._query(
            cursor_sql(self.table_id("_sync_runs"), "@stream", "unnest(@statuses)"),
            [_string("stream", stream), _strings("statuses", [str(s) for s in CURSOR_STATUSES])],
            "read the latest cursor",
        )
        row = next(iter(rows), None)
        return naive(row[0]) if row else None

    def runs(
        self,
        stream: str,
        *,
        statuses: Sequence[str] | None = None,
        mode: str | None = None,
        sweep_id: str | None = None,
        in_sweep: bool = False,
        limit: int | None = None,
    ) -> list[SyncRun]:
        where, params = ["stream = @stream"], [_string("stream", stream)]
        if statuses is not None:
            where.append("status in unnest(@statuses)")
            params.append(_strings("statuses", [str(s) for s in statuses]))
        if mode is not None:
            where.append("mode = @mode")
            params.append(_string("mode", str(mode)))
        if sweep_id is not None:
            where.append("sweep_id = @sweep_id")
            params.append(_string("sweep_id", sweep_id))
        if in_sweep:
            where.append("sweep_id is not null")
        columns = ", ".join(f"to_json_string({c}) as {c}" if c == "details" else c for c in _SYNC_RUN_COLUMNS)
        rows = self._query(
            f"select {columns} from {self.table_id('_sync_runs')} where {' and '.join(where)} "
            # Explicit NULL order: DuckDB's default (and BigQuery's for DESC), spelt out for both.
            "order by finished_at desc nulls last, started_at desc nulls last"
            + (f" limit {int(limit)}" if limit is not None else ""),
            params,
            "read the last run" if limit == 1 else "read the runs",
        )
        return [_sync_run(row) for row in rows]

    def live_user_count(self, extracted_since: datetime | None) -> int:
        params = []
        if extracted_since is not None:
            params.append(bigquery.ScalarQueryParameter("since", "TIMESTAMP", extracted_since))
        rows = self._query(
            live_users_sql(
                "bigquery",
                self.table_id("users"),
                self.table_id("audit_events"),
                "@since" if extracted_since is not None else None,
            ),
            params,
            "count the live users",
        )
        return int(next(iter(rows))[0])

    def latest_audit_event(self, at_or_before: datetime, actions: Sequence[str] | None = None) -> AuditAnchor | None:
        where = ["occurred_at <= @at_or_before"]
        params: list[Any] = [bigquery.ScalarQueryParameter("at_or_before", "TIMESTAMP", at_or_before)]
        if actions:
            where.append("action in unnest(@actions)")
            params.append(_strings("actions", list(actions)))
        rows = self._query(
            f"select event_id, occurred_at from {self.table_id('audit_events')} where {' and '.join(where)} "
            "order by occurred_at desc nulls last, event_id desc nulls last limit 1",
            params,
            "read the latest audit event",
        )
        row = next(iter(rows), None)
        return AuditAnchor(row[0], naive(row[1])) if row else None

    def ips_without_location(
        self, database_type: str, database_built_at: datetime, chunk_size: int
    ) -> Iterator[list[str]]:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        rows = self._query(
            f"""
            select distinct a.remote_address
            from {self.table_id("audit_events")} as a
            where a.remote_address is not null
              and not exists (
                select 1 from {self.table_id("ip_locations")} as l
                where l.ip = a.remote_address
                  and l.database_type = @database_type and l.database_built_at = @database_built_at
              )
            """,
            [
                _string("database_type", database_type),
                bigquery.ScalarQueryParameter("database_built_at", "TIMESTAMP", database_built_at),
            ],
            "list the IPs without a location",
            page_size=min(chunk_size, 100_000),
        )
        return chunks((row[0] for row in rows), chunk_size)

    def count(self, table: str) -> int:
        rows = self._query(f"select count(*) as n from {self.table_id(table)}", [], f"count {table}")
        return int(next(iter(rows))[0])

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Read-only helper for summaries and tests (after a flush); `@name` parameters typed from their values."""
        rows = self._query(sql, [query_param(name, value) for name, value in (params or {}).items()], "run a query")
        return [tuple(naive(v) for v in row.values()) for row in rows]

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._client.close()


def _sync_run(row: Any) -> SyncRun:
    values: dict[str, Any] = {name: naive(value) for name, value in zip(_SYNC_RUN_COLUMNS, row, strict=True)}
    values["details"] = details(values["details"])
    values["rows_loaded"] = values["rows_loaded"] or 0
    return SyncRun(**values)


def _has_final_run_row(lines: Iterable[bytes]) -> bool:
    """Whether a run row is a stream's last word (anything but a `partial` checkpoint)."""
    return any(json.loads(line).get("status") != RunStatus.PARTIAL for line in lines)
