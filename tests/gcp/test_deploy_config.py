"""The release build (cloudbuild.yaml), the dbt-only build (deploy/cloudbuild-dbt.yaml) and the one-time
setup script (deploy/setup.sh): parsed and checked, the script also run against stand-in gcloud and bq."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from descope_sync.build_trigger import DBT_TRIGGER_ENV, dbt_trigger
from descope_sync.config import DEFAULT_FUNCTION_MAX_SECONDS

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "cloudbuild.yaml"
DBT_ONLY = ROOT / "deploy" / "cloudbuild-dbt.yaml"
SETUP = ROOT / "deploy" / "setup.sh"
PREPARE = ROOT / "deploy" / "dbt-prepare.sh"
GATE = ROOT / "deploy" / "release-gate.sh"
BUILT_IN = {"PROJECT_ID", "PROJECT_NUMBER", "BUILD_ID", "LOCATION", "COMMIT_SHA", "SHORT_SHA", "BRANCH_NAME"}
PROJECT = "my-gcp"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def substituted(config: dict, text: str) -> str:
    """`text` with Cloud Build's substitutions applied (their defaults, PROJECT_ID=my-gcp), `$$` kept as `$`."""
    values = {"PROJECT_ID": PROJECT, "BUILD_ID": "b-1", **config.get("substitutions", {})}
    for _ in range(3):  # defaults may refer to other substitutions (dynamicSubstitutions)
        text = re.sub(r"(?<!\$)\$\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))), text)
    return text.replace("$$", "$")


def step_text(config: dict, step: dict) -> str:
    return substituted(config, " ".join([step.get("entrypoint", ""), *step.get("args", []), *step.get("env", [])]))


def steps(config: dict) -> dict[str, dict]:
    return {step["id"]: step for step in config["steps"]}


def flag(text: str, name: str) -> str:
    match = re.search(rf"--{name}=(\"[^\"]*\"|'[^']*'|\S+)", text)
    assert match, f"--{name} missing"
    return match.group(1).strip("\"'")


def seconds(value: str) -> int:
    assert value.endswith("s"), value
    return int(value[:-1])


# ---------------------------------------------------------------- cloudbuild.yaml


def test_the_release_runs_install_test_gate_deploy_schedule_then_dbt_in_that_order():
    config = load(RELEASE)
    ids = [step["id"] for step in config["steps"]]
    assert ids == ["install", "test", "release-gate", "deploy-function", "schedule", "dbt-prepare", "dbt-build"]
    by_id = steps(config)
    assert step_text(config, by_id["install"]).split() == ["make", "install"]
    assert step_text(config, by_id["test"]).split() == ["make", "test"]  # the README's test command
    # newest wins, decided after the tests (nothing held through them) and before anything is deployed
    assert "deploy/release-gate.sh" in step_text(config, by_id["release-gate"])
    assert "RELEASE_COMMIT=${COMMIT_SHA}" in by_id["release-gate"]["env"][-1].replace("_RELEASE_COMMIT", "COMMIT_SHA")
    assert "descope-release" in config["tags"]
    assert "dbt build --target bigquery" in step_text(config, by_id["dbt-build"])
    assert "deploy/dbt-prepare.sh" in step_text(config, by_id["dbt-prepare"])
    assert all("waitFor" not in step for step in config["steps"])  # strictly one after the other


def test_the_function_is_deployed_private_gen2_with_one_instance_and_a_timeout_above_its_budget():
    config = load(RELEASE)
    text = step_text(config, steps(config)["deploy-function"])
    assert text.startswith("gcloud functions deploy descope-bigquery-sync ")
    for expected in (
        "--gen2",
        "--runtime=python311",
        "--region=us-central1",
        "--source=extract",
        "--entry-point=descope_sync",
        "--trigger-http",
        "--no-allow-unauthenticated",
        f"--service-account=descope-sync-fn@{PROJECT}.iam.gserviceaccount.com",
        "--max-instances=1",
    ):
        assert expected in text.split(), expected
    assert "--allow-unauthenticated" not in text.split()
    timeout = seconds(flag(text, "timeout"))
    env = dict(item.split("=", 1) for item in flag(text, "update-env-vars").split(","))
    budget = float(env["DESCOPE_FUNCTION_MAX_SECONDS"])
    assert budget == DEFAULT_FUNCTION_MAX_SECONDS == 480 and timeout == 540 and budget < timeout
    assert env["GCP_PROJECT"] == PROJECT and env["DESCOPE_WAREHOUSE"] == "bigquery"
    assert env["GEOIP_DATABASE"].startswith("gs://")
    assert dbt_trigger({DBT_TRIGGER_ENV: env[DBT_TRIGGER_ENV]}).endswith("/triggers/descope-dbt")
    # the release records the commit it tested: the trigger's COMMIT_SHA (or the one setup.sh passes)
    assert env["DESCOPE_RELEASE_COMMIT"] == "${COMMIT_SHA}"
    assert not any("KEY" in name or "SECRET" in name for name in env)  # secrets are read at run time


def test_the_scheduler_job_is_created_or_updated_daily_at_2_utc_with_oidc_and_a_deadline_past_the_timeout():
    config = load(RELEASE)
    text = step_text(config, steps(config)["schedule"])
    deploy = step_text(config, steps(config)["deploy-function"])
    assert "gcloud scheduler jobs update http descope-sync-daily" in text
    assert "gcloud scheduler jobs create http descope-sync-daily" in text
    assert flag(text, "schedule") == "0 2 * * *" and flag(text, "time-zone") == "UTC"
    assert flag(text, "oidc-service-account-email") == f"descope-sync-invoker@{PROJECT}.iam.gserviceaccount.com"
    assert "--oidc-token-audience" in text and flag(text, "http-method") == "POST"
    assert seconds(flag(text, "attempt-deadline")) >= seconds(flag(deploy, "timeout"))
    assert int(flag(text, "max-retry-attempts")) >= 1
    assert seconds(flag(text, "min-backoff")) >= seconds(flag(deploy, "timeout"))  # a retry never overlaps a run


def test_the_dbt_only_build_checks_its_commit_waits_for_older_dbt_builds_then_builds_on_bigquery():
    config = load(DBT_ONLY)
    assert [step["id"] for step in config["steps"]] == ["release-commit", "dbt-prepare", "install", "dbt-build"]
    assert "dbt build --target bigquery" in step_text(config, steps(config)["dbt-build"])
    for path in (RELEASE, DBT_ONLY):
        assert "descope-dbt" in load(path)["tags"]  # what dbt-prepare.sh waits on
    assert re.search(r"--build-config=deploy/cloudbuild-dbt.yaml", SETUP.read_text())


@pytest.mark.parametrize("path", [RELEASE, DBT_ONLY], ids=["cloudbuild.yaml", "cloudbuild-dbt.yaml"])
def test_every_substitution_is_declared_used_and_escaped(path):
    config = load(path)
    declared = set(config.get("substitutions", {}))
    text = json.dumps(config).replace("$$", "")  # what Cloud Build reads: comments are not
    used = set(re.findall(r"\$\{(\w+)\}", text)) | set(re.findall(r"\$([A-Za-z_]\w*)", text))
    assert used - declared - BUILT_IN == set(), "an unknown $VARIABLE (shell variables need $$)"
    assert declared - used == set(), "a declared substitution is never used"
    assert {"_REGION"} <= declared
    assert config["options"]["dynamicSubstitutions"] is True  # defaults refer to ${PROJECT_ID}
    assert config["options"]["logging"] == "CLOUD_LOGGING_ONLY"  # required with a user service account
    if path == RELEASE:
        assert {"_FUNCTION_SA", "_SCHEDULER_SA", "_BUILD_SA"} <= declared


SECRET_LITERALS = [
    r"K2[A-Za-z0-9_-]{16,}",  # a Descope management key
    r"-----BEGIN",
    r"private_key",
    r"DESCOPE_MANAGEMENT_KEY\s*[=:]",
    r"DESCOPE_PROJECT_ID\s*[=:]",
    r"--set-secrets",  # values are read at run time, never pinned into the environment
    r"secretEnv",
]


@pytest.mark.parametrize("path", [RELEASE, DBT_ONLY, SETUP, PREPARE, GATE], ids=lambda p: p.name)
def test_no_secret_literal_is_in_the_build_or_deploy_files(path):
    text = path.read_text()
    for pattern in SECRET_LITERALS:
        if path == SETUP and pattern.startswith("DESCOPE_"):
            continue  # setup.sh reads them from its environment, checked below
        assert not re.search(pattern, text), pattern


RELEASED = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad"
HEAD = "ffffffffffffffffffffffffffffffffffffffff"


def run_release_commit_step(release_commit: str, commit_sha: str) -> subprocess.CompletedProcess:
    """The dbt build's first step as Cloud Build runs it: substitutions applied, `$$` as `$`."""
    config = load(DBT_ONLY)
    script = steps(config)["release-commit"]["args"][-1]
    values = {"_RELEASE_COMMIT": release_commit, "COMMIT_SHA": commit_sha}
    script = re.sub(r"(?<!\$)\$\{(\w+)\}", lambda m: values[m.group(1)], script).replace("$$", "$")
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True)


