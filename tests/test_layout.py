"""The tests' layout: `tests/extract/` mirrors `extract/descope_sync/`, so a module's tests are found by its path.

- every folder of tests is a package (tests import their helpers as packages);
- every folder under `tests/extract/` mirrors a package or a module of `descope_sync` (`streams/audit/` the
  package, `streams/ip_locations/` the module `streams/ip_locations.py` whose tests are several files);
- no test file sits above its subject's folder: a file named after a package, or after a module inside a
  package, below its own folder belongs in that folder (`tests/extract/test_audit_stream.py` names
  `streams/audit/`, `tests/extract/test_landing_writer.py` names `landing/`);
- no file of tests is longer than `MAX_LINES`;
- the test paths mutmut runs (`[tool.mutmut]` in pyproject.toml) exist.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
PACKAGE = ROOT / "extract" / "descope_sync"
MAX_LINES = 600

# Files other engineers move or split within issue 17, and the two nobody splits in it. Each entry must still
# break its rule: once it is moved or split, the entry goes (this test fails until it does).
NOT_YET_HOME = {}
TOO_LONG_YET = {
    "tests/bigquery/test_bigquery_writer.py": "not split in issue 17",
    "tests/gcp/test_deploy_config.py": "not split in issue 17",
}


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _test_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def _is_package(path: Path) -> bool:
    return path.is_dir() and (path / "__init__.py").is_file()


def _mirrored(test_dir: Path) -> Path:
    """The path in descope_sync that a folder or file under tests/extract/ stands for (without a suffix)."""
    return PACKAGE / test_dir.relative_to(TESTS / "extract")


def _subjects_below(code_dir: Path) -> set[str]:
    """Names with a folder of their own below `code_dir`: its packages at any depth, and the modules inside them."""
    names: set[str] = set()
    if not _is_package(code_dir):
        return names
    for package in (p for p in code_dir.rglob("*") if _is_package(p)):
        names.add(package.name)
        names.update(m.stem for m in package.glob("*.py") if m.stem != "__init__")
    return names


def _misplaced(test_file: Path) -> str | None:
    """The name below this file's folder that the file is named after, if any."""
    stem = test_file.stem.removeprefix("test_")
    for name in _subjects_below(_mirrored(test_file.parent)):
        if stem == name or stem.startswith(name + "_"):
            return name
    return None


def test_every_folder_of_tests_is_a_package():
    folders = {p.parent for p in _test_files()}
    assert sorted(_rel(f) for f in folders if not (f / "__init__.py").is_file()) == []


def test_every_folder_under_tests_extract_mirrors_a_package_or_a_module():
    folders = {p.parent for p in _test_files() if (TESTS / "extract") in p.parents}
    orphans = [_rel(f) for f in folders if not (_is_package(_mirrored(f)) or _mirrored(f).with_suffix(".py").is_file())]
    assert sorted(orphans) == []


def test_no_test_file_sits_above_the_folder_of_its_subject():
    misplaced = {
        _rel(p): name
        for p in _test_files()
        if (TESTS / "extract") in p.parents and p.name.startswith("test_") and (name := _misplaced(p))
    }
    unexcused = {path: name for path, name in misplaced.items() if path not in NOT_YET_HOME}
    assert unexcused == {}, "each belongs in the folder of the name it starts with"
    assert sorted(set(NOT_YET_HOME) - set(misplaced)) == [], "moved or gone: drop it from NOT_YET_HOME"


def test_no_file_of_tests_is_longer_than_the_limit():
    lengths = {_rel(p): len(p.read_text().splitlines()) for p in _test_files()}
    too_long = {path: n for path, n in lengths.items() if n > MAX_LINES}
    assert {path: n for path, n in too_long.items() if path not in TOO_LONG_YET} == {}, "split it by module or concern"
    assert sorted(set(TOO_LONG_YET) - set(too_long)) == [], "split or gone: drop it from TOO_LONG_YET"


def test_the_tests_mutmut_runs_exist():
    selection = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    paths = selection["pytest_add_cli_args_test_selection"]
    assert paths
    assert [p for p in paths if not (ROOT / p).exists()] == []
