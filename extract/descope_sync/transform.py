"""dbt invocation (dbtRunner, in-process). Nothing dbt-specific lives anywhere else.

Targets (profiles.yml at the project root): `local`, a DuckDB file (DUCKDB_PATH); `bigquery`, the project
GCP_PROJECT with application-default credentials (BQ_AUTH_METHOD / BQ_KEYFILE for a key file),
datasets DESCOPE_RAW_DATASET / DESCOPE_STAGING_DATASET / DESCOPE_MARTS_DATASET and BQ_LOCATION,
all with defaults but the project. With BIGQUERY_EMULATOR_HOST set, the `bigquery` target talks
to that emulator with a dummy token: GCP_PROJECT and BIGQUERY_EMULATOR_HOST are all it needs.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from descope_sync import interrupts
from descope_sync.errors import ConfigError, SyncError

log = logging.getLogger(__name__)

# How dbt reports an env_var() without a default that is not set (e.g. GCP_PROJECT for `bigquery`).
_MISSING_ENV_VAR = re.compile(r"Env var required but not provided: '([^']+)'")


def project_dir() -> Path:
    """The dbt project: DBT_PROJECT_DIR, else the repository this package was installed from."""
    configured = os.environ.get("DBT_PROJECT_DIR")
    path = Path(configured) if configured else Path(__file__).resolve().parents[2]
    if not (path / "dbt_project.yml").exists():
        raise ConfigError(f"no dbt_project.yml in {path}: set DBT_PROJECT_DIR to the descope-sync checkout")
    return path


def target_dir(project: Path) -> Path:
    """Where dbt writes its artifacts: DBT_TARGET_PATH (relative to the project), else `target/`."""
    return project / os.environ.get("DBT_TARGET_PATH", "target")


def profiles_dir(project: Path) -> Path:
    """DBT_PROFILES_DIR when it holds a profiles.yml, else the project root's profiles.yml (where dbt looks first)."""
    configured = os.environ.get("DBT_PROFILES_DIR")
    if configured and (Path(configured) / "profiles.yml").exists():
        return Path(configured)
    return project


FRESHNESS = "source freshness"


def _freshness_message(node_result: object) -> str:
    """What a `dbt source freshness` result says: when the source was last loaded, and how long ago."""
    age = getattr(node_result, "age", None)
    loaded = getattr(node_result, "max_loaded_at", None)
    criteria = getattr(getattr(node_result.node, "freshness", None), "error_after", None)  # type: ignore[attr-defined]
    if age is None or loaded is None:
        return ""
    if loaded.year < 1970:  # dbt's stand-in when no row matches
        return "never loaded"
    error_after = f" (error after {criteria.count} {criteria.period}s)" if criteria and criteria.count else ""
    return f"last loaded {loaded:%Y-%m-%d %H:%M} UTC, {age / 3600:.1f} hours ago{error_after}"


@dataclass
class DbtOutcome:
    command: str
    success: bool
    counts: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    failed_nodes: list[str] = field(default_factory=list)  # names of the models and tests that failed
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "command": self.command,
            "success": self.success,
            "counts": dict(self.counts),
            "failures": self.failures,
            "warnings": self.warnings,
        }


def run_dbt(
    command: str = "build",
    *,
    target: str = "local",
    full_refresh: bool = False,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    extra_args: Sequence[str] = (),
    duckdb_path: str | os.PathLike[str] | None = None,
    quiet: bool = True,
    unit_tests: bool = True,
) -> DbtOutcome:
    """`dbt <command>` in this process. `unit_tests=False` leaves dbt's unit tests out of a build: they
    test the models' SQL on fixtures, not the data, so production builds skip them (CI runs them)."""
    try:
        from dbt.cli.main import dbtRunner
    except ImportError as exc:
        raise ConfigError("dbt is not installed: pip install 'descope-sync[dbt]' (make install does)") from exc
    project = project_dir()
    args = [
        *command.split(),  # e.g. "source freshness"
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(profiles_dir(project)),
        "--target",
        target,
    ]
    if full_refresh:
        args.append("--full-refresh")
    for item in select:
        args += ["--select", item]
    for item in exclude:
        args += ["--exclude", item]
    if not unit_tests and command in ("build", "test"):
        args += ["--exclude-resource-type", "unit_test"]
    if quiet:
        args = ["--quiet", "--no-use-colors", *args]
    args += list(extra_args)
    if duckdb_path is not None:
        os.environ["DUCKDB_PATH"] = str(duckdb_path)
    log.info("dbt %s --target %s%s", command, target, " --full-refresh" if full_refresh else "")
    result = dbtRunner().invoke(args)
    interrupts.reraise_if_interrupted(result.exception)  # dbt returns a Ctrl-C as a failed result
    outcome = DbtOutcome(command=command, success=bool(result.success))
    if result.exception is not None:
        missing = _MISSING_ENV_VAR.search(str(result.exception))
        if missing:
            raise ConfigError(
                f"dbt --target {target} needs the environment variable {missing.group(1)} "
                "(profiles.yml says what each target reads)"
            )
        raise SyncError(f"dbt {command} could not run: {result.exception}")
    for node_result in getattr(result.result, "results", None) or []:
        status = str(getattr(node_result.status, "value", node_result.status))
        resource = getattr(node_result.node, "resource_type", "node")
        resource = str(getattr(resource, "value", resource))
        if resource == "exposure":
            continue  # the marts' consumers (dbt_project/marts/_exposures.yml): a build does nothing to them
        outcome.counts[f"{resource}:{status}"] += 1
        name = getattr(node_result.node, "name", "?")
        message = (node_result.message or "").strip() or _freshness_message(node_result)
        if status in ("error", "fail", "runtime error"):
            outcome.failures.append(f"{resource} {name}: {message}"[:500])
            outcome.failed_nodes.append(name)
        elif status == "warn":
            outcome.warnings.append(f"{resource} {name}: {message}"[:500])
    return outcome