@pytest.mark.parametrize(
    ("release_commit", "commit_sha", "ok"),
    [
        (RELEASED, RELEASED, True),
        (RELEASED, HEAD, False),  # the trigger built the branch's head, not the release
        ("", HEAD, False),  # run by hand without the release's commit
        ("main", "main", False),  # a branch name is not a commit
    ],
)
def test_the_dbt_build_refuses_any_commit_but_the_released_one(release_commit, commit_sha, ok):
    result = run_release_commit_step(release_commit, commit_sha)
    assert (result.returncode == 0) is ok, result.stderr
    if not ok:
        assert "refusing" in result.stderr or "not building an untested head" in result.stderr


# ---------------------------------------------------------------- deploy/setup.sh


@pytest.mark.parametrize("path", [SETUP, PREPARE, GATE], ids=lambda p: p.name)
def test_the_scripts_parse_pass_shellcheck_and_stop_on_any_error(path):
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    result = subprocess.run([shellcheck, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    code = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert code[0] == "set -euo pipefail"
    assert os.access(path, os.X_OK)


def test_setup_never_echoes_into_gcloud_secrets_and_grants_no_editor_or_owner():
    text = SETUP.read_text()
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if re.search(r"\becho\b", line) and "secrets" in line]
    adds = [line for line in code if "secrets versions add" in line]
    assert adds and all(re.search(r"printf '%s' \"\$\w+\" \| g secrets versions add", line) for line in adds)
    assert not re.search(r"roles/(editor|owner)\b", text)


FAKE = r"""#!{python}
import json, os, sys
name = os.path.basename(sys.argv[0])
args = sys.argv[1:]
record = {{"tool": name, "args": args}}
if name == "gcloud" and "versions" in args and "add" in args:
    record["stdin"] = sys.stdin.read()
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(record) + "\n")
exists = os.environ.get("FAKE_EXISTS") == "1"
words = [a for a in args if not a.startswith("-")]
if name == "gcloud" and words[:2] == ["projects", "describe"]:
    print("123456789012")  # --format='value(projectNumber)'
    sys.exit(0)
if name == "gcloud" and words[:2] == ["projects", "get-iam-policy"]:
    # --flatten=bindings[].members --filter=bindings.members:<member> --format=value(bindings.role)
    member = [a for a in args if a.startswith("--filter=")][0].split("bindings.members:", 1)[1]
    for binding in json.loads(os.environ.get("FAKE_POLICY", "[]")):
        if binding["member"] == member:
            print(binding["role"])
    sys.exit(0)
if name == "gcloud" and "describe" in words:
    sys.exit(0 if exists else 1)
if name == "bq" and "show" in words:
    sys.exit(0 if exists else 1)
if name == "gcloud" and "versions" in words and "list" in words:
    print("projects/p/secrets/s/versions/1" if exists else "")
if name == "gcloud" and "access" in words:
    secret = [a for a in args if a.startswith("--secret=")][0].split("=", 1)[1]
    sys.stdout.write(os.environ["FAKE_VALUES_" + secret.replace("-", "_")])
"""

LEGACY = "serviceAccount:123456789012@cloudbuild.gserviceaccount.com"


def checkout(tmp_path: Path, dirty: bool = False) -> tuple[Path, str]:
    """A clean git checkout holding the deploy files (setup.sh releases its commit); (its setup.sh, HEAD)."""
    repo = tmp_path / "repo"
    (repo / "deploy").mkdir(parents=True, exist_ok=True)
    for source in (SETUP, RELEASE, DBT_ONLY, PREPARE, GATE):
        target = repo / source.relative_to(ROOT)
        shutil.copy2(source, target)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "release"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    if dirty:
        (repo / "cloudbuild.yaml").write_text("# an untested change\n", encoding="utf-8")
    return repo / "deploy" / "setup.sh", head


def run_setup(
    tmp_path: Path, exists: bool, *, policy: list[dict] | None = None, dirty: bool = False, **extra: str
) -> tuple[subprocess.CompletedProcess, list[dict]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("gcloud", "bq"):
        fake = bin_dir / tool
        fake.write_text(FAKE.format(python=sys.executable))
        fake.chmod(0o755)
    script, head = checkout(tmp_path, dirty=dirty)
    log = tmp_path / f"calls-{exists}.jsonl"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FAKE_LOG": str(log),
        "FAKE_EXISTS": "1" if exists else "0",
        "FAKE_POLICY": json.dumps(policy or []),
        "GCP_PROJECT": PROJECT,
        "DESCOPE_PROJECT_ID": "P2setupProject",
        "DESCOPE_MANAGEMENT_KEY": "K2setup-management-key-0123456789",
        "FAKE_VALUES_descope_project_id": "P2setupProject",
        "FAKE_VALUES_descope_management_key": "K2setup-management-key-0123456789",
        "CLOUDBUILD_REPOSITORY": f"projects/{PROJECT}/locations/us-central1/connections/gh/repositories/descope-sync",
        "GEOIP_FILE": "/data/GeoLite2-City.mmdb",
        **extra,
    }
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    result.head = head  # type: ignore[attr-defined]
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


def words(call: dict) -> list[str]:
    """The call's arguments without its flags (gcloud gets --project and --quiet first)."""
    return [arg for arg in call["args"] if not arg.startswith("-")]


def commands(calls: list[dict]) -> list[str]:
    return [" ".join([call["tool"], *call["args"]]) for call in calls]


def test_setup_creates_grants_least_privilege_stores_secrets_without_a_newline_and_deploys(tmp_path):
    result, calls = run_setup(tmp_path, exists=False)
    assert result.returncode == 0, result.stderr
    text = "\n".join(commands(calls))
    key = "K2setup-management-key-0123456789"
    assert key not in text and key not in result.stdout + result.stderr  # never on a command line or printed

    [stored_key] = [c["stdin"] for c in calls if "descope-management-key" in c["args"] and "add" in c["args"]]
    assert stored_key == key  # exactly the value: no trailing newline
    assert "services enable" in text and "cloudscheduler.googleapis.com" in text

    for dataset in ("descope_raw", "descope_staging", "descope_data_v2"):
        assert f"--location=US mk --dataset {PROJECT}:{dataset}" in text
    grants = re.findall(r"GRANT `([^`]+)` ON SCHEMA `[^.]+\.(\w+)` TO \"serviceAccount:([^@]+)@", text)
    assert ("roles/bigquery.dataEditor", "descope_raw", "descope-sync-fn") in grants
    assert ("roles/bigquery.dataEditor", "descope_data_v2", "descope-sync-dbt") in grants
    # the function writes the landing dataset and nothing else
    assert [(role, dataset) for role, dataset, who in grants if who == "descope-sync-fn"] == [
        ("roles/bigquery.dataEditor", "descope_raw")
    ]

    project_roles = [
        (flag_value(c, "--role"), flag_value(c, "--member"))
        for c in calls
        if words(c)[:2] == ["projects", "add-iam-policy-binding"]
    ]
    roles = {role for role, _ in project_roles}
    never_project_wide = {
        "roles/editor",
        "roles/owner",
        "roles/bigquery.dataEditor",
        "roles/bigquery.admin",
        "roles/secretmanager.secretAccessor",
        "roles/secretmanager.admin",
        "roles/run.invoker",
        "roles/iam.serviceAccountUser",
        "roles/storage.objectViewer",
    }
    never_project_wide |= {
        "roles/cloudbuild.builds.editor",  # the function needs only cloudbuild.builds.create
        "roles/cloudbuild.builds.builder",  # writes every bucket
        "roles/cloudbuild.builds.viewer",
        "roles/cloudfunctions.viewer",  # every function's environment
        "roles/storage.admin",
        "roles/storage.objectAdmin",
        "roles/storage.objectCreator",
    }
    assert not roles & never_project_wide
    fn = f"serviceAccount:descope-sync-fn@{PROJECT}.iam.gserviceaccount.com"
    dbt = f"serviceAccount:descope-sync-dbt@{PROJECT}.iam.gserviceaccount.com"
    deployer = f"serviceAccount:descope-sync-deployer@{PROJECT}.iam.gserviceaccount.com"
    starter = f"projects/{PROJECT}/roles/descopeSyncBuildStarter"
    reader = f"projects/{PROJECT}/roles/descopeSyncBuildReader"
    # the function: BigQuery jobs, and starting builds: the custom role's one permission
    assert sorted(role for role, who in project_roles if who == fn) == sorted(["roles/bigquery.jobUser", starter])
    custom = {words(c)[3]: flag_value(c, "--permissions") for c in calls if words(c)[:3] == ["iam", "roles", "create"]}
    assert custom == {
        "descopeSyncBuildStarter": "cloudbuild.builds.create",
        "descopeSyncBuildReader": "cloudbuild.builds.get,cloudbuild.builds.list",
    }
    assert (reader, dbt) in project_roles and (reader, deployer) in project_roles
    # the dbt builds read the one function's settings, granted on that function
    [viewer] = [c for c in calls if words(c)[:2] == ["functions", "add-iam-policy-binding"]]
    assert words(viewer)[2] == "descope-bigquery-sync"
    assert (flag_value(viewer, "--member"), flag_value(viewer, "--role")) == (dbt, "roles/cloudfunctions.viewer")
    # buckets: read-only grants, each on one bucket; the deployer writes none
    bucket_grants = [
        (words(c)[3], flag_value(c, "--member"), flag_value(c, "--role"))
        for c in calls
        if words(c)[:3] == ["storage", "buckets", "add-iam-policy-binding"]
    ]
    assert {role for _, _, role in bucket_grants} == {"roles/storage.objectViewer"}
    assert sorted(bucket for bucket, who, _ in bucket_grants if who == deployer) == sorted(
        [f"gs://{PROJECT}_cloudbuild", "gs://gcf-v2-sources-123456789012-us-central1"]
    )

    secret_grants = [c for c in calls if words(c)[:2] == ["secrets", "add-iam-policy-binding"]]
    assert sorted(words(c)[2] for c in secret_grants) == ["descope-management-key", "descope-project-id"]
    assert all(flag_value(c, "--role") == "roles/secretmanager.secretAccessor" for c in secret_grants)

    [invoker] = [c for c in calls if words(c)[:2] == ["functions", "add-invoker-policy-binding"]]
    assert words(invoker)[2] == "descope-bigquery-sync"
    assert flag_value(invoker, "--member") == f"serviceAccount:descope-sync-invoker@{PROJECT}.iam.gserviceaccount.com"

    triggers = [c for c in calls if words(c)[:3] == ["builds", "triggers", "create"]]
    assert sorted(flag_value(c, "--name") for c in triggers) == ["descope-dbt", "descope-sync-deploy"]
    [submit] = [c for c in calls if words(c)[:2] == ["builds", "submit"]]
    assert flag_value(submit, "--config") == "cloudbuild.yaml"
    assert f"_RELEASE_COMMIT={result.head}" in flag_value(submit, "--substitutions").split(",")
    assert calls.index(submit) < calls.index(invoker)  # the invoker binding needs the deployed function
    assert calls.index(submit) < calls.index(viewer)
    assert not [c for c in calls if "remove-iam-policy-binding" in c["args"]]


LEGACY_ROLES = ["roles/cloudbuild.builds.builder", "roles/editor"]


def test_setup_stops_while_the_legacy_cloud_build_account_holds_roles(tmp_path):
    policy = [{"member": LEGACY, "role": role} for role in LEGACY_ROLES]
    result, calls = run_setup(tmp_path, exists=False, policy=policy)
    assert result.returncode == 1
    assert "123456789012@cloudbuild.gserviceaccount.com" in result.stderr
    assert all(role in result.stderr for role in LEGACY_ROLES)
    assert "STRIP_LEGACY_CLOUDBUILD_ROLES=1" in result.stderr
    # nothing was created, granted or removed
    assert [words(c)[:2] for c in calls] == [["projects", "describe"], ["projects", "get-iam-policy"]]


def test_setup_strips_the_legacy_roles_only_when_told_and_says_so_first(tmp_path):
    policy = [{"member": LEGACY, "role": role} for role in LEGACY_ROLES]
    policy.append({"member": "user:someone@example.com", "role": "roles/owner"})
    result, calls = run_setup(tmp_path, exists=False, policy=policy, STRIP_LEGACY_CLOUDBUILD_ROLES="1")
    assert result.returncode == 0, result.stderr
    removed = [c for c in calls if words(c)[:2] == ["projects", "remove-iam-policy-binding"]]
    assert [(flag_value(c, "--member"), flag_value(c, "--role")) for c in removed] == [
        (LEGACY, role) for role in LEGACY_ROLES
    ]  # exactly the legacy account's roles, no one else's
    assert "removing each of them" in result.stderr and all(role in result.stderr for role in LEGACY_ROLES)
    assert calls.index(removed[-1]) < min(i for i, c in enumerate(calls) if "services" in c["args"])


def test_setup_refuses_to_release_a_checkout_with_uncommitted_changes(tmp_path):
    result, calls = run_setup(tmp_path, exists=False, dirty=True)
    assert result.returncode == 1
    assert "uncommitted changes" in result.stderr
    assert not [c for c in calls if words(c)[:2] in (["services", "enable"], ["builds", "submit"])]


def test_setup_run_again_creates_nothing_and_adds_no_secret_version(tmp_path):
    result, calls = run_setup(tmp_path, exists=True)
    assert result.returncode == 0, result.stderr
    text = "\n".join(commands(calls))
    for created in ("service-accounts create", "secrets create", "mk --dataset", "buckets create", "triggers create"):
        assert created not in text, created
    assert not [c for c in calls if "versions" in c["args"] and "add" in c["args"]]


def flag_value(call: dict, name: str) -> str:
    for arg in call["args"]:
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} missing in {call['args']}")


