"""The BigQuery landing writer on the emulator: batched load jobs, checkpoints after their rows, state queries
that read the writer's own writes, clear errors, validated identifiers, and the client it builds."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import pytest
from google.api_core.exceptions import BadRequest, Forbidden
from google.cloud import bigquery

from descope_sync.catalog import TABLES
from descope_sync.config import load_settings
from descope_sync.contract import RunStatus
from descope_sync.errors import ConfigError, SyncError
from descope_sync.landing.base import SyncRun
from descope_sync.landing.bigquery import BigQueryLandingWriter
from descope_sync.landing.factory import open_writer
from descope_sync.secrets import register_secret
from tests.bigquery.helpers import bq_count, bq_query, bq_writer, dataset_for, load_jobs, table

T0 = datetime(2026, 11, 1, 12, 0, 0)


def users_page(page: int, size: int = 10, pad: int = 0) -> list[dict]:
    return [
        {
            "user_id": f"U{page}-{i}",
            "modified_at": T0 + timedelta(seconds=page),
            "payload": {"userId": f"U{page}-{i}", "pad": "p" * pad},
            "_batch_id": "b1",
            "_extracted_at": T0,
        }
        for i in range(size)
    ]


def checkpoint(page: int, status: RunStatus = RunStatus.PARTIAL, **fields) -> SyncRun:
    at = T0 + timedelta(seconds=page)
    return SyncRun(run_id="r1", stream="users", status=status, started_at=T0, finished_at=at, cursor_to=at, **fields)


class Spy:
    """The writer's client, recording when each load job starts and when its result is known."""

    def __init__(self, client: bigquery.Client) -> None:
        self._client = client
        self.events: list[tuple[str, str]] = []

    def __getattr__(self, name):
        return getattr(self._client, name)

    def load_table_from_file(self, file_obj, destination, **kwargs):
        self.events.append(("start", destination.table_id))
        return _SpyJob(self._client.load_table_from_file(file_obj, destination, **kwargs), destination.table_id, self)

    def loads(self) -> list[str]:
        return [t for event, t in self.events if event == "start"]


class _SpyJob:
    def __init__(self, job, table_id: str, spy: Spy) -> None:
        self._job, self._table, self._spy = job, table_id, spy

    def __getattr__(self, name):
        return getattr(self._job, name)

    def result(self, *args, **kwargs):
        out = self._job.result(*args, **kwargs)
        self._spy.events.append(("done", self._table))
        return out


@pytest.fixture
def dataset(request):
    return dataset_for(request)


@pytest.fixture
def spy(bq_emulator):
    return Spy(bq_emulator.client())


def writer_on(bq_emulator, dataset, spy=None, **kwargs) -> BigQueryLandingWriter:
    writer = bq_writer(bq_emulator, dataset, client=spy, **kwargs)
    writer.ensure_tables()
    return writer


def test_pages_are_loaded_in_batches_far_fewer_jobs_than_pages(bq_emulator, dataset, spy):
    writer = writer_on(bq_emulator, dataset, spy, batch_pages=20)
    for page in range(50):
        writer.append("users", users_page(page), run=checkpoint(page))
    assert load_jobs(bq_emulator, dataset) == {"users": 2, "_sync_runs": 2}  # after pages 20 and 40
    writer.close()
    # One job per table per batch (20 + 20 + the 10 close() flushed), not one per page (100 jobs).
    assert load_jobs(bq_emulator, dataset) == {"users": 3, "_sync_runs": 3}
    assert spy.loads() == ["users", "_sync_runs"] * 3
    assert bq_count(bq_emulator, dataset, "users") == 500
    assert bq_count(bq_emulator, dataset, "_sync_runs") == 50
    with writer_on(bq_emulator, dataset) as reader:
        assert reader.latest_cursor("users") == T0 + timedelta(seconds=49)


def test_a_batch_is_also_bounded_by_its_bytes(bq_emulator, dataset, spy):
    writer = writer_on(bq_emulator, dataset, spy, batch_bytes=100_000, batch_pages=1_000)
    for page in range(10):  # ~40 kB a page: a batch is full after its third page
        writer.append("users", users_page(page, size=10, pad=4_000), run=checkpoint(page))
    assert spy.loads() == ["users", "_sync_runs"] * 3
    writer.close()
    assert bq_count(bq_emulator, dataset, "users") == 100


def test_a_checkpoint_is_loaded_only_after_its_rows_and_never_visible_before_them(bq_emulator, dataset, spy):
    writer = writer_on(bq_emulator, dataset, spy)
    writer.append("_quarantine", [{"stream": "users", "reason": "no userId", "payload": {}, "_extracted_at": T0}])
    writer.append("users", users_page(1), run=checkpoint(1))
    # Buffered: another reader sees neither the rows nor the checkpoint.
    assert bq_count(bq_emulator, dataset, "users") == 0 and bq_count(bq_emulator, dataset, "_sync_runs") == 0
    assert writer.latest_cursor("users") == T0 + timedelta(seconds=1)
    runs_started = spy.events.index(("start", "_sync_runs"))
    data_done = [spy.events.index(("done", t)) for t in ("users", "_quarantine")]
    assert all(done < runs_started for done in data_done), spy.events
    assert bq_count(bq_emulator, dataset, "users") == 10 and bq_count(bq_emulator, dataset, "_quarantine") == 1
    writer.close()


