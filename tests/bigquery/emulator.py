"""The local BigQuery emulator (PyPI bqemulator) as the tests start it: its own virtualenv, loopback, free ports.

`make install` builds the virtualenv (`.venv-bqemu`) and imports the DuckDB extensions it needs under
its HOME; `BQEMULATOR_BIN` / `BQEMULATOR_HOME` point elsewhere. An emulator that cannot start fails
the tests that need it: it is never a skip.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "test-project"
# On Linux the emulator is started through this: it asks for SIGTERM when the process that started it
# dies, then becomes the emulator. A test process killed outright (a pytest or mutmut worker past its
# time limit) so leaves no emulator behind.
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys; ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM); "  # PR_SET_PDEATHSIG
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class BigQueryEmulator:
    endpoint: str
    project: str = PROJECT
    process: subprocess.Popen | None = field(default=None, repr=False)
    log_path: Path | None = None

    def client(self):
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return bigquery.Client(
            project=self.project,
            client_options=ClientOptions(api_endpoint=self.endpoint),
            credentials=AnonymousCredentials(),
        )

    def env(self) -> dict[str, str]:
        """What `descope-sync --target bigquery` and dbt-bigquery need to talk to the emulator."""
        return {"BIGQUERY_EMULATOR_HOST": self.endpoint, "GCP_PROJECT": self.project}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_emulator(log_dir: Path, timeout: float = 60.0) -> BigQueryEmulator:
    binary = Path(os.environ.get("BQEMULATOR_BIN") or ROOT / ".venv-bqemu" / "bin" / "bqemulator")
    home = Path(os.environ.get("BQEMULATOR_HOME") or ROOT / ".venv-bqemu" / "home")
    if not binary.exists():
        raise RuntimeError(f"the BigQuery emulator is not installed at {binary}: run `make install`")
    rest, grpc = _free_port(), _free_port()
    log_path = log_dir / "bqemulator.log"
    log = log_path.open("wb")
    launcher = [sys.executable, "-c", _DIE_WITH_PARENT] if sys.platform == "linux" else []
    process = subprocess.Popen(
        [
            *launcher,
            str(binary),
            "start",
            "--rest-host",
            "127.0.0.1",
            "--rest-port",
            str(rest),
            "--grpc-host",
            "127.0.0.1",
            "--grpc-port",
            str(grpc),
            "--project",
            PROJECT,
            "--log-level",
            "warning",
        ],
        env={**os.environ, "HOME": str(home)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    emulator = BigQueryEmulator(f"http://127.0.0.1:{rest}", process=process, log_path=log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(requests.RequestException):
            if requests.get(emulator.endpoint + "/healthz", timeout=2).status_code == 200:
                return emulator
        time.sleep(0.2)
    emulator.stop()
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the BigQuery emulator did not start within {timeout:.0f}s; its log ends:\n{tail}")