def test_the_function_source_declares_every_runtime_dependency():
    import tomllib

    def name(requirement: str) -> str:
        return re.split(r"[<>=~!\[; ]", requirement.strip(), maxsplit=1)[0].lower()

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {name(r) for r in project["dependencies"] + project["optional-dependencies"]["bigquery"]}
    lines = (ROOT / "extract" / "requirements.txt").read_text().splitlines()
    declared = {name(line) for line in lines if line.strip() and not line.startswith("#")}
    assert needed <= declared, needed - declared
    assert not declared & {"dbt-core", "dbt-bigquery", "dbt-duckdb"}  # dbt runs in Cloud Build, not in the function


def test_every_cloud_build_dbt_step_checks_source_freshness_then_builds_and_fails_on_an_error():
    for path in (RELEASE, DBT_ONLY):
        config = load(path)
        script = substituted(config, steps(config)["dbt-build"]["args"][-1])  # Cloud Build's $$ is bash's $
        lines = [line.strip() for line in script.splitlines() if line.strip() and not line.strip().startswith("#")]
        freshness = next(i for i, line in enumerate(lines) if "dbt source freshness --target bigquery" in line)
        build = next(i for i, line in enumerate(lines) if "dbt build --target bigquery" in line)
        assert freshness < build and lines[freshness].endswith("|| fresh=$?"), path
        assert lines[-1] == 'exit "$fresh"', path