def test_a_stream_reads_its_own_writes_every_state_query_flushes_first(bq_emulator, dataset):
    writer = writer_on(bq_emulator, dataset)

    def event(event_id: str, action: str, ip: str) -> dict:
        return {
            "event_id": event_id,
            "action": action,
            "user_id": "U1-0",
            "occurred_at": T0,
            "remote_address": ip,
            "payload": {"ID": event_id},
            "_batch_id": "b1",
            "_extracted_at": T0,
        }

    writer.append("users", users_page(1), run=checkpoint(1))
    assert writer.latest_cursor("users") == T0 + timedelta(seconds=1)
    writer.append("users", users_page(2), run=checkpoint(2, sweep_id="s1", mode="full", details={"phase": "windows"}))
    last = writer.last_run("users", in_sweep=True)
    assert last is not None and last.sweep_id == "s1" and last.details == {"phase": "windows"}
    writer.append("users", users_page(3))
    assert writer.live_user_count(None) == 30
    writer.append("audit_events", [event("E1", "UserDeleted", "10.0.0.1")])
    assert writer.live_user_count(None) == 29
    anchor = writer.latest_audit_event(T0)
    assert anchor is not None and anchor.event_id == "E1"
    assert list(writer.ips_without_location("GeoLite2-City", T0, 10)) == [["10.0.0.1"]]
    writer.append("ip_locations", [{"ip": "10.0.0.1", "database_type": "GeoLite2-City", "database_built_at": T0}])
    assert list(writer.ips_without_location("GeoLite2-City", T0, 10)) == []
    writer.append("users", users_page(4))
    assert writer.count("users") == 40
    writer.close()


def test_a_streams_final_run_row_is_loaded_at_once(bq_emulator, dataset):
    writer = writer_on(bq_emulator, dataset)
    writer.append("users", users_page(1), run=checkpoint(1))
    assert bq_count(bq_emulator, dataset, "_sync_runs") == 0  # a partial checkpoint waits for its batch
    writer.append("users", users_page(2), run=checkpoint(2, status=RunStatus.SUCCESS))
    assert bq_count(bq_emulator, dataset, "_sync_runs") == 2 and bq_count(bq_emulator, dataset, "users") == 20
    writer.record_run(checkpoint(3, status=RunStatus.FAILED))
    assert bq_count(bq_emulator, dataset, "_sync_runs") == 3
    writer.close()


def test_a_crash_loses_only_unflushed_pages_together_with_their_checkpoints(bq_emulator, dataset):
    crashed = writer_on(bq_emulator, dataset, batch_pages=3)
    for page in range(5):
        crashed.append("users", users_page(page), run=checkpoint(page))
    del crashed  # killed: never closed, pages 3 and 4 were never loaded
    with writer_on(bq_emulator, dataset) as resumed:
        cursor = resumed.latest_cursor("users")
        assert cursor == T0 + timedelta(seconds=2)
        landed = {r[0] for r in resumed.query(f"select distinct user_id from {resumed.table_id('users')}")}
        covered = {row["user_id"] for page in range(3) for row in users_page(page)}
        assert landed == covered  # everything the durable cursor covers, nothing it does not claim


def test_a_failed_load_is_one_clear_error_with_the_jobs_errors_and_drops_the_batchs_checkpoints(
    bq_emulator, dataset, spy
):
    writer = writer_on(bq_emulator, dataset, spy)
    bad = {**users_page(1, size=1)[0], "_extracted_at": "not a time"}
    writer.append("users", [*users_page(2), bad], run=checkpoint(2))
    with pytest.raises(SyncError) as caught:
        writer.latest_cursor("users")
    message = str(caught.value)
    assert f"into {dataset}.users failed" in message and "load job" in message
    assert "not a time" in message  # the job's own error list, not a bare status code
    assert "checkpoint(s) of this batch were not written" in message and "\n" not in message
    assert "_sync_runs" not in spy.loads()
    assert writer.latest_cursor("users") is None and writer.count("_sync_runs") == 0
    # The writer goes on: the next batch loads.
    writer.append("users", users_page(3), run=checkpoint(3))
    assert writer.latest_cursor("users") == T0 + timedelta(seconds=3)
    writer.close()


