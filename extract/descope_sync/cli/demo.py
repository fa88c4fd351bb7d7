"""`simulate` and `demo`: the simulator on its own, or a whole run against it."""

from __future__ import annotations

import argparse
from pathlib import Path

from descope_sync.cli.exit_codes import EXIT_OK
from descope_sync.simulator_package import require_simulator


def cmd_simulate(args: argparse.Namespace) -> int:
    require_simulator("simulate")
    from descope_sim import serve

    serve(port=args.port, users=args.users, chaos=args.chaos, seed=args.seed, dialect=args.dialect)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from descope_sync.demo import run_demo

    return run_demo(users=args.users, seed=args.seed, duckdb_path=Path(args.duckdb_path))