# ---------------------------------------------------------------- deploy/release-gate.sh

FAKE_BUILDS = r"""#!{python}
# gcloud builds describe/list over the builds in $FAKE_BUILDS (a JSON list), evaluating the filters
# release-gate.sh sends (clauses joined by AND: field=value, field!=value, field>"v", field<"v", tags:t).
import json, os, re, sys
args = sys.argv[1:]
path = os.environ["FAKE_BUILDS"]
builds = json.load(open(path))
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
words = [a for a in args if not a.startswith("-")]
flags = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
ONGOING = {{"QUEUED", "WORKING", "PENDING"}}
if words[:2] == ["builds", "describe"]:
    [build] = [b for b in builds if b["id"] == words[2]]
    if flags.get("format") == "json":
        print(json.dumps({{"id": build["id"], "steps": [{{"id": "release-gate", "status": build["gate"]}}]}}))
    else:
        print(build["createTime"])
    sys.exit(0)
if words[:2] == ["builds", "list"]:
    def match(build, clause):
        if clause.startswith("tags:"):
            return clause[5:] in build["tags"]
        field, op, value = re.fullmatch(r'(\w+)(!=|=|>|<)"?([^"]*)"?', clause).groups()
        have = {{"createTime": build["createTime"], "status": build["status"], "id": build["id"]}}[field]
        return {{"=": have == value, "!=": have != value, ">": have > value, "<": have < value}}[op]
    clauses = [c.strip() for c in flags.get("filter", "").split(" AND ")]
    for build in builds:
        if build.get("appears_after"):  # not created yet
            continue
        if "--ongoing" in args and build["status"] not in ONGOING:
            continue
        if all(match(build, c) for c in clauses):
            print(build["id"])
    # time passes: an older release that is deploying finishes after its polls, a newer one is pushed
    for build in builds:
        if build.get("appears_after"):
            build["appears_after"] -= 1
        if build.get("finishes_after") is not None:
            build["finishes_after"] -= 1
            if build["finishes_after"] <= 0:
                build["status"], build["finishes_after"] = "SUCCESS", None
    json.dump(builds, open(path, "w"))
    sys.exit(0)
sys.exit(2)
"""


