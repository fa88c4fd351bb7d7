"""The command-line habits people bring: global flags anywhere, help on every flag."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import pytest

from descope_sync.catalog import STREAMS
from descope_sync.cli.parser import build_parser
from tests.conftest import land_audit_cursor
from tests.extract.cli.commands import run_cli


def _parsers(parser: argparse.ArgumentParser, path: str = "descope-sync"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, f"{path} {name}")


def test_every_flag_of_every_command_says_what_it_does():
    missing = [
        f"{path} {'/'.join(action.option_strings)}"
        for path, parser in _parsers(build_parser())
        for action in parser._actions
        if action.option_strings
        and not isinstance(action, argparse._HelpAction)
        and (not action.help or action.help == argparse.SUPPRESS)
    ]
    assert missing == []


@pytest.mark.parametrize(
    "argv",
    [
        ["--json", "status"],
        ["status", "--json"],
        ["-v", "status", "--json"],
        ["--log-format", "json", "status", "--json"],
        ["status", "--json", "--log-format", "text"],
    ],
)
def test_json_is_accepted_before_or_after_the_command(argv, tmp_path):
    db = tmp_path / "w.duckdb"
    land_audit_cursor(db, datetime.now(UTC).replace(tzinfo=None))
    result = run_cli([*argv, "--duckdb-path", str(db)], {}, timeout=60)
    assert result.returncode in (0, 6), result.stdout + result.stderr  # users never ran: stale is fine here
    body = json.loads(result.stdout)
    assert [s["stream"] for s in body["streams"]] == list(STREAMS)


def test_a_flag_before_the_command_survives_the_command_s_default():
    args = build_parser().parse_args(["--json", "--log-format", "json", "-v", "status"])
    assert (args.json, args.log_format, args.verbose) == (True, "json", True)
    args = build_parser().parse_args(["status", "--log-format", "json"])
    assert (args.json, args.log_format, args.verbose) == (False, "json", False)


@pytest.mark.parametrize("where", ["before", "after"])
def test_log_format_json_makes_every_log_line_a_json_object(simulator, tmp_path, where):
    sim = simulator(users=30)
    flags = ["--log-format", "json"]
    argv = [*flags, "extract"] if where == "before" else ["extract", *flags]
    result = run_cli(
        [*argv, "--streams", "users"],
        {
            "DESCOPE_PROJECT_ID": sim.project_id,
            "DESCOPE_MANAGEMENT_KEY": sim.management_key,
            "DESCOPE_BASE_URL": sim.base_url,
            "DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "no log lines"
    entries = [json.loads(line) for line in lines]
    assert any("users" in entry["message"] for entry in entries)
    assert all(set(entry) >= {"severity", "message", "logger"} for entry in entries)
