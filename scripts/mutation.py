"""`make mutation`: mutmut over the streams, the landing writers and the Descope client, then the score.

mutmut names a mutant after its module's path and strips only a leading `src/`, so the run happens in a
copy laid out as `target/mutation/src/descope_sync` (with tests/ and pyproject.toml, whose [tool.mutmut]
is written for that layout). One BigQuery emulator serves every mutant's tests (BQEMULATOR_ENDPOINT;
each test uses datasets of its own) instead of one started per mutant. From scratch each time, unless
--resume: the verdicts of the previous run stay, mutmut retests the functions that changed and collects
coverage for new tests; survivors are not retested unless named (`--resume NAME_OR_PATTERN...`, e.g.
after adding a test). `--resume --sample N` tests N mutants drawn at random from those not checked yet
(a full run takes hours on two cores): the score then estimates the rest from them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.mutation_score import load, tests_digest  # noqa: E402
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


def draw_sample(mutants: Path, size: int, seed: int) -> list[str]:
    """`size` mutants not checked yet, drawn at random, recorded in mutants/sample.json with the number
    they were drawn from (mutation_score.py estimates the unchecked from them). A sample already drawn
    is kept: rerunning finishes it (delete mutants/sample.json to draw another, e.g. after the tests changed)."""
    record = mutants / "sample.json"
    if record.exists():
        return json.loads(record.read_text())["names"]
    unchecked = sorted(
        name
        for meta in mutants.rglob("*.py.meta")
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items()
        if code is None
    )
    names = sorted(random.Random(seed).sample(unchecked, min(size, len(unchecked))))
    tests = tests_digest(mutants.parent / "tests")
    sample = {"population": len(unchecked), "seed": seed, "tests": tests, "names": names}
    record.write_text(json.dumps(sample, indent=1))
    return names


def freeze_sample(work: Path) -> None:
    """Once every mutant of the sample has a verdict from the tests it was drawn with, keep those verdicts
    in mutants/sample.json: the estimate then stays what that sample measured, whatever tests are added
    later (they only kill more), and later runs may re-check other survivors without voiding it."""
    record = work / "mutants" / "sample.json"
    if not record.exists():
        return
    drawn = json.loads(record.read_text())
    if "verdicts" in drawn or drawn.get("tests") != tests_digest(work / "tests"):
        return
    status = {name: st for statuses in load(work / "mutants").values() for name, st in statuses.items()}
    verdicts = {name: status.get(name, "not checked") for name in drawn["names"]}
    if "not checked" not in verdicts.values():
        drawn["verdicts"] = verdicts
        record.write_text(json.dumps(drawn, indent=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "target" / "mutation")
    parser.add_argument("--resume", action="store_true", help="keep the previous run's verdicts")
    # The streams' tests mostly wait (rate limits, backoff): three mutants a core keep two cores busy.
    parser.add_argument("--max-children", type=int, default=3 * (os.cpu_count() or 2), help="mutants tested at once")
    parser.add_argument(
        "--sample", type=int, help="with --resume: test N random mutants not checked yet (and any NAMES too)"
    )
    parser.add_argument("--seed", type=int, default=2026, help="the sample's random seed")
    parser.add_argument("names", nargs="*", help="retest only these mutants (names or patterns; with --resume)")
    args = parser.parse_args(argv)
    if args.names and not args.resume:
        parser.error("naming mutants retests them within a previous run: add --resume")
    if args.sample and not args.resume:
        parser.error("--sample draws from a previous run's unchecked mutants: add --resume")
    if args.sample and not (args.work / "mutants").is_dir():
        parser.error(f"--sample: no previous run in {args.work}")

    freeze_sample(args.work)  # a sample finished by an interrupted run, before new tests are staged
    stage(args.work, args.resume)
    names = [*draw_sample(args.work / "mutants", args.sample, args.seed), *args.names] if args.sample else args.names
    bindir = Path(sys.executable).parent
    emulator = start_emulator(Path(tempfile.mkdtemp(prefix="mutation-bqemulator-")))
    try:
        env = {**os.environ, "BQEMULATOR_ENDPOINT": emulator.endpoint}
        mutmut = [str(bindir / "mutmut"), "run", "--max-children", str(args.max_children), *names]
        code = subprocess.run(mutmut, cwd=args.work, env=env).returncode
    finally:
        emulator.stop()
    freeze_sample(args.work)
    if code != 0:
        return code
    score = [sys.executable, str(ROOT / "scripts" / "mutation_score.py")]
    return subprocess.run(score, cwd=args.work).returncode


if __name__ == "__main__":
    sys.exit(main())
