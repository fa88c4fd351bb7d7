"""Errors a user can act on, through the real CLI: the host and the real cause of a connection failure,
fast; each error printed once; a quoted credential named (never echoed); a read-only warehouse and a
missing GeoIP database in one line each, before the first request."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from descope_sync.catalog import STREAMS
from tests.conftest import query

FIX = "check DESCOPE_BASE_URL (or the project ID it is derived from) and the network"


def run_cli(args, env_extra, timeout: float = 120):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_") and k != "GEOIP_DATABASE"}
    env.update(env_extra)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "descope_sync.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return result, time.monotonic() - started


def extract(base_url: str, db: Path, key: str = "K2sim-secret-key", project: str | None = None, **env):
    return run_cli(
        ["extract"],
        {
            "DESCOPE_PROJECT_ID": project or "P2simulatorproject00000000000000",
            "DESCOPE_MANAGEMENT_KEY": key,
            "DESCOPE_BASE_URL": base_url,
            "DUCKDB_PATH": str(db),
            **env,
        },
    )


def last_line(result) -> str:
    return result.stderr.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_connection_names_the_host_and_the_cause_and_fails_fast(tmp_path):
    port = free_port()
    result, took = extract(f"http://127.0.0.1:{port}", tmp_path / "w.duckdb")
    assert result.returncode == 1
    assert last_line(result) == (
        f"descope-sync: error: extract failed (audit_events: cannot reach Descope at 127.0.0.1:{port}: "
        f"connection refused (nothing listens there); {FIX})"
    )
    assert took < 20, took  # one quick retry, not a 27-second series
    assert "1 retries" in result.stderr
    # The other streams would fail the same way: they are not tried.
    assert query(tmp_path / "w.duckdb", "select stream, status from descope_raw._sync_runs") == [
        ("audit_events", "failed")
    ]
    assert (result.stdout + result.stderr).count("cannot reach Descope") == 1


def test_an_unknown_host_is_a_dns_failure_tried_once(tmp_path):
    result, took = extract("https://descope-sync-test.invalid", tmp_path / "w.duckdb")
    assert result.returncode == 1
    assert re.fullmatch(
        r"descope-sync: error: extract failed \(audit_events: cannot reach Descope at descope-sync-test\.invalid: "
        rf"DNS lookup failed \([^()]+\); {re.escape(FIX)}\)",
        last_line(result),
    ), last_line(result)
    assert "extract failed: 1 requests, 0 rate-limited (0s waited), 0 retries" in result.stderr
    assert took < 20, took


def test_tls_to_a_server_that_speaks_plain_http_says_tls(simulator, tmp_path):
    sim = simulator(users=5)
    host = sim.base_url.removeprefix("http://")
    result, _ = extract(f"https://{host}", tmp_path / "w.duckdb")
    assert result.returncode == 1
    assert last_line(result) == (
        f"descope-sync: error: extract failed (audit_events: cannot reach Descope at {host}: "
        f"TLS failed (wrong version number); {FIX})"
    )


def test_a_rejected_key_is_printed_once(simulator, tmp_path):
    sim = simulator(users=5)
    result, _ = extract(sim.base_url, tmp_path / "w.duckdb", key="K2-wrong-key-0123456789")
    assert result.returncode == 1
    message = (
        f"Descope rejected the management key (401) for project {sim.project_id}: "
        "check DESCOPE_MANAGEMENT_KEY and DESCOPE_PROJECT_ID"
    )
    assert last_line(result) == f"descope-sync: error: extract failed (audit_events: {message})"
    assert (result.stdout + result.stderr).count("Descope rejected the management key") == 1
    assert "K2-wrong-key-0123456789" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("variable", "what", "key", "project"),
    [
        ("DESCOPE_MANAGEMENT_KEY", "management key", '"K2sim-secret-key"', None),
        ("DESCOPE_MANAGEMENT_KEY", "management key", "  'K2sim-secret-key'\n", None),
        ("DESCOPE_PROJECT_ID", "project ID", "K2sim-secret-key", '"P2simulatorproject00000000000000"'),
    ],
    ids=["key-double-quotes", "key-single-quotes-and-whitespace", "project-id-quotes"],
)
def test_a_quoted_credential_gets_a_hint_before_any_request(simulator, tmp_path, variable, what, key, project):
    sim = simulator(users=5)
    result, _ = extract(sim.base_url, tmp_path / "w.duckdb", key=key, project=project)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"descope-sync: error: {variable} starts or ends with a quote, which no Descope {what} does: the quotes "
        "became part of the value (a .env file or a shell quoted it twice): remove them"
    )
    assert "K2sim-secret-key" not in result.stdout + result.stderr
    assert sum(sim.stats["requests"].values()) == 0
    assert not (tmp_path / "w.duckdb").exists()


def test_a_read_only_warehouse_is_one_line_before_any_request(simulator, tmp_path):
    sim = simulator(users=5)
    db = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(db))
    con.execute("create table t (x int)")
    con.close()
    # Root may write any file whatever its mode: for root the file is made immutable instead.
    as_root = os.geteuid() == 0
    subprocess.run(["chattr", "+i", str(db)], check=True) if as_root else db.chmod(0o444)
    try:
        result, _ = extract(sim.base_url, db)
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True) if as_root else db.chmod(0o644)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == (
        f"descope-sync: error: the warehouse {db} is read-only (descope-sync appends to it): make it writable, "
        "or set DUCKDB_PATH (--duckdb-path) to a file in a writable directory"
    )
    assert sum(sim.stats["requests"].values()) == 0


def test_a_missing_geoip_database_is_reported_before_any_request(simulator, tmp_path):
    sim = simulator(users=5)
    missing = tmp_path / "GeoLite2-City.mmdb"
    result, _ = extract(sim.base_url, tmp_path / "w.duckdb", GEOIP_DATABASE=str(missing))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"descope-sync: error: GeoIP database {missing} does not exist or is not a file; "
        "set GEOIP_DATABASE to a readable GeoLite2-City.mmdb or GeoIP2-City.mmdb"
    )
    assert sum(sim.stats["requests"].values()) == 0


def test_status_reads_a_read_only_warehouse(simulator, tmp_path):
    from tests.extract.cli.commands import land, status_of

    sim = simulator(users=20)
    db = tmp_path / "warehouse.duckdb"
    land(sim, db)
    as_root = os.geteuid() == 0
    subprocess.run(["chattr", "+i", str(db)], check=True) if as_root else db.chmod(0o444)
    try:
        result, _body, streams = status_of(db)
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True) if as_root else db.chmod(0o644)
    assert result.returncode == 0, result.stderr
    assert set(streams) == set(STREAMS)


def test_a_real_project_is_not_extracted_into_the_demos_warehouse(tmp_path):
    """The next `make demo` replaces its file: real data landed there would be deleted by it."""
    from descope_sync.demo import _mark_as_demo

    db = tmp_path / "demo.duckdb"
    _mark_as_demo(db, users=1, seed=1)
    before = db.read_bytes()
    # Refused before the first request: nothing listens at this host, and nothing is asked of it.
    result, _ = extract("https://descope.invalid", db)
    assert result.returncode == 1
    assert last_line(result) == (
        f"descope-sync: error: {db} is the demo's warehouse (the next demo replaces it): real data does not go "
        "there; set DUCKDB_PATH (--duckdb-path) to another file, e.g. ./warehouse.duckdb"
    )
    assert db.read_bytes() == before
