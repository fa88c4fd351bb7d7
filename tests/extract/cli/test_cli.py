"""The CLI as a user runs it: one-line errors, exit codes, and no secret anywhere."""

from __future__ import annotations

import json
import os
import re
import sys

import pytest

from descope_sync.catalog import STREAM_SPECS, STREAMS
from tests.conftest import query
from tests.extract.cli.commands import KEY, run_cli


def test_bad_credentials_give_one_clear_line_and_exit_1(simulator, tmp_path):
    sim = simulator(users=20)
    wrong_key = "K2-this-key-is-wrong-0123456789"
    result = run_cli(
        ["extract"],
        {
            "DESCOPE_PROJECT_ID": sim.project_id,
            "DESCOPE_MANAGEMENT_KEY": wrong_key,
            "DESCOPE_BASE_URL": sim.base_url,
            "DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        },
    )
    assert result.returncode == 1
    assert "Descope rejected the management key (401)" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert wrong_key not in result.stdout + result.stderr
    failed = query(tmp_path / "w.duckdb", "select stream, status, error from descope_raw._sync_runs")
    assert failed and all(status == "failed" for _, status, _ in failed)
    assert all(wrong_key not in (error or "") for _, _, error in failed)


def test_missing_management_key_names_the_variable(tmp_path):
    result = run_cli(["extract"], {"DESCOPE_PROJECT_ID": "P123", "DUCKDB_PATH": str(tmp_path / "w.duckdb")})
    assert result.returncode == 1
    assert "DESCOPE_MANAGEMENT_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_bodies_that_never_stop_fail_clearly_and_move_no_cursor(simulator, tmp_path):
    from descope_sim import ChaosConfig

    sim = simulator(users=20, chaos=ChaosConfig(seed=1, p_429=0, p_5xx=0, p_malformed=1.0, p_mutation=0))
    result = run_cli(
        ["extract", "--streams", "users"],
        {
            "DESCOPE_PROJECT_ID": sim.project_id,
            "DESCOPE_MANAGEMENT_KEY": sim.management_key,
            "DESCOPE_BASE_URL": sim.base_url,
            "DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        },
        timeout=120,
    )
    assert result.returncode == 1
    assert "malformed response body" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    cursors = query(tmp_path / "w.duckdb", "select count(*) from descope_raw._sync_runs where status = 'success'")
    assert cursors[0][0] == 0


def test_the_management_key_never_reaches_output_logs_or_tables(simulator, tmp_path):
    sim = simulator(users=60)
    db = tmp_path / "w.duckdb"
    result = run_cli(
        ["-v", "extract"],
        {
            "DESCOPE_PROJECT_ID": sim.project_id,
            "DESCOPE_MANAGEMENT_KEY": sim.management_key,
            "DESCOPE_BASE_URL": sim.base_url,
            "DUCKDB_PATH": str(db),
        },
    )
    assert result.returncode == 0, result.stderr
    assert sim.management_key not in result.stdout + result.stderr
    tables = query(db, "select table_schema, table_name from information_schema.tables")
    for schema, table in tables:
        hits = query(
            db, f'select count(*) from "{schema}"."{table}" as t where cast(t as varchar) like ?', [f"%{KEY}%"]
        )
        assert hits[0][0] == 0, f"{schema}.{table} contains the management key"


# ---------------------------------------------------------------- exit codes (crafted summaries, in process)


def summary_of(*statuses: str, run_status: str | None = None):
    """A RunSummary whose streams end in `statuses` (in contract order); `run_status` fakes what .status says."""
    from descope_sync.contract import STREAMS
    from descope_sync.pipeline import RunSummary
    from descope_sync.streams.result import StreamResult
    from descope_sync.timeutil import utcnow

    now = utcnow()
    summary = RunSummary(
        run_id="crafted",
        started_at=now,
        finished_at=now,
        streams=[
            StreamResult(stream, status=status, message=f"{stream} ended {status}")
            for stream, status in zip(STREAMS, statuses, strict=False)
        ],
    )
    if run_status is not None:  # what RunSummary.status says, whatever its streams say
        summary.__class__ = type("FakedSummary", (RunSummary,), {"status": property(lambda self: run_status)})
    return summary


@pytest.fixture
def in_process(monkeypatch, tmp_path):
    """cli.main() in this process, with settings from the environment and its global hooks restored after."""
    import logging
    import threading

    for name in list(os.environ):
        if name.startswith("DESCOPE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DESCOPE_PROJECT_ID", "P2inprocess")
    monkeypatch.setenv("DESCOPE_MANAGEMENT_KEY", KEY_IN_PROCESS)
    monkeypatch.setenv("DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    from descope_sync import cli

    yield cli
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_descope_sync", False):
            root.removeHandler(handler)


KEY_IN_PROCESS = "K2in-process-key-31415926"


def fake_extract(summary, calls):
    def run_extract(settings, *, streams, progress=None, **kwargs):
        calls.append({"settings": settings, "streams": list(streams)})
        return summary

    return run_extract


def fake_dbt(success, calls):
    from descope_sync.transform import DbtOutcome

    def run_dbt(command="build", **kwargs):
        calls.append(command)
        return DbtOutcome(command=command, success=success)

    return run_dbt


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (("success", "success", "success"), 0),
        (("success", "partial", "success"), 3),
        (("data_loss", "success", "success"), 4),
        (("success", "incomplete", "success"), 5),
        (("failed", "success", "success"), 1),
        (("partial", "incomplete"), 5),
        (("data_loss", "incomplete", "partial"), 4),
        (("data_loss", "failed", "partial"), 1),
        (("success", "mystery"), 1),
    ],
)
def test_extract_exits_with_the_code_of_the_worst_status(in_process, monkeypatch, capsys, statuses, expected):
    cli = in_process
    monkeypatch.setattr(cli.run, "run_extract", fake_extract(summary_of(*statuses, run_status="success"), []))
    assert cli.main(["--json", "extract"]) == expected
    out, err = capsys.readouterr()
    body = json.loads(out)
    worst = {0: "success", 1: "failed", 3: "partial", 4: "data_loss", 5: "incomplete"}[expected]
    assert body["status"] == worst
    assert (err.startswith("descope-sync: error: extract failed") and len(err.splitlines()) == 1) == (expected == 1)
    assert KEY_IN_PROCESS not in out + err


@pytest.mark.parametrize(
    ("status", "dbt_runs", "expected"),
    [("success", True, 0), ("partial", True, 3), ("incomplete", True, 5), ("data_loss", True, 4), ("failed", False, 1)],
)
def test_run_builds_dbt_after_every_extract_but_a_failed_one(
    in_process, monkeypatch, capsys, status, dbt_runs, expected
):
    cli = in_process
    dbt_calls: list[str] = []
    monkeypatch.setattr(cli.run, "run_extract", fake_extract(summary_of("success", status), []))
    monkeypatch.setattr(cli.run, "run_dbt", fake_dbt(True, dbt_calls))
    assert cli.main(["run"]) == expected
    assert dbt_calls == (["source freshness", "build"] if dbt_runs else [])
    out, _ = capsys.readouterr()
    assert out.startswith(f"extract: {status}")
    assert ("dbt build skipped: extraction failed" in out) == (not dbt_runs)


@pytest.mark.parametrize("status", ["success", "partial", "data_loss"])
def test_a_dbt_failure_makes_run_exit_1(in_process, monkeypatch, capsys, status):
    cli = in_process
    monkeypatch.setattr(cli.run, "run_extract", fake_extract(summary_of(status), []))
    monkeypatch.setattr(cli.run, "run_dbt", fake_dbt(False, []))
    assert cli.main(["run"]) == 1
    assert capsys.readouterr().err.strip() == "descope-sync: error: dbt build failed (see the errors above)"


def test_the_flags_reach_the_settings_and_the_streams(in_process, monkeypatch, capsys):
    cli = in_process
    calls: list[dict] = []
    monkeypatch.setattr(cli.run, "run_extract", fake_extract(summary_of("success"), calls))
    argv = ["extract", "--streams", "users,audit_events", "--max-seconds", "30", "--reconcile-days", "2"]
    argv += ["--max-delete-fraction", "0.25", "--audit-settle-seconds", "0", "--confirm-deletions-sweep-id", "sw1"]
    argv += ["--audit-actions", "SignUp"]
    assert cli.main(argv) == 0
    settings = calls[0]["settings"]
    assert calls[0]["streams"] == ["users", "audit_events"]
    assert (settings.max_seconds, settings.reconcile_days, settings.max_delete_fraction) == (30.0, 2.0, 0.25)
    assert (settings.audit_settle_seconds, settings.confirm_deletions_sweep_id) == (0.0, "sw1")
    assert settings.audit_actions == ["SignUp", "LoginSucceed", "UserDeleted", "UsersDeleted"]


def test_an_unexpected_error_is_one_line_then_the_scrubbed_traceback(in_process, monkeypatch, capsys):
    cli = in_process

    def explode(settings, **kwargs):
        raise RuntimeError(f"header 'Bearer {settings.project_id}:{settings.management_key.reveal()}\\n' broke")

    monkeypatch.setattr(cli.run, "run_extract", explode)
    assert cli.main(["extract"]) == 1
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines[0] == "descope-sync: error: unexpected RuntimeError: header 'Bearer P2inprocess:***\\n' broke"
    assert lines[1] == "Traceback (most recent call last):"
    assert "RuntimeError: header 'Bearer P2inprocess:***\\n' broke" in err
    assert KEY_IN_PROCESS not in out + err


# ---------------------------------------------------------------- configuration errors (subprocess, as a user runs it)


def test_a_management_key_created_with_echo_works_and_never_prints(simulator, tmp_path):
    sim = simulator(users=30)
    db = tmp_path / "w.duckdb"
    result = run_cli(
        ["-v", "extract"],
        {
            "DESCOPE_PROJECT_ID": sim.project_id + "\n",
            "DESCOPE_MANAGEMENT_KEY": sim.management_key + "\n",
            "DESCOPE_BASE_URL": sim.base_url,
            "DUCKDB_PATH": str(db),
        },
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert sim.management_key not in result.stdout + result.stderr
    assert query(db, "select count(distinct user_id) from descope_raw.users")[0][0] == 30
    tables = query(db, "select table_schema, table_name from information_schema.tables")
    for schema, table in tables:
        hits = query(
            db, f'select count(*) from "{schema}"."{table}" as t where cast(t as varchar) like ?', [f"%{KEY}%"]
        )
        assert hits[0][0] == 0, f"{schema}.{table} contains the management key"


def test_a_key_with_a_line_break_inside_is_one_line_naming_the_variable(tmp_path):
    result = run_cli(
        ["extract"],
        {
            "DESCOPE_PROJECT_ID": "P123",
            "DESCOPE_MANAGEMENT_KEY": "K2first-line\nsecond-line",
            "DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        },
    )
    assert result.returncode == 1
    assert result.stderr.startswith("descope-sync: error: DESCOPE_MANAGEMENT_KEY contains whitespace")
    assert len(result.stderr.splitlines()) == 1
    assert "printf '%s'" in result.stderr
    assert "K2first-line" not in result.stdout + result.stderr and "second-line" not in result.stdout + result.stderr
    assert not (tmp_path / "w.duckdb").exists()


def test_plain_http_to_a_remote_host_is_refused_before_any_request(tmp_path):
    result = run_cli(
        ["extract", "--base-url", "http://api.descope.com"],
        {"DESCOPE_PROJECT_ID": "P123", "DESCOPE_MANAGEMENT_KEY": KEY, "DUCKDB_PATH": str(tmp_path / "w.duckdb")},
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("descope-sync: error: --base-url uses plain http://")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "w.duckdb").exists()


def test_a_bad_max_seconds_in_the_environment_is_one_line_naming_it(tmp_path):
    result = run_cli(
        ["extract"],
        {
            "DESCOPE_PROJECT_ID": "P123",
            "DESCOPE_MANAGEMENT_KEY": KEY,
            "DESCOPE_MAX_SECONDS": "abc",
            "DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        },
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip() == "descope-sync: error: DESCOPE_MAX_SECONDS must be a number of seconds > 0, not 'abc'"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["extract", "--max-seconds", "0"],
        ["extract", "--max-seconds", "-5"],
        ["extract", "--max-seconds", "nan"],
        ["extract", "--max-seconds", "abc"],
        ["extract", "--streams", "users,groups"],
        ["extract", "--streams", "users,users"],
        ["run", "--max-delete-fraction", "2"],
        ["run", "--reconcile-days", "0"],
    ],
)
def test_bad_flags_are_usage_errors_exiting_2(tmp_path, argv):
    result = run_cli(
        argv, {"DESCOPE_PROJECT_ID": "P123", "DESCOPE_MANAGEMENT_KEY": KEY, "DUCKDB_PATH": str(tmp_path / "w.duckdb")}
    )
    assert result.returncode == 2
    assert f"argument {argv[1]}" in result.stderr
    assert not (tmp_path / "w.duckdb").exists()


def test_help_says_an_audit_filter_keeps_the_login_and_deletion_actions():
    result = run_cli(["extract", "--help"], {})
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "LoginSucceed, UserDeleted, UsersDeleted are always added" in text
    assert "5 incomplete" in text and "4 data_loss" in text and "3 partial" in text


def test_the_json_summary_of_a_real_extract_says_what_each_stream_did(in_process, simulator, monkeypatch, capsys):
    from datetime import datetime

    cli = in_process
    sim = simulator(users=30)
    monkeypatch.setenv("DESCOPE_PROJECT_ID", sim.project_id)
    monkeypatch.setenv("DESCOPE_MANAGEMENT_KEY", sim.management_key)
    monkeypatch.setenv("DESCOPE_BASE_URL", sim.base_url)
    db = os.environ["DUCKDB_PATH"]
    assert cli.main(["--json", "extract", "--audit-settle-seconds", "0"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["status"] == "success"
    streams = {s["stream"]: s for s in body["streams"]}
    assert list(streams) == list(STREAMS)
    for name, table in ((spec.name, spec.table.name) for spec in STREAM_SPECS):
        stream = streams[name]
        assert stream["status"] == "success", name
        assert stream["rows_loaded"] == query(db, f"select count(*) from descope_raw.{table}")[0][0] > 0, name
        assert stream["rows_quarantined"] == 0
    for name in ("audit_events", "users"):
        [(cursor_to,)] = query(db, "select max(cursor_to) from descope_raw._sync_runs where stream = ?", [name])
        assert datetime.fromisoformat(streams[name]["cursor_to"]) == cursor_to, name


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ([], []),
        (
            ["--full-refresh"],
            [
                "descope-sync: --full-refresh: every user is read again in a full sweep (landing stays append-only); "
                "once it reconciles, users Descope no longer has are removed from the marts at the next dbt build"
            ],
        ),
        (
            ["--confirm-deletions-sweep-id", "sw9"],
            [
                "descope-sync: confirming the deletions sweep sw9 held back: the users it would remove are removed "
                "from the marts at the next dbt build"
            ],
        ),
    ],
    ids=["none", "full-refresh", "confirm-sweep"],
)
def test_a_flag_that_can_remove_users_from_the_marts_says_so_first(in_process, monkeypatch, capsys, flags, said):
    cli = in_process
    monkeypatch.setattr(cli.run, "run_extract", fake_extract(summary_of("success"), []))
    assert cli.main(["extract", *flags]) == 0
    assert capsys.readouterr().err.splitlines() == said


def test_dbt_full_refresh_says_what_it_rebuilds(in_process, monkeypatch, capsys):
    cli = in_process
    monkeypatch.setattr(cli.run, "run_dbt", fake_dbt(True, []))
    assert cli.main(["transform", "--full-refresh"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "descope-sync: dbt --full-refresh: the incremental models are dropped and rebuilt from the landing tables "
        "(descope_raw is not touched)"
    ]


@pytest.mark.parametrize(("signum", "code"), [(2, 130), (15, 143)])
def test_an_interrupt_ends_the_live_progress_line_then_prints_one_line(in_process, monkeypatch, capsys, signum, code):
    import signal

    from descope_sync import interrupts
    from descope_sync.progress import Progress

    cli = in_process

    class Terminal:
        """stderr as a terminal shows it: the live line and the messages share it."""

        def write(self, text: str) -> None:
            sys.stderr.write(text)

        def flush(self) -> None:
            sys.stderr.flush()

        def isatty(self) -> bool:
            return True

    def run_extract(settings, *, streams, progress=None, **kwargs):
        progress.page("users", 10)
        os.kill(os.getpid(), signum)  # the CLI's handler raises where the run is
        raise AssertionError("the signal did not stop the run")

    monkeypatch.setattr(cli.run, "Progress", lambda: Progress(stream=Terminal()))
    monkeypatch.setattr(cli.run, "run_extract", run_extract)
    previous = signal.getsignal(signum)
    assert cli.main(["extract"]) == code
    assert signal.getsignal(signum) == previous  # the CLI's handlers are gone after it
    assert interrupts.received() is None  # and the signal with them: the next run in this process is not stopped
    name = signal.Signals(signum).name
    err = capsys.readouterr().err
    assert "users: 10 rows" in err  # the live line was drawn
    assert rendered(err)[-1] == (
        f"descope-sync: interrupted ({name}); committed progress is kept, the next run resumes from it"
    )


def rendered(text: str) -> list[str]:
    """The lines a terminal shows for `text`: a carriage return goes back to the line's start, ESC[K clears
    to its end, and what is written over a line replaces it."""
    lines = []
    for raw in text.rstrip("\n").split("\n"):
        cells: list[str] = []
        column = 0
        for part in re.split(r"(\r|\x1b\[K)", raw):
            if part == "\r":
                column = 0
            elif part == "\x1b[K":
                del cells[column:]
            else:
                for char in part:
                    cells[column : column + 1] = [char]
                    column += 1
        lines.append("".join(cells).rstrip())
    return lines
