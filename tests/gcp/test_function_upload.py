"""The Cloud Function's upload: what cloudbuild.yaml deploys (--source=extract), filtered by the source's
.gcloudignore, is exactly main.py, requirements.txt and the descope_sync package's modules (no simulator,
tests, egg-info, caches or .env), and everything the function imports is in it."""

from __future__ import annotations

import ast
import json
import os
import posixpath
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from descope_sync.contract import STREAMS
from tests.gcp.gcloudignore import IGNORE_FILE, uploaded_files

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "descope_sync"
SIMULATOR = "descope_sim"


def function_source() -> Path:
    config = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    (step,) = [step for step in config["steps"] if step["id"] == "deploy-function"]
    (source,) = [arg.split("=", 1)[1] for arg in step["args"] if arg.startswith("--source=")]
    return ROOT / source


SOURCE = function_source()
PACKAGE_MODULES = {
    path.relative_to(SOURCE).as_posix() for path in (SOURCE / PACKAGE).rglob("*.py") if "__pycache__" not in path.parts
}
EXPECTED = {"main.py", "requirements.txt"} | PACKAGE_MODULES
PACKAGE_FOLDERS = {posixpath.dirname(name) + "/" for name in PACKAGE_MODULES}

# What a build (make install, make test), a developer or a mistake leaves in the source folder.
LEFT_BEHIND = {
    "__pycache__/main.cpython-311.pyc": "",
    f"{PACKAGE}/__pycache__/cli.cpython-311.pyc": "",
    f"{PACKAGE}/streams/__pycache__/base.cpython-311.pyc": "",
    f"{PACKAGE}/landing/duckdb.pyc": "",
    f"{PACKAGE}.egg-info/PKG-INFO": "Name: descope-sync\n",
    f"{PACKAGE}.egg-info/SOURCES.txt": "",
    ".env": "DESCOPE_MANAGEMENT_KEY=K2-never-uploaded\n",
    f"simulator/{SIMULATOR}/server.py": "",
    f"{SIMULATOR}/server.py": "",
    "tests/test_main.py": "",
    ".pytest_cache/README.md": "",
    "build/lib/descope_sync/cli.py": "",
}


@pytest.fixture
def cluttered(tmp_path: Path) -> Path:
    """A copy of the function's source with everything in LEFT_BEHIND added."""
    copy = tmp_path / "source"
    shutil.copytree(SOURCE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]"))
    for name, text in LEFT_BEHIND.items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_text(text)
    return copy


@pytest.fixture
def upload(tmp_path: Path) -> Path:
    """The upload on its own: only the files gcloud sends, in a folder of their own."""
    folder = tmp_path / "upload"
    for name in uploaded_files(SOURCE):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SOURCE / name, folder / name)
    return folder


def test_the_upload_is_main_requirements_and_the_package_modules():
    assert (SOURCE / IGNORE_FILE).is_file()  # without it gcloud uploads the folder whole
    assert PACKAGE_MODULES and f"{PACKAGE}/__init__.py" in PACKAGE_MODULES
    uploaded = uploaded_files(SOURCE)
    assert uploaded == EXPECTED, f"unexpected {sorted(uploaded - EXPECTED)}, missing {sorted(EXPECTED - uploaded)}"


def test_what_a_build_or_a_developer_leaves_in_the_source_is_not_uploaded(cluttered):
    uploaded = uploaded_files(cluttered, folders=True)
    expected = EXPECTED | PACKAGE_FOLDERS  # and no empty __pycache__/ either
    assert uploaded == expected, f"unexpected {sorted(uploaded - expected)}, missing {sorted(expected - uploaded)}"


