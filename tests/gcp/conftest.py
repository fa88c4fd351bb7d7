"""Fixtures for the Google Cloud tests: local stand-ins on loopback, started by the test that needs them."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.gcp.servers import CloudBuildServer, SecretManagerServer


@pytest.fixture
def secret_manager_server() -> Iterator[SecretManagerServer]:
    server = SecretManagerServer().start()
    yield server
    server.stop()


@pytest.fixture
def cloud_build_server() -> Iterator[CloudBuildServer]:
    server = CloudBuildServer().start()
    yield server
    server.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gcs_emulator(monkeypatch):
    """gcp-storage-emulator (PyPI) in memory on a free loopback port; STORAGE_EMULATOR_HOST points at it."""
    from gcp_storage_emulator.server import create_server

    port = _free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    yield server
    server.stop()