class FailingLoads(Spy):
    """The emulator's client, but every load of `table` fails as BigQuery reports it: the job ends with
    `job_errors` and raises an exception carrying `exc_errors`, or (`at_start`) the upload itself fails."""

    def __init__(self, client, table: str, job_errors=(), exc_errors=(), at_start: bool = False) -> None:
        super().__init__(client)
        self._failing, self._job_errors, self._exc_errors, self._at_start = table, job_errors, exc_errors, at_start
        self.failed_job_ids: list[str] = []

    def load_table_from_file(self, file_obj, destination, **kwargs):
        if destination.table_id == self._failing and self._at_start:
            raise Forbidden("the upload was refused", errors=list(self._exc_errors))
        job = super().load_table_from_file(file_obj, destination, **kwargs)
        if destination.table_id != self._failing:
            return job
        self.failed_job_ids.append(job.job_id)
        return _FailedJob(job, list(self._job_errors), list(self._exc_errors))


class _FailedJob:
    def __init__(self, job, job_errors: list, exc_errors: list) -> None:
        self._job, self.errors, self._exc_errors = job, job_errors, exc_errors

    def __getattr__(self, name):
        return getattr(self._job, name)

    def result(self, *args, **kwargs):
        self._job.result(*args, **kwargs)
        raise BadRequest("the load job failed", errors=self._exc_errors)


def test_a_failed_loads_error_lists_the_first_five_job_errors_one_line_each_clipped(bq_emulator, dataset):
    long = "a line\nthat wraps " + "x" * 500
    errors = [
        {"reason": "invalid", "message": long},
        {"message": "no reason given"},
        "a bare string error",
        {"reason": "invalid", "message": "y" * 391},  # 400 characters in all: not clipped
        {"reason": "", "message": "an empty reason"},
        {"reason": "invalid", "message": "sixth"},
        {"reason": "invalid", "message": "seventh"},
    ]
    client = FailingLoads(bq_emulator.client(), "users", errors, exc_errors=[{"message": "the exception's own"}])
    writer = writer_on(bq_emulator, dataset, client)
    writer.append("users", users_page(1), run=checkpoint(1))
    writer.append("users", users_page(2), run=checkpoint(2))
    with pytest.raises(SyncError) as caught:
        writer.flush()
    head, _, listed = str(caught.value).partition(f" into {dataset}.users failed: ")
    assert head == f"BigQuery load job {client.failed_job_ids[0]}"
    clipped = ("invalid: a line that wraps " + "x" * 500)[:397] + "..."
    assert listed == (
        f"{clipped}; no reason given; a bare string error; invalid: {'y' * 391}; an empty reason; and 2 more; "
        "the 2 checkpoint(s) of this batch were not written, so the next run resumes from the last durable one"
    )
    assert writer.latest_cursor("users") is None
    writer.close()


def test_a_failed_load_whose_job_lists_no_errors_lists_the_exceptions(bq_emulator, dataset):
    five = [{"reason": "invalid", "message": f"error {n}"} for n in range(5)]
    writer = writer_on(bq_emulator, dataset, FailingLoads(bq_emulator.client(), "users", [], exc_errors=five))
    writer.append("users", users_page(1))
    with pytest.raises(SyncError) as caught:
        writer.flush()
    listed = "; ".join(f"invalid: error {n}" for n in range(5))  # five: all listed, no "and 0 more"
    assert str(caught.value).endswith(f"into {dataset}.users failed: {listed}")


def test_a_failed_load_without_any_error_list_names_the_exception(bq_emulator, dataset):
    writer = writer_on(bq_emulator, dataset, FailingLoads(bq_emulator.client(), "users"))
    writer.append("users", users_page(1))
    with pytest.raises(SyncError) as caught:
        writer.flush()
    assert str(caught.value).endswith(f"into {dataset}.users failed: BadRequest: 400 the load job failed")


def test_an_upload_refused_before_any_job_started_says_so(bq_emulator, dataset):
    client = FailingLoads(bq_emulator.client(), "users", at_start=True)
    writer = writer_on(bq_emulator, dataset, client)
    writer.append("users", users_page(1), run=checkpoint(1))
    with pytest.raises(SyncError) as caught:
        writer.flush()
    assert str(caught.value).startswith(
        f"BigQuery load into {dataset}.users failed: Forbidden: 403 the upload was refused; the 1 checkpoint(s)"
    )
    assert client.failed_job_ids == [] and writer.latest_cursor("users") is None


def test_the_query_helper_types_each_parameter_from_its_value(bq_emulator, dataset):
    writer = writer_on(bq_emulator, dataset)
    params = {"b": True, "i": 41, "f": 1.25, "t": T0, "s": "x", "names": ["a", "b"], "ids": [1, 2, 3], "none": []}
    sql = (
        "select not @b, @i + 1, @f * 2, timestamp_add(@t, interval 1 second), concat(@s, 'y'), "
        "array_to_string(@names, '+'), (select sum(v) from unnest(@ids) v), array_length(@none)"
    )
    assert writer.query(sql, params) == [(False, 42, 2.5, T0 + timedelta(seconds=1), "xy", "a+b", 6, 0)]
    with pytest.raises(TypeError, match="query parameter 'mixed' mixes types"):
        writer.query("select @mixed", {"mixed": ["a", 1]})
    writer.close()


