"""`main`: the .env file, the command line, logging, then the command; errors and interrupts as one line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from descope_sync import interrupts
from descope_sync.cli.demo import cmd_demo, cmd_simulate
from descope_sync.cli.exit_codes import EXIT_FAILED
from descope_sync.cli.explore import cmd_runs, cmd_sql
from descope_sync.cli.flags import TARGETS
from descope_sync.cli.output import error
from descope_sync.cli.parser import build_parser
from descope_sync.cli.run import cmd_extract, cmd_transform
from descope_sync.cli.warehouse import cmd_report, cmd_reset, cmd_status
from descope_sync.envfile import load_env_file
from descope_sync.errors import ConfigError, SyncError
from descope_sync.logs import configure_logging, install_excepthooks
from descope_sync.progress import end_live_lines
from descope_sync.secrets import format_exception_scrubbed

log = logging.getLogger("descope_sync")

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": lambda args: cmd_extract(args, transform=True),
    "extract": lambda args: cmd_extract(args, transform=False),
    "transform": cmd_transform,
    "status": cmd_status,
    "simulate": cmd_simulate,
    "report": cmd_report,
    "runs": cmd_runs,
    "sql": cmd_sql,
    "reset": cmd_reset,
    "demo": cmd_demo,
}


def _dispatch(args: argparse.Namespace) -> int:
    command = COMMANDS.get(args.command)
    if command is None:
        raise ConfigError(f"unknown command {args.command!r}")
    return command(args)


def _env_file_flag(argv: Sequence[str] | None) -> Path | None:
    """`--env-file PATH` wherever it stands (the full parser checks the rest of the command line)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--env-file")
    known, _ = pre.parse_known_args(argv)
    return Path(known.env_file) if known.env_file else None


def main(argv: Sequence[str] | None = None) -> int:
    install_excepthooks()  # whatever escapes below prints its traceback without the key
    try:  # before the parser: its defaults read the environment, which the .env file completes
        from_env_file = load_env_file(_env_file_flag(argv))
    except SyncError as exc:
        error(str(exc))
        return EXIT_FAILED
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "target", None) is not None and args.target not in TARGETS:
        parser.error(f"DESCOPE_TARGET must be one of {', '.join(sorted(TARGETS))}")
    configure_logging(json_lines=args.log_format == "json", verbose=args.verbose)
    if from_env_file:
        log.debug("settings from the env file (names only): %s", ", ".join(sorted(from_env_file)))
    with interrupts.handled():
        try:
            return _dispatch(args)
        except KeyboardInterrupt as exc:
            return _interrupted(getattr(exc, "signum", signal.SIGINT))
        except Exception as exc:
            if interrupts.received() is not None:  # the error is the interrupt's echo
                return _interrupted(interrupts.received())
            if isinstance(exc, SyncError):
                error(str(exc))
                return EXIT_FAILED
            # unexpected: say what happened in one line, then keep the traceback
            error(f"unexpected {type(exc).__name__}: {exc}")
            sys.stderr.write(format_exception_scrubbed(exc))
            return EXIT_FAILED


def _interrupted(signum: int) -> int:
    """One line (after ending a live progress line), then 128 + the signal: 130 for Ctrl-C, 143 for SIGTERM."""
    end_live_lines()
    name = signal.Signals(signum).name
    print(
        f"descope-sync: interrupted ({name}); committed progress is kept, the next run resumes from it",
        file=sys.stderr,
        flush=True,
    )
    return 128 + signum
