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
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from google.api_core.exceptions import Forbidden, GoogleAPIError, NotFound
from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY

from descope_sync.contract import (
    CURSOR_STATUSES,
    LANDING_TABLES,
    Column,
    RunStatus,
    cursor_sql,
)
from descope_sync.errors import ConfigError, SyncError
from descope_sync.landing.base import AuditAnchor, LandingWriter, SyncRun
from descope_sync.landing.live_users import live_users_sql
from descope_sync.secrets import scrub

DEFAULT_BATCH_BYTES = 64 * 1024 * 1024
DEFAULT_BATCH_PAGES = 100
DEFAULT_JOB_TIMEOUT = 600.0  # seconds a load or query job may take before the run gives up on it
_UPLOAD_RETRIES = 6  # the client's default for a load's upload

# Logical column types (contract.Column.type) as BigQuery API schema types and as DDL types.
_FIELD_TYPES = {
    "string": "STRING",
    "timestamp": "TIMESTAMP",
    "json": "JSON",
    "double": "FLOAT",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
}
_DDL_TYPES = {
    "string": "STRING",
    "timestamp": "TIMESTAMP",
    "json": "JSON",
    "double": "FLOAT64",
    "integer": "INT64",
    "boolean": "BOOL",
}
# Day partitions (what incremental dbt models filter on) and clustering keys of each landing table.
_PARTITION_COLUMN = {
    "users": "_extracted_at",
    "audit_events": "_extracted_at",
    "ip_locations": "_looked_up_at",
    "_sync_runs": "started_at",
    "_quarantine": "_extracted_at",
}
_CLUSTERING = {
    "users": ("user_id",),
    "audit_events": ("action", "user_id"),
    "ip_locations": ("ip",),
    "_sync_runs": ("stream",),
    "_quarantine": (),
}
_SYNC_RUN_COLUMNS = tuple(c.name for c in LANDING_TABLES["_sync_runs"])

# BigQuery naming rules (stricter where it costs nothing: table and column names are the contract's).
_PROJECT = re.compile(r"(?:[a-z][a-z0-9.-]{0,61}[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")
_DATASET = re.compile(r"[A-Za-z0-9_]{1,1024}")
_TABLE = re.compile(r"[A-Za-z0-9_]{1,1024}")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,299}")
_LOCATION = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,62}")
# What a call to BigQuery raises when the service, the network or the credentials fail (not a bug here).
_API_ERRORS = (GoogleAPIError, GoogleAuthError, OSError)
_MAX_LISTED_ERRORS = 5
_MAX_ERROR_CHARS = 400


def validate_project(project: str, label: str = "GCP_PROJECT (or GOOGLE_CLOUD_PROJECT)") -> str:
    if not isinstance(project, str) or not _PROJECT.fullmatch(project):
        raise ConfigError(
            f"{label}: {str(project)[:80]!r} is not a Google Cloud project ID "
            "(6-30 lower-case letters, digits and hyphens, starting with a letter)"
        )
    return project


def validate_dataset(dataset: str, label: str = "DESCOPE_RAW_DATASET") -> str:
    if not isinstance(dataset, str) or not _DATASET.fullmatch(dataset):
        raise ConfigError(
            f"{label}: {str(dataset)[:80]!r} is not a BigQuery dataset name "
            "(letters, digits and underscores only, at most 1,024)"
        )
    return dataset


def validate_location(location: str, label: str = "BQ_LOCATION") -> str:
    if not isinstance(location, str) or not _LOCATION.fullmatch(location):
        raise ConfigError(f"{label}: {str(location)[:80]!r} is not a BigQuery location (e.g. US, EU, europe-west1)")
    return location