def test_a_failed_checkpoint_load_leaves_the_rows_and_moves_no_cursor(bq_emulator, dataset):
    writer = writer_on(bq_emulator, dataset)
    broken = checkpoint(1)
    broken.started_at = "not a time"  # the load of _sync_runs fails, after the rows landed
    writer.append("users", users_page(1), run=broken)
    with pytest.raises(SyncError, match="rows landed without their checkpoints"):
        writer.flush()
    assert writer.latest_cursor("users") is None and writer.count("users") == 10
    writer.close()


def test_load_errors_never_carry_a_secret(bq_emulator, dataset):
    secret = "K2-bq-writer-secret-0123456789"
    register_secret(secret)
    writer = writer_on(bq_emulator, dataset)
    writer.append("users", [{**users_page(1, size=1)[0], "_extracted_at": secret}])
    with pytest.raises(SyncError) as caught:
        writer.close()
    assert "failed" in str(caught.value) and secret not in str(caught.value)


def test_ensure_tables_adds_missing_columns_and_keeps_every_row(bq_emulator, dataset):
    client = bq_emulator.client()
    client.create_dataset(dataset)
    old = bigquery.Table(
        f"{bq_emulator.project}.{dataset}._sync_runs",
        schema=[
            bigquery.SchemaField("run_id", "STRING"),
            bigquery.SchemaField("stream", "STRING"),
            bigquery.SchemaField("status", "STRING"),
            bigquery.SchemaField("started_at", "TIMESTAMP"),
            bigquery.SchemaField("finished_at", "TIMESTAMP"),
            bigquery.SchemaField("cursor_to", "TIMESTAMP"),
        ],
    )
    client.create_table(old)
    bq_query(
        bq_emulator,
        f"insert into {table(bq_emulator, dataset, '_sync_runs')} (run_id, stream, status, started_at, finished_at, "
        "cursor_to) values ('old', 'users', 'success', @t, @t, @t)",
        t=T0,
    )
    with writer_on(bq_emulator, dataset) as writer:
        writer.ensure_tables()  # twice: idempotent
        old_run = writer.last_run("users")
        assert old_run is not None and old_run.run_id == "old" and old_run.details == {} and old_run.mode is None
        writer.record_run(checkpoint(5, status=RunStatus.SUCCESS, sweep_id="s", details={"reconciled": True}))
        new_run = writer.last_run("users", in_sweep=True)
        assert new_run is not None and new_run.details == {"reconciled": True}
        assert writer.count("_sync_runs") == 2 and writer.latest_cursor("users") == T0 + timedelta(seconds=5)


def test_tables_are_created_day_partitioned_and_clustered_with_json_payloads(bq_emulator, dataset):
    # The emulator's table metadata does not report partitioning, clustering or JSON: check what is asked for.
    created: list[bigquery.Table] = []
    spy = Spy(bq_emulator.client())
    spy.create_table = lambda spec, **kw: created.append(spec) or bq_emulator.client().create_table(spec, **kw)
    writer_on(bq_emulator, dataset, spy).close()
    specs = {t.table_id: t for t in created}
    expected = {
        "users": ("_extracted_at", ["user_id"]),
        "audit_events": ("_extracted_at", ["action", "user_id"]),
        "ip_locations": ("_looked_up_at", ["ip"]),
        "_sync_runs": ("started_at", ["stream"]),
        "_quarantine": ("_extracted_at", None),
    }
    for name, (partition, clustering) in expected.items():
        spec = specs[name]
        assert spec.time_partitioning.type_ == "DAY" and spec.time_partitioning.field == partition, name
        assert spec.clustering_fields == clustering, name
    types = {(t, f.name): f.field_type for t, spec in specs.items() for f in spec.schema}
    assert types["users", "payload"] == types["_sync_runs", "details"] == types["_quarantine", "payload"] == "JSON"
    assert types["ip_locations", "accuracy_radius_km"] == "INTEGER" and types["users", "_extracted_at"] == "TIMESTAMP"


def test_an_identity_that_may_write_but_not_create_datasets_opens_a_prepared_dataset(bq_emulator, dataset):
    from google.api_core.exceptions import Forbidden

    writer_on(bq_emulator, dataset).close()  # prepared (by Terraform, say)
    spy = Spy(bq_emulator.client())

    def forbidden(*_args, **_kwargs):
        raise Forbidden("Access Denied: Project test-project: User does not have bigquery.datasets.create permission")

    spy.create_dataset = spy.create_table = forbidden
    with writer_on(bq_emulator, dataset, spy) as writer:
        writer.record_run(checkpoint(1, status=RunStatus.SUCCESS))
        assert writer.latest_cursor("users") == T0 + timedelta(seconds=1)
    # Where the dataset is missing, the refusal says which roles are needed, in one line.
    with pytest.raises(SyncError, match=r"roles/bigquery\.dataEditor.*roles/bigquery\.jobUser") as caught:
        writer_on(bq_emulator, dataset + "_missing", spy)
    assert "\n" not in str(caught.value)


