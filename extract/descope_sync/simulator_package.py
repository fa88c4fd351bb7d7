"""The Descope simulator is a development and test tool, not part of the runtime.

It is its own package (`descope_sim`, in the repository's `simulator/`): a checkout's install has it, the
Cloud Function's upload does not. `demo` and `simulate` check for it here before importing it, so every
other command runs without it.
"""

from __future__ import annotations

import importlib.util

from descope_sync.errors import ConfigError

SIMULATOR_PACKAGE = "descope_sim"


class SimulatorNotInstalled(ConfigError):
    """`demo` or `simulate` ran where the simulator package is not installed."""


def simulator_installed() -> bool:
    return importlib.util.find_spec(SIMULATOR_PACKAGE) is not None


def require_simulator(command: str) -> None:
    """Raise SimulatorNotInstalled, saying how to get it, when `descope_sim` cannot be imported."""
    if not simulator_installed():
        raise SimulatorNotInstalled(
            f"`descope-sync {command}` needs the Descope simulator (the package {SIMULATOR_PACKAGE}, a development "
            "tool), which this installation does not have: install descope-sync from a checkout of the repository "
            "(`make install-demo`, or `pip install -e .` in it). Every other command works without it."
        )
