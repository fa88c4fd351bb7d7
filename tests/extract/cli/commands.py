"""The CLI as a user runs it, for tests anywhere: a subprocess, one extract, `status --json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

KEY = "K2sim-secret-key"


def run_cli(args, env_extra, timeout=300):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "descope_sync.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def land(sim, db, hours_ago: float = 0, **kwargs):
    """One real extract into `db` against the simulator, its clock `hours_ago` in the past."""
    from datetime import timedelta

    from descope_sync.pipeline import run_extract
    from descope_sync.timeutil import utcnow
    from tests.conftest import settings_for

    return run_extract(settings_for(sim, db), now=lambda: utcnow() - timedelta(hours=hours_ago), **kwargs)


def status_of(db, *flags, env_extra=None):
    """`descope-sync --json status` as a monitor runs it: no Descope credentials, on Cloud Functions or not."""
    env = {"K_SERVICE": "a-monitor", **(env_extra or {})}
    result = run_cli(["--json", "status", "--duckdb-path", str(db), *flags], env, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    body = json.loads(result.stdout) if result.stdout.startswith("{") else None
    streams = {s["stream"]: s for s in body["streams"]} if body else {}
    return result, body, streams
