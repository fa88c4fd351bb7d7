"""``descope-sync simulate``: a simulator in the foreground until Ctrl-C."""

from __future__ import annotations

import os
import threading

from .chaos import ChaosConfig
from .dialect import Dialect
from .server import DEFAULT_MANAGEMENT_KEY, DEFAULT_PROJECT_ID, Simulator
from .world import World


def serve(port: int, users: int, chaos: bool, seed: int, dialect: Dialect | str | None = None) -> None:
    """Run a simulator until Ctrl-C.

    ``dialect``: a :class:`.dialect.Dialect`, or text for :meth:`.dialect.Dialect.parse` (``None``:
    documented). It accepts the credentials in DESCOPE_PROJECT_ID / DESCOPE_MANAGEMENT_KEY when they are
    set (so one environment serves the simulator and the extractor), else its own demo values.
    """
    project_id = os.environ.get("DESCOPE_PROJECT_ID") or DEFAULT_PROJECT_ID
    key_from_env = os.environ.get("DESCOPE_MANAGEMENT_KEY")
    if isinstance(dialect, str):
        dialect = Dialect.parse(dialect)
    dialect = dialect or Dialect()
    print(f"Building a world of {users} users (seed {seed}, dialect {dialect.describe()})...", flush=True)
    world = World(seed=seed, users=users, project_id=project_id, dialect=dialect)
    sim = Simulator(
        world,
        project_id=project_id,
        management_key=key_from_env or DEFAULT_MANAGEMENT_KEY,
        chaos=ChaosConfig(seed=seed) if chaos else None,
        port=port,
    ).start()
    print(f"Descope simulator listening on {sim.base_url}", flush=True)
    print(f"  export DESCOPE_BASE_URL={sim.base_url}")
    print(f"  export DESCOPE_PROJECT_ID={sim.project_id}")
    if key_from_env:
        print("  DESCOPE_MANAGEMENT_KEY: the value already in your environment")
    else:
        print(f"  export DESCOPE_MANAGEMENT_KEY={DEFAULT_MANAGEMENT_KEY}   # the simulator's demo key, not a secret")
    print(f"  chaos: {'on' if chaos else 'off'}; truth at {sim.base_url}/_sim/truth; Ctrl-C stops", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        print("simulator stopped", flush=True)
