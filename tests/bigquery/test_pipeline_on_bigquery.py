"""The extractor on BigQuery (the emulator) against the simulator: everything lands, budget-limited runs resume,
the CLI needs nothing but the emulator's and Descope's variables, and overlapping invocations lose nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from descope_sim import RateLimits, World
from descope_sync.catalog import STREAMS
from descope_sync.contract import event_id
from descope_sync.pipeline import run_extract
from descope_sync.progress import SilentProgress
from tests.bigquery.helpers import (
    bq_count,
    bq_query,
    dataset_for,
    landed_event_ids,
    latest_landed_users,
    load_jobs,
    table,
)
from tests.conftest import settings_for

EXTRACT = Path(__file__).resolve().parents[2] / "extract"


@pytest.fixture
def emulator(bq_emulator, monkeypatch):
    """The emulator, with BIGQUERY_EMULATOR_HOST set for code that opens its own writer."""
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", bq_emulator.endpoint)
    return bq_emulator


def bq_settings(sim, emulator, dataset, tmp_path, **overrides):
    return settings_for(
        sim,
        tmp_path / "never-written.duckdb",
        warehouse="bigquery",
        raw_schema=dataset,
        bigquery_project=emulator.project,
        **overrides,
    )


def extract(settings, streams=None):
    kwargs = {"streams": streams} if streams else {}
    return run_extract(settings, progress=SilentProgress(), **kwargs)


def assert_landing_matches_truth(sim, emulator, dataset):
    truth = sim.world.truth()
    landed = latest_landed_users(emulator, dataset)
    missing = set(truth["users"]) - set(landed)
    assert not missing, f"{len(missing)} live users never landed"
    stale = [uid for uid, user in truth["users"].items() if landed[uid] != user]
    assert not stale, f"{len(stale)} users landed with an old version, e.g. {stale[:3]}"
    assert landed_event_ids(emulator, dataset) == {event_id(e) for e in truth["events"]}


def test_run_extract_on_bigquery_lands_every_user_and_event_in_few_load_jobs(simulator, emulator, request, tmp_path):
    sim = simulator(users=400)
    dataset = dataset_for(request)
    settings = bq_settings(sim, emulator, dataset, tmp_path, users_page_size=25, audit_page_size=50)
    first = extract(settings)
    assert str(first.status) == "success", first.as_dict()
    assert_landing_matches_truth(sim, emulator, dataset)
    pages = {s.stream: s.pages for s in first.streams}
    jobs = load_jobs(emulator, dataset)
    assert pages["users"] >= 16 and pages["audit_events"] >= 10, pages
    assert jobs["users"] * 4 <= pages["users"] and jobs["audit_events"] * 4 <= pages["audit_events"], (jobs, pages)
    assert not (tmp_path / "never-written.duckdb").exists()

    # The source changes; the next (incremental) run reads its own cursor from BigQuery.
    sim.mutate(creates=5, modifies=10, deletes=3, logins=20)
    second = extract(settings)
    assert str(second.status) == "success", second.as_dict()
    assert second.streams[1].details["mode"] == "incremental"
    assert_landing_matches_truth(sim, emulator, dataset)
    located = bq_query(
        emulator,
        f"select count(distinct ip) from {table(emulator, dataset, 'ip_locations')} where is_found",
    )[0][0]
    assert located > 0


def test_a_budget_limited_sweep_resumes_across_invocations_on_bigquery(simulator, emulator, request, tmp_path):
    sim = simulator(
        world=World(seed=3, users=2000),
        max_page_size=100,
        rate_limits=RateLimits(user_search=(10, 1.0), audit_search=(10, 1.0)),
    )
    dataset = dataset_for(request)
    # 3 s: a quarter of it is the commit reserve, and each invocation starts with a count and a probe.
    settings = bq_settings(sim, emulator, dataset, tmp_path, max_seconds=3, users_page_size=100)
    statuses = []
    for _ in range(20):
        summary = extract(settings, ["users"])
        statuses.append(str(summary.status))
        if summary.status == "success":
            break
    assert statuses[-1] == "success" and len(statuses) >= 3, statuses
    assert set(statuses[:-1]) == {"partial"}, statuses
    runs = table(emulator, dataset, "_sync_runs")
    sweeps = bq_query(emulator, f"select count(distinct sweep_id) from {runs} where sweep_id is not null")
    assert sweeps == [(1,)]  # one sweep, continued by every invocation
    truth = sim.world.truth()["users"]
    landed = latest_landed_users(emulator, dataset)
    assert set(landed) == set(truth) and all(landed[u] == truth[u] for u in truth)
    assert bq_count(emulator, dataset, "users") < 1.3 * len(truth), "each invocation re-read what an earlier one had"


def cli_env(sim, emulator, dataset: str, home: Path) -> dict[str, str]:
    """Nothing but the emulator's variables, Descope's, and what a process needs to start."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(EXTRACT),
        "HOME": str(home),  # no gcloud credentials or config to fall back on
        **emulator.env(),
        "DESCOPE_PROJECT_ID": sim.project_id,
        "DESCOPE_MANAGEMENT_KEY": sim.management_key,
        "DESCOPE_BASE_URL": sim.base_url,
        "DESCOPE_RAW_DATASET": dataset,
        "DESCOPE_AUDIT_SETTLE_SECONDS": "0",
    }