def test_the_dataset_is_created_in_the_configured_location_and_a_mismatch_is_a_config_error(bq_emulator, dataset):
    with writer_on(bq_emulator, dataset, location="EU"):
        pass
    assert bq_emulator.client().get_dataset(dataset).location == "EU"
    with pytest.raises(ConfigError, match="BQ_LOCATION=EU"), writer_on(bq_emulator, dataset, location="US"):
        pass


@pytest.mark.parametrize(
    ("project", "dataset", "location", "named"),
    [
        ("test-project", "descope-raw", "US", "DESCOPE_RAW_DATASET"),
        ("test-project", "raw`; drop table x; --", "US", "DESCOPE_RAW_DATASET"),
        ("test-project", "a.b", "US", "DESCOPE_RAW_DATASET"),
        ("Test_Project", "descope_raw", "US", "GCP_PROJECT"),
        ("proj`.`x", "descope_raw", "US", "GCP_PROJECT"),
        ("test-project", "descope_raw", "US'; x", "BQ_LOCATION"),
    ],
)
def test_every_identifier_is_validated_before_any_client_is_built(project, dataset, location, named):
    with pytest.raises(ConfigError, match=named):
        BigQueryLandingWriter(project, dataset, location, client=None, api_endpoint="http://127.0.0.1:9")


def test_an_invalid_name_is_quoted_short_in_a_message_naming_its_variable():
    long_dataset = "d-" + "x" * 200
    with pytest.raises(ConfigError) as caught:
        BigQueryLandingWriter("test-project", long_dataset, "US", client=None, api_endpoint="http://127.0.0.1:9")
    assert str(caught.value) == (
        f"DESCOPE_RAW_DATASET: {long_dataset[:80]!r} is not a BigQuery dataset name "
        "(letters, digits and underscores only, at most 1,024)"
    )
    long_location = "U S" + "x" * 200
    with pytest.raises(ConfigError) as caught:
        BigQueryLandingWriter("test-project", "raw", long_location, client=None, api_endpoint="http://127.0.0.1:9")
    assert str(caught.value) == (
        f"BQ_LOCATION: {long_location[:80]!r} is not a BigQuery location (e.g. US, EU, europe-west1)"
    )
    long_project = "Project_" + "x" * 200  # through the factory: the message names both variables it reads
    with pytest.raises(ConfigError) as caught:
        open_writer(_settings(bigquery_project=long_project), env={})
    assert str(caught.value) == (
        f"GCP_PROJECT (or GOOGLE_CLOUD_PROJECT): {long_project[:80]!r} is not a Google Cloud project ID "
        "(6-30 lower-case letters, digits and hyphens, starting with a letter)"
    )


def _settings(**overrides):
    values = {"project_id": "P123", "management_key": "K-test-key", "warehouse": "bigquery", **overrides}
    return load_settings(values, env={})


def test_the_factory_opens_the_writer_on_the_emulator_with_anonymous_credentials(bq_emulator, dataset):
    from google.auth.credentials import AnonymousCredentials

    settings = _settings(bigquery_project=bq_emulator.project, raw_schema=dataset)
    writer = open_writer(settings, env={"BIGQUERY_EMULATOR_HOST": bq_emulator.endpoint.removeprefix("http://")})
    try:
        assert isinstance(writer, BigQueryLandingWriter)
        assert (writer.project, writer.dataset, writer.location) == (bq_emulator.project, dataset, "US")
        assert isinstance(writer._client._credentials, AnonymousCredentials)
        writer.ensure_tables()  # really talks to the emulator
        assert writer.count("users") == 0
    finally:
        writer.close()


def test_the_factory_reads_the_process_environment_when_given_none(monkeypatch):
    """What a Cloud Function and the CLI do: the batch bounds and the emulator come from os.environ."""
    monkeypatch.setenv("DESCOPE_BQ_BATCH_PAGES", "3")
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", "h:1")
    writer = open_writer(_settings(bigquery_project="test-project"))
    assert writer.batch_pages == 3


def test_the_factory_needs_a_project_and_sane_batch_bounds():
    with pytest.raises(ConfigError, match="GCP_PROJECT"):
        open_writer(_settings(), env={})
    with pytest.raises(ConfigError, match="DESCOPE_BQ_BATCH_PAGES"):
        open_writer(_settings(bigquery_project="test-project"), env={"DESCOPE_BQ_BATCH_PAGES": "0"})
    with pytest.raises(ConfigError, match="DESCOPE_BQ_BATCH_BYTES"):
        open_writer(_settings(bigquery_project="test-project"), env={"DESCOPE_BQ_BATCH_BYTES": "64MB"})


@pytest.mark.parametrize("form", ["{endpoint}/", " {endpoint}// ", "{hostport}/"])
def test_the_emulator_host_may_carry_a_scheme_and_a_trailing_slash(bq_emulator, dataset, form):
    host = form.format(endpoint=bq_emulator.endpoint, hostport=bq_emulator.endpoint.removeprefix("http://"))
    settings = _settings(bigquery_project=bq_emulator.project, raw_schema=dataset)
    writer = open_writer(settings, env={"BIGQUERY_EMULATOR_HOST": host})
    try:
        writer.ensure_tables()  # really talks to the emulator
        assert writer.count("users") == 0
    finally:
        writer.close()