def _identifier(name: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(name):
        raise ConfigError(f"{name[:80]!r} is not a valid BigQuery {what} name")
    return name


def emulator_endpoint(host: str) -> str:
    """`BIGQUERY_EMULATOR_HOST` as an API endpoint (`host:port` means plain http)."""
    host = host.strip().rstrip("/")
    return host if "://" in host else f"http://{host}"


def make_client(project: str, location: str, api_endpoint: str | None = None) -> bigquery.Client:
    """A BigQuery client: Application Default Credentials, or anonymous ones against an emulator."""
    kwargs: dict[str, Any] = {}
    if api_endpoint:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        kwargs = {"client_options": ClientOptions(api_endpoint=api_endpoint), "credentials": AnonymousCredentials()}
    try:
        return bigquery.Client(project=project, location=location, **kwargs)
    except DefaultCredentialsError:
        raise ConfigError(
            "no Google credentials for BigQuery: on Cloud Functions the function's service account is used; "
            "locally run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS "
            "(against the emulator set BIGQUERY_EMULATOR_HOST)"
        ) from None


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

    # ------------------------------------------------------------------ names
    def table_id(self, table: str) -> str:
        """The table's quoted path for SQL: `project`.`dataset`.`table`."""
        if table not in LANDING_TABLES:
            raise ValueError(f"unknown landing table {table!r}")
        _identifier(table, _TABLE, "table")
        return f"`{self.project}`.`{self.dataset}`.`{table}`"

    def _ref(self, table: str) -> bigquery.TableReference:
        self.table_id(table)  # validates
        return bigquery.DatasetReference(self.project, self.dataset).table(table)

    # ------------------------------------------------------------------ schema
    def ensure_tables(self) -> None:
        # Read first, create only what is missing: an identity that may write a pre-created dataset but not
        # create datasets gets 403 (not 409) from a create, even when the dataset exists.
        dataset_ref = bigquery.DatasetReference(self.project, self.dataset)

        def dataset() -> bigquery.Dataset:
            try:
                return self._client.get_dataset(dataset_ref, timeout=self._timeout(60), **self._retries())
            except NotFound:
                spec = bigquery.Dataset(dataset_ref)
                spec.location = self.location
                return self._client.create_dataset(spec, exists_ok=True, timeout=self._timeout(60), **self._retries())

        existing = self._call(dataset, f"create dataset {self.dataset}")
        if existing.location and existing.location.lower() != self.location.lower():
            raise ConfigError(
                f"dataset {self.project}.{self.dataset} is in {existing.location}, not {self.location}: "
                f"set BQ_LOCATION={existing.location} or choose another DESCOPE_RAW_DATASET"
            )
        for table, columns in LANDING_TABLES.items():
            for col in columns:
                _identifier(col.name, _COLUMN, "column")

            def landing_table(table: str = table, columns: Sequence[Column] = columns) -> bigquery.Table:
                try:
                    return self._client.get_table(self._ref(table), timeout=self._timeout(60), **self._retries())
                except NotFound:
                    spec = self._table_spec(table, columns)
                    return self._client.create_table(spec, exists_ok=True, timeout=self._timeout(60), **self._retries())

            current = self._call(landing_table, f"create table {self.dataset}.{table}")
            have = {field.name.lower() for field in current.schema}
            missing = [col for col in columns if col.name.lower() not in have]
            # Additive evolution only: never drop, retype or rewrite. DDL, not a schema patch (the emulator
            # accepts a patch without applying it to the data); one column a statement (the emulator takes
            # no more; BigQuery's table-update rate limit is retried by the client's job retry).
            for col in missing:
                self._run(
                    f"alter table {self.table_id(table)} add column if not exists `{col.name}` {_DDL_TYPES[col.type]}",
                    [],
                    f"add column {col.name} to {self.dataset}.{table}",
                )

    def _table_spec(self, table: str, columns: Sequence[Column]) -> bigquery.Table:
        spec = bigquery.Table(
            self._ref(table), schema=[bigquery.SchemaField(c.name, _FIELD_TYPES[c.type]) for c in columns]
        )
        spec.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.DAY, field=_PARTITION_COLUMN[table]
        )
        if _CLUSTERING[table]:
            spec.clustering_fields = list(_CLUSTERING[table])
        return spec

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
                    started.append((table, self._start_load(table, buffer)))
                except _API_ERRORS as exc:
                    failures.append(self._load_failure(table, None, exc))
            for table, job in started:
                try:
                    self._await(job)
                except _API_ERRORS as exc:
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
                    job = self._start_load("_sync_runs", checkpoints)
                    self._await(job)
                except _API_ERRORS as exc:
                    raise SyncError(
                        scrub(
                            self._load_failure("_sync_runs", job, exc)
                            + "; the batch's rows landed without their checkpoints: the next run reads them again"
                        )
                    ) from None
        finally:
            for buffer in buffers.values():
                buffer.close()

    def _start_load(self, table: str, buffer: io.BytesIO) -> bigquery.LoadJob:
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
        )
        # No `size=`: a resumable upload (the emulator supports only that), read from the start.
        return self._client.load_table_from_file(
            buffer,
            self._ref(table),
            rewind=True,
            job_id_prefix=f"descope_sync_{table.lstrip('_')}_",
            location=self.location,
            job_config=config,
            **self._upload_plan(),
        )

    def _upload_plan(self) -> dict[str, Any]:
        """A load's upload retries (the client backs off 1, 2, 4 ... s, plus up to 1 s of jitter, between
        attempts) and each attempt's timeout, chosen so that all of them end within the run's deadline."""
        retries = _UPLOAD_RETRIES
        if self.deadline is None:
            return {"num_retries": retries, "timeout": 60.0}
        left = self.deadline.remaining()
        while retries and 2**retries - 1 + retries > left / 2:
            retries -= 1
        backoff = 2**retries - 1 + retries
        return {"num_retries": retries, "timeout": max(0.001, min(60.0, (left - backoff) / (retries + 1)))}

    def _timeout(self, seconds: float) -> float:
        """`seconds`, cut to what is left of the run's deadline: no wait on BigQuery outlasts the budget."""
        return seconds if self.deadline is None else self.deadline.bound(seconds)

    def _retries(self) -> dict[str, Any]:
        """The client's retries of an API call, all ending within the run's deadline (by default they
        go on for 600 s)."""
        if self.deadline is None:
            return {}
        return {"retry": DEFAULT_RETRY.with_timeout(self._timeout(600.0))}

    def _await(self, job: Any) -> None:
        # A job still running when the wait ends is not counted: its batch (with its checkpoints) fails,
        # so no cursor moves past rows that may not have landed; if the job lands them later, the next
        # run reads them again and dbt removes the duplicates.
        job.result(timeout=self._timeout(self.job_timeout), **self._retries())
        if job.error_result:  # result() raises on a failed job; this is belt and braces
            raise GoogleAPIError(str(job.error_result))

    def _load_failure(self, table: str, job: Any, exc: BaseException) -> str:
        job_id = getattr(job, "job_id", None)
        what = f"BigQuery load job {job_id}" if job_id else "BigQuery load"
        return f"{what} into {self.dataset}.{table} failed: {_error_list(job, exc)}"

    # ------------------------------------------------------------------ queries
    def _run(self, sql: str, params: Sequence[Any], what: str, page_size: int | None = None) -> Any:
        config = bigquery.QueryJobConfig(query_parameters=list(params))

        def run() -> Any:
            retries = self._retries()
            inserting = dict(retries)
            if retries:
                # A failed query job is run again, by default for 2,400 s; and with any job_retry the
                # client wraps the job's insertion in a retry of its own that no argument bounds: so
                # none here (`retry` still covers the insertion), and a bounded one for the result.
                inserting["job_retry"] = None
                retries["job_retry"] = DEFAULT_JOB_RETRY.with_timeout(self._timeout(self.job_timeout))
            job = self._client.query(
                sql, job_config=config, location=self.location, timeout=self._timeout(60), **inserting
            )
            return job.result(timeout=self._timeout(self.job_timeout), page_size=page_size, **retries)

        return self._call(run, what)

    def _call(self, call: Any, what: str) -> Any:
        try:
            return call()
        except Forbidden as exc:
            raise SyncError(
                scrub(
                    f"BigQuery refused to {what} in project {self.project} ({_error_list(None, exc)}): "
                    "the identity running descope-sync needs roles/bigquery.dataEditor on the dataset "
                    "and roles/bigquery.jobUser on the project"
                )
            ) from None
        except _API_ERRORS as exc:
            raise SyncError(scrub(f"BigQuery could not {what}: {_error_list(None, exc)}")) from None

    def _query(self, sql: str, params: Sequence[Any], what: str, page_size: int | None = None) -> Any:
        self.flush()  # a stream always reads its own writes
        return self._run(sql, params, what, page_size)

    def latest_cursor(self, stream: str) -> datetime | None:
        rows = self._query(
            cursor_sql(self.table_id("_sync_runs"), "@stream", "unnest(@statuses)"),
            [_string("stream", stream), _strings("statuses", [str(s) for s in CURSOR_STATUSES])],
            "read the latest cursor",
        )
        row = next(iter(rows), None)
        return _naive(row[0]) if row else None

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
        return AuditAnchor(row[0], _naive(row[1])) if row else None

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
        return _chunks((row[0] for row in rows), chunk_size)

    def count(self, table: str) -> int:
        rows = self._query(f"select count(*) as n from {self.table_id(table)}", [], f"count {table}")
        return int(next(iter(rows))[0])

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Read-only helper for summaries and tests (after a flush); `@name` parameters typed from their values."""
        rows = self._query(sql, [_param(name, value) for name, value in (params or {}).items()], "run a query")
        return [tuple(_naive(v) for v in row.values()) for row in rows]

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._client.close()


def _has_final_run_row(lines: Iterable[bytes]) -> bool:
    """Whether a run row is a stream's last word (anything but a `partial` checkpoint)."""
    return any(json.loads(line).get("status") != RunStatus.PARTIAL for line in lines)


