"""The function answers before its timeout: every request and wait ends with the run's deadline, through
real interfaces made slow (a proxy that answers late before the simulator and before the BigQuery emulator)."""

from __future__ import annotations

import os
import sys
import time

import pytest

from descope_sync.build_trigger import TRIGGER_SECONDS
from descope_sync.contract import RunStatus
from descope_sync.descope import USER_SEARCH_PATH, Deadline
from descope_sync.errors import ConfigError, SyncError
from tests.bigquery.helpers import bq_count, bq_query, bq_writer, dataset_for, table
from tests.bigquery.test_bigquery_writer import checkpoint, users_page
from tests.extract.test_cloud_function import serve
from tests.gcp.slow_proxy import SlowProxy

COMMIT = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad"
BUDGET = 20.0  # DESCOPE_FUNCTION_MAX_SECONDS for the test (480 in production)
TRIGGER_SLICE = 5.0  # the trigger call's slice after the budget, for the test (TRIGGER_SECONDS in production)


def loads_hang(method: str, path: str, number: int) -> float:
    """BigQuery that never answers a load: every load job's upload is held ten minutes (the emulator
    answers a load's upload once the job is done, so this is where its wait is)."""
    return 600.0 if "/upload/" in path or "/jobs/" in path else 0.0


def test_a_bigquery_load_that_outlasts_the_deadline_fails_its_batch_within_it(bq_emulator, request):
    dataset = dataset_for(request)
    setup = bq_writer(bq_emulator, dataset)
    setup.ensure_tables()
    setup.close()
    proxy = SlowProxy(bq_emulator.endpoint, loads_hang).start()
    try:
        writer = bq_writer(bq_emulator, dataset, api_endpoint=proxy.endpoint)
        writer.deadline = Deadline(3.0)
        started = time.monotonic()
        with pytest.raises(SyncError, match=r"load into .*users failed: ReadTimeout.* checkpoint\(s\) .* not written"):
            writer.append("users", users_page(1), run=checkpoint(1, status=RunStatus.SUCCESS))
        elapsed = time.monotonic() - started
    finally:
        proxy.stop()
    assert proxy.held, "no load went through the proxy"
    assert elapsed < 3.0 + 2.0, elapsed  # not the 600 s job timeout
    assert bq_count(bq_emulator, dataset, "_sync_runs") == 0  # fail closed: no checkpoint for an unproved load


class SlowDescope:
    """Every answer 0.3 s late; from the second users page on, no answer at all (held ten minutes)."""

    def __init__(self) -> None:
        self.user_pages = 0

    def __call__(self, method: str, path: str, number: int) -> float:
        if path.startswith(USER_SEARCH_PATH):
            self.user_pages += 1
            if self.user_pages >= 2:
                return 600.0
        return 0.3


class SlowBigQuery:
    """Every load 1 s late, every other request 0.1 s; from `hang_after` seconds on, no load is answered."""

    def __init__(self, hang_after: float | None) -> None:
        self.hang_after = hang_after
        self.started = time.monotonic()

    def __call__(self, method: str, path: str, number: int) -> float:
        if "/upload/" not in path:
            return 0.1
        if self.hang_after is not None and time.monotonic() - self.started > self.hang_after:
            return 600.0
        return 1.0