def build(id: str, minute: int, status: str = "WORKING", gate: str = "QUEUED", **extra) -> dict:
    return {
        "id": id,
        "createTime": f"2026-12-07T10:{minute:02d}:00Z",
        "status": status,
        "gate": gate,
        "tags": ["descope-sync", "descope-dbt", "descope-release"],
        **extra,
    }


def run_gate(tmp_path: Path, builds: list[dict], commit: str = RELEASED) -> tuple[subprocess.CompletedProcess, list]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "gcloud"
    fake.write_text(FAKE_BUILDS.format(python=sys.executable))
    fake.chmod(0o755)
    state, log = tmp_path / "builds.json", tmp_path / "gate-calls.jsonl"
    state.write_text(json.dumps(builds))
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "FAKE_BUILDS": str(state),
        "FAKE_LOG": str(log),
        "PROJECT_ID": PROJECT,
        "BUILD_ID": "me",
        "REGION": "us-central1",
        "RELEASE_COMMIT": commit,
        "POLL_SECONDS": "0",
        "WAIT_SECONDS": "30",
    }
    result = subprocess.run(["bash", str(GATE)], env=env, capture_output=True, text=True)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


ME = build("me", 30, gate="WORKING")


def test_the_only_release_deploys(tmp_path):
    result, _ = run_gate(tmp_path, [build("old", 10, status="SUCCESS", gate="SUCCESS"), ME])
    assert result.returncode == 0, result.stderr
    assert "the newest release, deploying" in result.stdout


