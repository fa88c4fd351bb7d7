"""Settings from ./.env: beneath the environment and the flags; values never printed."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import query


def _cli(args, cwd, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_") and k != "DUCKDB_PATH"}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "descope_sync.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _env_file(sim, duckdb_path: str) -> str:
    return (
        "# local settings\n"
        f"export DESCOPE_PROJECT_ID={sim.project_id}\n"
        f'DESCOPE_MANAGEMENT_KEY="{sim.management_key}"\n'
        f"DESCOPE_BASE_URL='{sim.base_url}'\n"
        f"DUCKDB_PATH={duckdb_path}\n"
    )


def _users(db) -> int:
    return query(db, "select count(*) from descope_raw.users")[0][0]


def test_an_extract_reads_its_credentials_from_dot_env_and_never_prints_them(simulator, tmp_path):
    sim = simulator(users=25)
    (tmp_path / ".env").write_text(_env_file(sim, "from-dotenv.duckdb"))
    result = _cli(["-v", "extract", "--streams", "users"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _users(tmp_path / "from-dotenv.duckdb") == 25
    assert sim.management_key not in result.stdout + result.stderr
    assert "DESCOPE_MANAGEMENT_KEY" in result.stderr  # -v names what came from the file, never a value


def test_the_environment_wins_over_dot_env_and_a_flag_wins_over_both(simulator, tmp_path):
    sim = simulator(users=10)
    (tmp_path / ".env").write_text(_env_file(sim, "file.duckdb"))
    by_env = _cli(["extract", "--streams", "users"], tmp_path, {"DUCKDB_PATH": str(tmp_path / "env.duckdb")})
    assert by_env.returncode == 0, by_env.stderr
    assert (tmp_path / "env.duckdb").exists() and not (tmp_path / "file.duckdb").exists()
    by_flag = _cli(
        ["extract", "--streams", "users", "--duckdb-path", "flag.duckdb"],
        tmp_path,
        {"DUCKDB_PATH": str(tmp_path / "env.duckdb")},
    )
    assert by_flag.returncode == 0, by_flag.stderr
    assert _users(tmp_path / "flag.duckdb") == 10 and not (tmp_path / "file.duckdb").exists()


def test_env_file_names_another_file_before_or_after_the_command(simulator, tmp_path):
    sim = simulator(users=10)
    (tmp_path / "staging.env").write_text(_env_file(sim, "staging.duckdb"))
    for argv in (["--env-file", "staging.env", "extract"], ["extract", "--env-file", "staging.env"]):
        result = _cli([*argv, "--streams", "users"], tmp_path)
        assert result.returncode == 0, result.stderr
    runs = query(tmp_path / "staging.duckdb", "select count(distinct run_id) from descope_raw._sync_runs")[0][0]
    assert runs == 2 and _users(tmp_path / "staging.duckdb") == 10

    missing = _cli(["--env-file", "nope.env", "status"], tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "descope-sync: error: --env-file nope.env: no such file"


def test_no_dot_env_no_change(tmp_path):
    result = _cli(["extract"], tmp_path)
    assert result.returncode == 1 and "set DESCOPE_PROJECT_ID" in result.stderr