@pytest.mark.parametrize(
    ("cloud_build_delay", "landing_hangs_after"),
    [(1.0, None), (600.0, None), (600.0, 13.0)],
    ids=["slow-cloud-build", "hung-cloud-build", "hung-landing-then-hung-cloud-build"],
)
def test_the_function_answers_within_its_budget_plus_the_trigger_slice_with_progress_committed(
    simulator, bq_emulator, cloud_build_server, monkeypatch, request, capsys, cloud_build_delay, landing_hangs_after
):
    """Slow Descope (one request never answered), slow BigQuery loads, slow or hung Cloud Build: the answer
    comes by the budget plus the trigger's slice (the 540 s timeout is 480 + 60), progress committed, and
    dbt started unless Cloud Build itself never answers (then the answer says so, in time). The slice is
    cut to TRIGGER_SLICE here: a hung Cloud Build would otherwise hold the test TRIGGER_SECONDS more."""
    sim = simulator(users=1500)
    dataset = dataset_for(request)
    descope = SlowProxy(sim.base_url, SlowDescope()).start()
    bigquery = SlowProxy(bq_emulator.endpoint, SlowBigQuery(landing_hangs_after)).start()
    cloud_build_server.delay_seconds = cloud_build_delay
    for name in list(os.environ):
        if name.startswith("DESCOPE_"):
            monkeypatch.delenv(name)
    env = {
        "DESCOPE_PROJECT_ID": sim.project_id,
        "DESCOPE_MANAGEMENT_KEY": sim.management_key,
        "DESCOPE_BASE_URL": descope.endpoint,
        "DESCOPE_WAREHOUSE": "bigquery",
        "BIGQUERY_EMULATOR_HOST": bigquery.endpoint,
        "GCP_PROJECT": bq_emulator.project,
        "DESCOPE_RAW_DATASET": dataset,
        "DESCOPE_FUNCTION_MAX_SECONDS": str(BUDGET),
        "DESCOPE_DBT_TRIGGER": "projects/my-gcp/locations/us-central1/triggers/descope-dbt",
        "DESCOPE_RELEASE_COMMIT": COMMIT,
        "CLOUD_BUILD_ENDPOINT": cloud_build_server.endpoint,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = serve(monkeypatch).test_client()
    assert TRIGGER_SLICE < TRIGGER_SECONDS
    monkeypatch.setattr(sys.modules["main"], "TRIGGER_SECONDS", TRIGGER_SLICE)  # the module serve() loaded
    try:
        started = time.monotonic()
        response = client.post("/", json={})
        elapsed = time.monotonic() - started
    finally:
        descope.stop()
        bigquery.stop()
    body = response.get_json()
    margin = elapsed - BUDGET
    with capsys.disabled():
        print(
            f"\n[{request.node.callspec.id}] function answered {elapsed:.2f}s after the request: "
            f"{margin:+.2f}s past its {BUDGET:g}s budget, {margin - TRIGGER_SLICE:+.2f}s past the trigger's "
            f"{TRIGGER_SLICE:g}s slice"
        )

    assert any(path.startswith(USER_SEARCH_PATH) and held == 600.0 for _, path, held in descope.held)
    # the answer comes within the budget and the trigger's slice: before the timeout (540 s = 480 + 60)
    assert elapsed < BUDGET + TRIGGER_SLICE + 2.0, (elapsed, body)
    if landing_hangs_after is not None:
        # BigQuery stopped answering loads mid-run: the run fails, in time, and starts no dbt build (there is
        # nothing proved to build on). Which write met the hang decides the answer's shape: a stream's own
        # (that stream failed, the summary says so) or the last rows flushed when the writer closed (the
        # whole extract failed: one error naming the load, no summary to trust).
        assert response.status_code == 500 and body["status"] == "failed", body
        assert body.get("dbt", {"status": "skipped"})["status"] == "skipped", body
        assert cloud_build_server.queued == [], body
        if "streams" not in body:
            assert "BigQuery load into" in body["error"] and "failed" in body["error"], body
        assert elapsed < BUDGET + 2.0, elapsed  # the extract overran its budget by only this much
        return
    by_stream = {s["stream"]: s["status"] for s in body["streams"]}
    # the audit stream reads its events within its share (on a loaded machine it may stop at its share's
    # end: then it is `partial`, its progress committed all the same)
    assert by_stream["audit_events"] in ("success", "partial"), body
    assert by_stream["users"] == "partial", body
    if cloud_build_delay < TRIGGER_SLICE:
        assert response.status_code == 200, body
        assert body["dbt"]["status"] == "started" and body["dbt"]["commit"] == COMMIT
        [build] = cloud_build_server.queued
        assert build["source"]["commitSha"] == COMMIT
    else:  # Cloud Build never answered: said in time, so Cloud Scheduler marks the run failed
        assert response.status_code == 500, body
        assert body["dbt"]["status"] == "failed" and "could not reach Cloud Build" in body["dbt"]["error"]
    # progress committed: the audit stream's cursor is in _sync_runs
    rows = bq_query(
        bq_emulator,
        f"select status, cursor_to from {table(bq_emulator, dataset, '_sync_runs')} where stream = 'audit_events'",
    )
    assert {status for status, _ in rows} & {"success", "partial"} and any(cursor for _, cursor in rows), rows


def test_secret_manager_reads_end_with_the_deadline(secret_manager_server):
    from descope_sync.config import load_settings

    secret_manager_server.secrets["descope-management-key"] = b"K2never-read-0000000000"
    secret_manager_server.delay_seconds = 600.0  # Secret Manager never answers
    env = {
        "DESCOPE_SECRETS": "secret-manager",
        "GCP_PROJECT": secret_manager_server.project,
        "SECRET_MANAGER_ENDPOINT": secret_manager_server.endpoint,
    }
    started = time.monotonic()
    with pytest.raises(ConfigError, match="could not read secret 'descope-management-key'"):
        load_settings({}, env=env, deadline=Deadline(2.0))
    elapsed = time.monotonic() - started
    assert elapsed < 2.0 + 1.5, elapsed  # not the client's 60 s timeout and its retries


def test_the_geoip_fetch_ends_with_the_stream_deadline(gcs_emulator, tmp_path, monkeypatch):
    from google.cloud import storage

    from descope_sync.geo import default_database_path
    from descope_sync.geo_source import GcsDatabase

    bucket = storage.Client().create_bucket("geo-slow")
    bucket.blob("GeoLite2-City.mmdb").upload_from_filename(str(default_database_path()))
    endpoint = os.environ["STORAGE_EMULATOR_HOST"]
    proxy = SlowProxy(endpoint, lambda method, path, number: 600.0).start()  # Cloud Storage never answers
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.endpoint)
    try:
        source = GcsDatabase.parse("gs://geo-slow/GeoLite2-City.mmdb", cache_dir=tmp_path / "cache")
        started = time.monotonic()
        with pytest.raises(ConfigError, match=r"cannot read gs://geo-slow/GeoLite2-City\.mmdb"):
            source.local_path(Deadline(2.0))
        elapsed = time.monotonic() - started
    finally:
        proxy.stop()
    assert proxy.held
    assert elapsed < 2.0 + 1.5, elapsed  # not 60 s, then 300 s, with retries