def cli(env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "descope_sync.cli", "extract", "--target", "bigquery"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_cli_extracts_to_bigquery_with_only_the_emulator_and_descope_variables(
    simulator, bq_emulator, request, tmp_path
):
    sim = simulator(users=150)
    dataset = dataset_for(request)
    process = cli(cli_env(sim, bq_emulator, dataset, tmp_path), cwd=tmp_path)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stdout + stderr
    assert sim.management_key not in stdout + stderr
    assert not list(tmp_path.glob("*.duckdb")), "the BigQuery target wrote a DuckDB file"
    assert_landing_matches_truth(sim, bq_emulator, dataset)
    statuses = bq_query(
        bq_emulator, f"select distinct stream, status from {table(bq_emulator, dataset, '_sync_runs')} order by 1, 2"
    )
    assert {stream for stream, _ in statuses} == set(STREAMS)
    assert all(status in ("partial", "success") for _, status in statuses), statuses


def test_two_overlapping_invocations_on_one_dataset_lose_nothing(simulator, bq_emulator, request, tmp_path):
    sim = simulator(
        world=World(seed=11, users=1500),
        max_page_size=50,
        rate_limits=RateLimits(user_search=(40, 1.0), audit_search=(20, 1.0)),
    )
    dataset = dataset_for(request)
    env = cli_env(sim, bq_emulator, dataset, tmp_path)
    env["DESCOPE_BQ_BATCH_PAGES"] = "7"  # both flush mid-stream, interleaving their loads
    first = cli(env, cwd=tmp_path)
    second = cli(env, cwd=tmp_path)
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    for process, (stdout, stderr) in zip((first, second), outputs, strict=True):
        assert process.returncode == 0, stdout + stderr
    runs = table(bq_emulator, dataset, "_sync_runs")
    spans = bq_query(bq_emulator, f"select run_id, min(started_at), max(finished_at) from {runs} group by run_id")
    assert len(spans) == 2
    (_, start_a, end_a), (_, start_b, end_b) = spans
    assert max(start_a, start_b) < min(end_a, end_b), "the two invocations did not overlap"
    assert_landing_matches_truth(sim, bq_emulator, dataset)
    # Both read everything (append-only: duplicates, removed by dbt) and the cursors are the greater of the two.
    cursors = bq_query(
        bq_emulator,
        f"select stream, count(distinct run_id) from {runs} where status = 'success' group by stream order by stream",
    )
    assert cursors == [(stream, 2) for stream in sorted(STREAMS)]