@pytest.mark.parametrize("status", ["QUEUED", "WORKING", "SUCCESS"])
def test_a_newer_release_that_has_not_failed_supersedes_this_one(tmp_path, status):
    result, _ = run_gate(tmp_path, [ME, build("newer", 40, status=status)])
    assert result.returncode == 1
    assert "superseded by the newer release build(s) newer" in result.stderr


@pytest.mark.parametrize("status", ["FAILURE", "CANCELLED", "TIMEOUT"])
def test_a_newer_release_that_failed_does_not_stop_this_one(tmp_path, status):
    result, _ = run_gate(tmp_path, [ME, build("newer", 40, status=status)])
    assert result.returncode == 0, result.stderr


def test_an_older_release_still_deploying_is_waited_for(tmp_path):
    older = build("older", 20, gate="SUCCESS", finishes_after=6)
    result, _ = run_gate(tmp_path, [older, ME])
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("waiting for the older release build(s) still deploying: older") >= 2
    assert "the newest release, deploying" in result.stdout


def test_an_older_release_still_testing_is_not_waited_for(tmp_path):
    # no lock through `make test`: its own gate will find this newer release and stop it
    result, _ = run_gate(tmp_path, [build("older", 20, gate="QUEUED"), ME])
    assert result.returncode == 0, result.stderr
    assert "waiting" not in result.stdout


def test_a_newer_release_pushed_while_this_one_waits_wins(tmp_path):
    older = build("older", 20, gate="SUCCESS", finishes_after=50)
    newer = build("newer", 40, status="QUEUED", appears_after=4)
    result, _ = run_gate(tmp_path, [older, ME, newer])
    assert result.returncode == 1
    assert "waiting for the older release" in result.stdout  # it was waiting when the newer one came
    assert "superseded by the newer release build(s) newer" in result.stderr


@pytest.mark.parametrize("commit", ["", "main", RELEASED[:12], RELEASED.upper()])
def test_a_release_without_its_full_commit_does_not_deploy(tmp_path, commit):
    result, calls = run_gate(tmp_path, [ME], commit=commit)
    assert result.returncode == 1
    assert "no release commit" in result.stderr
    assert calls == []