def test_a_bigquery_query_that_outlasts_the_deadline_fails_within_it(bq_emulator, request):
    dataset = dataset_for(request)
    setup = bq_writer(bq_emulator, dataset)
    setup.ensure_tables()
    setup.close()
    proxy = SlowProxy(bq_emulator.endpoint, lambda method, path, number: 600.0).start()  # BigQuery never answers
    try:
        writer = bq_writer(bq_emulator, dataset, api_endpoint=proxy.endpoint)
        writer.deadline = Deadline(3.0)
        started = time.monotonic()
        with pytest.raises(SyncError, match="BigQuery could not"):
            writer.latest_cursor("users")
        elapsed = time.monotonic() - started
    finally:
        proxy.stop()
    assert proxy.held
    assert elapsed < 3.0 + 2.0, elapsed  # not the 600 s job timeout, nor the client's retries


def function_client(monkeypatch, sim, tmp_path, secret_manager_server, budget: float):
    """The function as deployed: secrets from Secret Manager (the local server), landing in DuckDB."""
    for name in list(os.environ):
        if name.startswith("DESCOPE_"):
            monkeypatch.delenv(name)
    secret_manager_server.secrets.update(
        {"descope-project-id": sim.project_id.encode(), "descope-management-key": sim.management_key.encode()}
    )
    env = {
        "GCP_PROJECT": secret_manager_server.project,
        "SECRET_MANAGER_ENDPOINT": secret_manager_server.endpoint,
        "DESCOPE_BASE_URL": sim.base_url,
        "DESCOPE_WAREHOUSE": "duckdb",
        "DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        "DESCOPE_FUNCTION_MAX_SECONDS": str(budget),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return serve(monkeypatch).test_client()


def test_a_hung_secret_manager_is_answered_within_the_budget(simulator, tmp_path, monkeypatch, secret_manager_server):
    client = function_client(monkeypatch, simulator(users=5), tmp_path, secret_manager_server, budget=3.0)
    secret_manager_server.delay_seconds = 600.0
    started = time.monotonic()
    response = client.post("/", json={})
    elapsed = time.monotonic() - started
    assert response.status_code == 500 and "could not read secret" in response.get_json()["error"]
    assert elapsed < 3.0 + 1.5, elapsed


def test_slow_secret_manager_reads_count_against_the_budget(simulator, tmp_path, monkeypatch, secret_manager_server):
    sim = simulator(users=300)
    budget = 10.0
    client = function_client(monkeypatch, sim, tmp_path, secret_manager_server, budget=budget)
    descope = SlowProxy(sim.base_url, SlowDescope()).start()  # the users stream's second page never comes
    monkeypatch.setenv("DESCOPE_BASE_URL", descope.endpoint)
    secret_manager_server.delay_seconds = 2.5  # each of the two secrets: half the budget in all
    try:
        started = time.monotonic()
        response = client.post("/", json={})
        elapsed = time.monotonic() - started
    finally:
        descope.stop()
    body = response.get_json()
    assert response.status_code == 200, body
    assert {s["stream"]: s["status"] for s in body["streams"]}["users"] == "partial", body
    assert elapsed < budget + 0.5, elapsed  # the 5 s of secret reads came out of the budget, not on top of it