def test_the_simulator_lives_outside_the_function_source():
    import descope_sim

    simulator = Path(descope_sim.__file__).resolve().parent
    assert SOURCE.resolve() not in simulator.parents
    # nor was it moved back into the package: no folder of the upload is the simulator's
    assert not [name for name in EXPECTED if {"simulator", SIMULATOR} & set(name.split("/")[:-1])]


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="the Cloud SDK is not installed")
def test_our_reading_of_gcloudignore_lists_what_gcloud_itself_lists(cluttered, tmp_path):
    env = {**os.environ, "CLOUDSDK_CONFIG": str(tmp_path / "gcloud-config"), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
    listed = subprocess.run(
        ["gcloud", "meta", "list-files-for-upload", str(cluttered)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    assert set(listed) == uploaded_files(cluttered)


# ---------------------------------------------------------------- what the function imports


def modules_in(folder: Path) -> dict[str, Path]:
    """Module name -> file, for every Python file in the folder."""
    modules = {}
    for path in folder.rglob("*.py"):
        parts = path.relative_to(folder).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imports_of(name: str, path: Path) -> list[tuple[str, bool, bool]]:
    """(module, certain, at module level) for each import in the file, lazy ones in functions included.
    `from a import b` names a.b too, not certain: b may be an attribute of a."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, bool, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name, True, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.rsplit(".", child.level - 1)[0] if child.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                found.append((base, True, top))
                found.extend((f"{base}.{alias.name}", False, top) for alias in child.names)
            visit(child, top and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(ast.parse(path.read_text()), True)
    return found


def first_party(module: str) -> bool:
    return module.split(".")[0] in {"main", PACKAGE, SIMULATOR}


def with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def test_every_module_the_upload_imports_is_in_it_and_the_function_never_reaches_the_simulator(upload):
    modules = modules_in(upload)
    missing, simulator_at_import = [], []
    reached, todo = set(), ["main"]
    for name, path in modules.items():
        for module, certain, top in imports_of(name, path):
            if first_party(module) and module.split(".")[0] != SIMULATOR and certain and module not in modules:
                missing.append(f"{name} imports {module}")
            if module.split(".")[0] == SIMULATOR and top:
                simulator_at_import.append(name)
    assert not missing, missing
    assert not simulator_at_import, f"these import the simulator on import: {sorted(set(simulator_at_import))}"
    while todo:  # everything the function can import, lazily or not
        name = todo.pop()
        reached.add(name)
        for module, certain, _ in imports_of(name, modules[name]):
            for step in with_parents(module) if certain or module in modules else []:
                if first_party(step) and step not in reached and step not in todo:
                    assert step.split(".")[0] != SIMULATOR, f"the function reaches the simulator through {name}"
                    todo.append(step)
    assert {"descope_sync.pipeline", "descope_sync.landing.bigquery", "descope_sync.secrets"} <= reached


def run_in_upload(upload: Path, code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`code` in a Python whose only first-party code is the upload: no site processing (so neither the
    editable install's path finders nor any .pth file), the virtualenv's site-packages for the third-party
    libraries requirements.txt names."""
    runner = (
        "import json, sys; sys.path[:0] = [sys.argv[1]]; sys.path.extend(json.loads(sys.argv[2])); exec(sys.argv[3])"
    )
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", runner, str(upload), json.dumps(site.getsitepackages()), code],
        env=env,
        cwd=upload,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_function_and_every_module_import_from_the_upload_alone(upload):
    code = """
import importlib, importlib.util, pkgutil
import main, descope_sync
for module in pkgutil.walk_packages(descope_sync.__path__, "descope_sync."):
    importlib.import_module(module.name)
files = sorted({m.__file__ for n, m in sys.modules.items() if n == "main" or n.split(".")[0] == "descope_sync"})
print(json.dumps({"files": files, "simulator": importlib.util.find_spec("descope_sim") is not None}))
"""
    result = run_in_upload(upload, code)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["simulator"] is False
    assert {Path(f).relative_to(upload).as_posix() for f in loaded["files"]} == EXPECTED - {"requirements.txt"}


def test_without_the_simulator_the_cli_extracts_and_demo_says_how_to_install_it(upload, simulator, tmp_path):
    sim = simulator(users=20)
    db = tmp_path / "warehouse.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESCOPE_")}
    env.update(
        DESCOPE_PROJECT_ID=sim.project_id,
        DESCOPE_MANAGEMENT_KEY=sim.management_key,
        DESCOPE_BASE_URL=sim.base_url,
        DUCKDB_PATH=str(db),
        DESCOPE_AUDIT_SETTLE_SECONDS="0",
    )

    def cli(*argv: str) -> subprocess.CompletedProcess:
        return run_in_upload(upload, f"from descope_sync.cli import main; sys.exit(main({list(argv)!r}))", env)

    extracted = cli("extract")
    assert extracted.returncode == 0, extracted.stdout + extracted.stderr
    runs = cli("runs")
    assert runs.returncode == 0, runs.stderr
    assert {line.split()[0] for line in runs.stdout.splitlines()[1:] if "success" in line.split()} == set(STREAMS)
    demo_db = tmp_path / "demo.duckdb"
    demo = ("demo", "--duckdb-path", str(demo_db))
    for command, argv in (("demo", demo), ("simulate", ("simulate",)), ("simulate", ("simulate", "--dialect", "x"))):
        refused = cli(*argv)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert f"`descope-sync {command}` needs the Descope simulator" in refused.stderr
        assert "make install-demo" in refused.stderr and "Traceback" not in refused.stderr
    assert not demo_db.exists()