def test_batch_bounds_from_the_environment_reach_the_writer_and_a_bad_one_is_quoted_short():
    env = {"DESCOPE_BQ_BATCH_PAGES": "1", "DESCOPE_BQ_BATCH_BYTES": " 4096 "}
    writer = open_writer(_settings(bigquery_project="test-project"), env={**env, "BIGQUERY_EMULATOR_HOST": "h:1"})
    assert (writer.batch_pages, writer.batch_bytes) == (1, 4096)
    bad = "9" * 40 + "MB"
    with pytest.raises(ConfigError) as caught:
        open_writer(_settings(bigquery_project="test-project"), env={"DESCOPE_BQ_BATCH_PAGES": bad})
    assert str(caught.value) == f"DESCOPE_BQ_BATCH_PAGES must be a whole number >= 1, not {'9' * 40!r}"


def test_without_the_emulator_and_without_google_credentials_the_error_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    with pytest.raises(ConfigError) as caught:
        open_writer(_settings(bigquery_project="test-project"), env={})
    assert str(caught.value) == (
        "no Google credentials for BigQuery: on Cloud Functions the function's service account is used; "
        "locally run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS "
        "(against the emulator set BIGQUERY_EMULATOR_HOST)"
    )


def test_importing_the_writer_builds_no_client():
    code = (
        "import google.cloud.bigquery as bq\n"
        "def boom(*a, **k): raise SystemExit('a client was built at import time')\n"
        "bq.Client = boom\n"
        "import descope_sync.landing.bigquery, descope_sync.landing.factory, descope_sync.pipeline\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_chunk_size_below_one_is_refused(bq_emulator, dataset):
    writer = writer_on(bq_emulator, dataset)
    with pytest.raises(ValueError, match=r"^chunk_size must be at least 1$"):
        writer.ips_without_location("GeoLite2-City", T0, chunk_size=0)
    writer.close()


class RefusedQueries(Spy):
    """The emulator's client, but BigQuery refuses every query (an identity without bigquery.jobs.create)."""

    def __init__(self, client, error) -> None:
        super().__init__(client)
        self._error = error

    def query(self, *args, **kwargs):
        raise self._error


@pytest.mark.parametrize(
    ("method", "args", "what"),
    [
        ("latest_cursor", ["users"], "read the latest cursor"),
        ("last_run", ["users"], "read the last run"),
        ("live_user_count", [None], "count the live users"),
        ("latest_audit_event", [T0], "read the latest audit event"),
        ("ips_without_location", ["GeoLite2-City", T0, 10], "list the IPs without a location"),
        ("count", ["users"], "count users"),
        ("query", ["select 1"], "run a query"),
    ],
)
def test_a_refused_state_query_says_which_question_and_what_roles_are_missing(bq_emulator, dataset, method, args, what):
    refused = Forbidden("Access Denied", errors=[{"reason": "accessDenied", "message": "no bigquery.jobs.create"}])
    writer = writer_on(bq_emulator, dataset, RefusedQueries(bq_emulator.client(), refused))
    with pytest.raises(SyncError) as caught:
        getattr(writer, method)(*args)
    assert str(caught.value) == (
        f"BigQuery refused to {what} in project {bq_emulator.project} (accessDenied: no bigquery.jobs.create): "
        "the identity running descope-sync needs roles/bigquery.dataEditor on the dataset "
        "and roles/bigquery.jobUser on the project"
    )


def test_a_failed_state_query_says_which_question(bq_emulator, dataset):
    writer = writer_on(bq_emulator, dataset, RefusedQueries(bq_emulator.client(), BadRequest("Syntax error")))
    with pytest.raises(SyncError) as caught:
        writer.latest_cursor("users")
    assert str(caught.value) == "BigQuery could not read the latest cursor: BadRequest: 400 Syntax error"


def test_a_closed_writer_refuses_to_append(bq_emulator, dataset):
    writer = writer_on(bq_emulator, dataset)
    writer.close()
    with pytest.raises(SyncError) as caught:
        writer.append("users", users_page(1))
    assert str(caught.value) == "the BigQuery landing writer is closed"


class RefusedCreates(Spy):
    """The emulator's client for an identity that may not create datasets or tables."""

    def create_dataset(self, *args, **kwargs):
        raise Forbidden("Access Denied: bigquery.datasets.create")

    def create_table(self, *args, **kwargs):
        raise Forbidden("Access Denied: bigquery.tables.create")


def test_a_refused_dataset_or_table_creation_names_what_could_not_be_created(bq_emulator, dataset):
    roles = "the identity running descope-sync needs roles/bigquery.dataEditor on the dataset"
    writer = bq_writer(bq_emulator, dataset, client=RefusedCreates(bq_emulator.client()))
    with pytest.raises(SyncError) as caught:
        writer.ensure_tables()
    assert str(caught.value).startswith(
        f"BigQuery refused to create dataset {dataset} in project {bq_emulator.project} "
        f"(Forbidden: 403 Access Denied: bigquery.datasets.create): {roles}"
    )
    bq_emulator.client().create_dataset(dataset)  # prepared by an administrator, without its tables
    with pytest.raises(SyncError) as caught:
        writer.ensure_tables()
    first = next(iter(TABLES))  # tables are created in the catalog's order
    assert str(caught.value).startswith(
        f"BigQuery refused to create table {dataset}.{first} in project {bq_emulator.project} "
        f"(Forbidden: 403 Access Denied: bigquery.tables.create): {roles}"
    )


# ---------------------------------------------------------------------------- edges (mutation survivors)
def test_a_batch_of_exactly_batch_bytes_newlines_counted_is_loaded_at_once(bq_emulator, dataset):
    from descope_sync.landing.base import LANDING_TABLES, encode_row

    page = users_page(1)
    exact = sum(len(encode_row(row, LANDING_TABLES["users"])) + 1 for row in page)  # NDJSON: a newline a row
    at_the_bound = Spy(bq_emulator.client())
    writer = writer_on(bq_emulator, dataset, at_the_bound, batch_bytes=exact, batch_pages=1_000)
    writer.append("users", page)
    assert at_the_bound.loads() == ["users"]  # full: loaded at once
    writer.close()
    one_byte_short = Spy(bq_emulator.client())
    writer = writer_on(bq_emulator, dataset, one_byte_short, batch_bytes=exact + 1, batch_pages=1_000)
    writer.append("users", users_page(2))
    assert one_byte_short.loads() == []  # one byte below the bound: still buffered
    writer.append("users", users_page(3))
    assert one_byte_short.loads() == ["users"]
    writer.close()
    assert bq_count(bq_emulator, dataset, "users") == 30


class BrokenUploads(Spy):
    """The emulator's client whose uploads of `tables` die on the wire (no error list anywhere)."""

    def __init__(self, client, *tables: str) -> None:
        super().__init__(client)
        self._failing = tables

    def load_table_from_file(self, file_obj, destination, **kwargs):
        if destination.table_id in self._failing:
            raise ConnectionResetError(104, "Connection reset by peer")
        return super().load_table_from_file(file_obj, destination, **kwargs)


def test_an_upload_that_dies_on_the_wire_is_one_clear_error(bq_emulator, dataset):
    writer = writer_on(bq_emulator, dataset, BrokenUploads(bq_emulator.client(), "users"))
    writer.append("users", users_page(1), run=checkpoint(1))
    with pytest.raises(SyncError) as caught:
        writer.flush()
    assert str(caught.value) == (
        f"BigQuery load into {dataset}.users failed: ConnectionResetError: [Errno 104] Connection reset by peer; "
        "the 1 checkpoint(s) of this batch were not written, so the next run resumes from the last durable one"
    )
    assert writer.latest_cursor("users") is None
    writer.close()


def test_a_failed_checkpoint_load_names_its_job_and_lists_the_jobs_errors(bq_emulator, dataset):
    errors = [{"reason": "invalid", "message": "a checkpoint the table refused"}]
    client = FailingLoads(bq_emulator.client(), "_sync_runs", errors, exc_errors=[{"message": "the exception's own"}])
    writer = writer_on(bq_emulator, dataset, client)
    writer.append("users", users_page(1), run=checkpoint(1))
    with pytest.raises(SyncError) as caught:
        writer.flush()
    assert str(caught.value) == (
        f"BigQuery load job {client.failed_job_ids[0]} into {dataset}._sync_runs failed: invalid: a checkpoint the "
        "table refused; the batch's rows landed without their checkpoints: the next run reads them again"
    )
    assert writer.count("users") == 10
    writer.close()


class RefusedAlters(Spy):
    """The emulator's client for an identity that may not alter tables."""

    def query(self, sql, *args, **kwargs):
        if sql.lstrip().lower().startswith("alter table"):
            raise Forbidden("Access Denied: bigquery.tables.update")
        return self._client.query(sql, *args, **kwargs)


def test_a_refused_alter_table_names_the_column_it_was_adding(bq_emulator, dataset):
    from descope_sync.landing.base import LANDING_TABLES

    client = bq_emulator.client()
    client.create_dataset(dataset)
    kept = ["run_id", "stream", "status", "started_at", "finished_at", "cursor_to"]
    types = {c.name: c for c in LANDING_TABLES["_sync_runs"]}
    assert set(kept) <= set(types)
    client.create_table(
        bigquery.Table(
            f"{bq_emulator.project}.{dataset}._sync_runs",
            schema=[
                bigquery.SchemaField(n, "TIMESTAMP" if n.endswith("_at") or n == "cursor_to" else "STRING")
                for n in kept
            ],
        )
    )
    first_missing = next(c.name for c in LANDING_TABLES["_sync_runs"] if c.name not in kept)
    writer = bq_writer(bq_emulator, dataset, client=RefusedAlters(bq_emulator.client()))
    with pytest.raises(SyncError) as caught:
        writer.ensure_tables()
    assert str(caught.value).startswith(
        f"BigQuery refused to add column {first_missing} to {dataset}._sync_runs in project {bq_emulator.project} "
        "(Forbidden: 403 Access Denied: bigquery.tables.update): "
    )


def test_failed_loads_of_two_tables_are_listed_in_one_error(bq_emulator, dataset):
    writer = writer_on(bq_emulator, dataset, BrokenUploads(bq_emulator.client(), "users", "_quarantine"))
    writer.append("_quarantine", [{"stream": "users", "reason": "no userId", "payload": {}, "_extracted_at": T0}])
    writer.append("users", users_page(1), run=checkpoint(1))
    with pytest.raises(SyncError) as caught:
        writer.flush()
    reset = "ConnectionResetError: [Errno 104] Connection reset by peer"
    assert str(caught.value) == (
        f"BigQuery load into {dataset}._quarantine failed: {reset}; "
        f"BigQuery load into {dataset}.users failed: {reset}; "
        "the 1 checkpoint(s) of this batch were not written, so the next run resumes from the last durable one"
    )
    writer.close()


def test_a_checkpoint_upload_that_dies_on_the_wire_names_the_error_and_moves_no_cursor(bq_emulator, dataset):
    writer = writer_on(bq_emulator, dataset, BrokenUploads(bq_emulator.client(), "_sync_runs"))
    writer.append("users", users_page(1), run=checkpoint(1))
    with pytest.raises(SyncError) as caught:
        writer.flush()
    assert str(caught.value) == (
        f"BigQuery load into {dataset}._sync_runs failed: ConnectionResetError: [Errno 104] Connection reset by peer; "
        "the batch's rows landed without their checkpoints: the next run reads them again"
    )
    assert writer.count("users") == 10 and writer.latest_cursor("users") is None
    writer.close()


def test_batch_bounds_below_one_are_refused_and_a_bound_of_one_byte_loads_every_page_at_once(bq_emulator, dataset):
    for bounds in ({"batch_bytes": 0}, {"batch_pages": 0}):
        with pytest.raises(ValueError, match=r"^batch_bytes and batch_pages must be at least 1$"):
            bq_writer(bq_emulator, dataset, **bounds)
    spy = Spy(bq_emulator.client())
    writer = writer_on(bq_emulator, dataset, spy, batch_bytes=1, batch_pages=1_000)
    writer.append("users", users_page(1))
    assert spy.loads() == ["users"]
    writer.close()


def test_an_unknown_landing_table_is_refused_by_name(bq_emulator, dataset):
    writer = writer_on(bq_emulator, dataset)
    with pytest.raises(ValueError, match=r"^unknown landing table 'user'$"):
        writer.count("user")
    writer.close()


@pytest.fixture
def local_time_in_new_york(monkeypatch):
    """The machine's local time zone is not UTC (a laptop, say): UTC-5 in November."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_timestamps_read_back_are_naive_utc_whatever_the_machines_time_zone(
    bq_emulator, dataset, local_time_in_new_york
):
    writer = writer_on(bq_emulator, dataset)
    writer.record_run(checkpoint(1, status=RunStatus.SUCCESS))
    assert writer.latest_cursor("users") == T0 + timedelta(seconds=1)
    last = writer.last_run("users")
    assert last is not None and (last.started_at, last.finished_at) == (T0, T0 + timedelta(seconds=1))
    assert writer.query(f"select max(started_at) from {writer.table_id('_sync_runs')}") == [(T0,)]
    writer.close()


class HungQueries(Spy):
    """The emulator's client, but every query job BigQuery accepts never finishes: its result() waits as long
    as it is told (None: for ever, until the test releases it) and then gives up the way google-api-core does."""

    def __init__(self, client) -> None:
        super().__init__(client)
        self.released = threading.Event()

    def query(self, *args, **kwargs):
        return _HungJob(self.released)


class _HungJob:
    def __init__(self, released: threading.Event) -> None:
        self._released = released

    def result(self, timeout=None, **kwargs):
        self._released.wait(timeout)
        raise concurrent.futures.TimeoutError(
            f"Operation did not complete within the designated timeout of {timeout} seconds."
        )


def test_a_query_job_that_never_finishes_fails_after_the_job_timeout_instead_of_hanging(bq_emulator, dataset):
    client = HungQueries(bq_emulator.client())
    writer = writer_on(bq_emulator, dataset, client, job_timeout=0.2)
    errors: list[str] = []

    def ask() -> None:
        try:
            writer.latest_cursor("users")
        except SyncError as exc:
            errors.append(str(exc))

    asking = threading.Thread(target=ask, daemon=True)
    asking.start()
    asking.join(3)
    hung = asking.is_alive()
    client.released.set()  # a wait without a timeout ends here
    asking.join()
    assert not hung
    assert errors == [
        "BigQuery could not read the latest cursor: "
        "TimeoutError: Operation did not complete within the designated timeout of 0.2 seconds."
    ]
    writer.close()