def _sync_run(row: Any) -> SyncRun:
    values: dict[str, Any] = {name: _naive(value) for name, value in zip(_SYNC_RUN_COLUMNS, row, strict=True)}
    values["details"] = _details(values["details"])
    values["rows_loaded"] = values["rows_loaded"] or 0
    return SyncRun(**values)


def _string(name: str, value: str | None) -> bigquery.ScalarQueryParameter:
    return bigquery.ScalarQueryParameter(name, "STRING", value)


def _strings(name: str, values: Sequence[str]) -> bigquery.ArrayQueryParameter:
    return bigquery.ArrayQueryParameter(name, "STRING", list(values))


def _param(name: str, value: Any) -> bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter:
    if isinstance(value, list | tuple):
        kinds = {_param("v", v).type_ for v in value} or {"STRING"}
        if len(kinds) != 1:
            raise TypeError(f"query parameter {name!r} mixes types")
        return bigquery.ArrayQueryParameter(name, kinds.pop(), list(value))
    if isinstance(value, bool):
        kind = "BOOL"
    elif isinstance(value, int):
        kind = "INT64"
    elif isinstance(value, float):
        kind = "FLOAT64"
    elif isinstance(value, datetime):
        kind = "TIMESTAMP"
    else:
        kind = "STRING"
    return bigquery.ScalarQueryParameter(name, kind, value)


def _naive(value: Any) -> Any:
    """BigQuery's aware UTC timestamps as the naive UTC datetimes rows cross the interface as."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _details(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _chunks(values: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for value in values:
        chunk.append(value)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _clip(text: str) -> str:
    text = " ".join(str(text).split())  # one line
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def _error_list(job: Any, exc: BaseException) -> str:
    """The job's error list (reason: message), else the exception's; clipped, one line."""
    errors = list(getattr(job, "errors", None) or []) or list(getattr(exc, "errors", None) or [])
    parts = []
    for error in errors[:_MAX_LISTED_ERRORS]:
        if isinstance(error, Mapping):
            reason, message = error.get("reason"), error.get("message")
            parts.append(_clip(f"{reason}: {message}" if reason else str(message)))
        else:
            parts.append(_clip(str(error)))
    if len(errors) > _MAX_LISTED_ERRORS:
        parts.append(f"and {len(errors) - _MAX_LISTED_ERRORS} more")
    if not parts:
        parts.append(_clip(f"{type(exc).__name__}: {exc}"))
    return "; ".join(parts)
