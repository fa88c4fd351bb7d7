"""`make mutation`: mutmut over the streams, the landing writers and the Descope client, then the score.

mutmut names a mutant after its module's path and strips only a leading `src/`, so the run happens in a
copy laid out as `target/mutation/src/descope_sync` (with tests/ and pyproject.toml, whose [tool.mutmut]
is written for that layout). One BigQuery emulator serves every mutant's tests (BQEMULATOR_ENDPOINT;
each test uses datasets of its own) instead of one started per mutant. From scratch each time, unless
--resume: the verdicts of the previous run stay, mutmut retests the functions that changed and collects
coverage for new tests; survivors are not retested unless named (`--resume NAME_OR_PATTERN...`, e.g.
after adding a test).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.bigquery.emulator import start_emulator  # noqa: E402


def stage(work: Path, resume: bool) -> None:
    if not resume:
        shutil.rmtree(work, ignore_errors=True)
    for name in ("src", "tests"):
        shutil.rmtree(work / name, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "extract" / "descope_sync", work / "src" / "descope_sync", ignore=ignore)
    shutil.copytree(ROOT / "tests", work / "tests", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", work / "pyproject.toml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "target" / "mutation")
    parser.add_argument("--resume", action="store_true", help="keep the previous run's verdicts")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once")
    parser.add_argument("names", nargs="*", help="retest only these mutants (names or patterns; with --resume)")
    args = parser.parse_args(argv)
    if args.names and not args.resume:
        parser.error("naming mutants retests them within a previous run: add --resume")

    stage(args.work, args.resume)
    bindir = Path(sys.executable).parent
    emulator = start_emulator(Path(tempfile.mkdtemp(prefix="mutation-bqemulator-")))
    try:
        env = {**os.environ, "BQEMULATOR_ENDPOINT": emulator.endpoint}
        mutmut = [str(bindir / "mutmut"), "run", "--max-children", str(args.max_children), *args.names]
        code = subprocess.run(mutmut, cwd=args.work, env=env).returncode
    finally:
        emulator.stop()
    if code != 0:
        return code
    score = [sys.executable, str(ROOT / "scripts" / "mutation_score.py")]
    return subprocess.run(score, cwd=args.work).returncode


if __name__ == "__main__":
    sys.exit(main())
