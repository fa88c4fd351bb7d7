"""The score of the last `make mutation` run, per file and in all, and the mutants that were not killed.

Run in the directory mutmut ran in (target/mutation): it reads mutmut's results (mutants/**/*.py.meta).
A mutant that made the tests time out counts as killed (the tests noticed it); survivors, mutants no test
reached and suspicious ones count against the score. Survivors that docs/mutation.md does not name are
flagged: each one there has a one-line reason (equivalent, or the test that should be added).
When the run is not finished but `mutation.py --resume --sample N` drew a random sample of the mutants
not checked (mutants/sample.json), the score of the unchecked is estimated from the sample's: the
estimate and its 95% interval (Wilson) are printed, and the goal is judged on the estimate. The sample's
verdicts count only as given by the tests it was drawn with (frozen in sample.json when it finished):
tests written after seeing its survivors would bias it upward.
Exits 1 when there are no results, or when the score (or the estimate) is below the goal.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

from mutmut.stats import status_by_exit_code

DETECTED = {"killed", "timeout", "caught by type check"}
GOAL = 85.0
MIN_PER_FILE = 10  # sampled mutants run in a file before its own rate estimates its unchecked ones
DOCS = Path(__file__).resolve().parents[1] / "docs" / "mutation.md"


def load(mutants: Path) -> dict[str, dict[str, str]]:
    """{source file: {mutant name: status}} from mutmut's meta files."""
    results: dict[str, dict[str, str]] = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        source = str(meta.relative_to(mutants))[: -len(".meta")]
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        results[source] = {name: status_by_exit_code[code] for name, code in codes.items()}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=Path("mutants"))
    parser.add_argument("--goal", type=float, default=GOAL, help="the lowest acceptable score, in percent")
    parser.add_argument("--diffs", action="store_true", help="each mutant not killed with the line it changes")
    args = parser.parse_args(argv)

    results = load(args.mutants)
    if not results:
        print(f"no mutmut results under {args.mutants}: run `make mutation`", file=sys.stderr)
        return 1
    explained = set(re.findall(r"`([\w.ǁ]+__mutmut_\d+)`", DOCS.read_text())) if DOCS.exists() else set()

    total = Counter()
    not_killed: dict[str, list[str]] = defaultdict(list)
    print(f"{'file':<45} {'killed':>7} {'total':>6} {'score':>7}")
    for source, statuses in results.items():
        counts = Counter(statuses.values())
        total.update(counts)
        detected = sum(counts[s] for s in DETECTED)
        print(f"{source:<45} {detected:>7} {len(statuses):>6} {100 * detected / max(len(statuses), 1):>6.1f}%")
        for name, status in sorted(statuses.items(), key=lambda item: _natural(item[0])):
            if status not in DETECTED | {"not checked"}:
                not_killed[status].append(name)

    n = sum(total.values())
    detected = sum(total[s] for s in DETECTED)
    if total["not checked"]:
        print(f"\nthe run is not finished: {total['not checked']} mutants not checked yet (they count as not killed)")
    score = 100 * detected / n
    print(f"{'all':<45} {detected:>7} {n:>6} {score:>6.1f}%")
    print("  " + ", ".join(f"{status}: {count}" for status, count in sorted(total.items())))
    source_of = {name: source for source, statuses in results.items() for name in statuses}
    for status, names in sorted(not_killed.items()):
        print(f"\n{status} ({len(names)}); the diff of one: `mutmut show NAME` in target/mutation")
        for name in names:
            print(f"  {name}{'' if name in explained else '   <- not in docs/mutation.md'}")
            if args.diffs:
                print(_changed_lines(name, source_of[name]))
    unexplained = sum(name not in explained for names in not_killed.values() for name in names)
    if unexplained:
        print(f"\n{unexplained} not killed and not explained in docs/mutation.md")
    print(f"\nmutation score {detected}/{n} = {score:.1f}% (goal {args.goal:g}%)")
    sample = args.mutants / "sample.json"
    if total["not checked"] and sample.exists():
        drawn = json.loads(sample.read_text())
        estimate = _estimate(drawn, results, detected, n)
        if estimate is not None:
            if "verdicts" not in drawn and drawn.get("tests") != tests_digest(args.mutants.parent / "tests"):
                print(
                    "the tests changed since this sample was drawn: tests written for its survivors bias it "
                    "upward, so the estimate proves no goal (delete mutants/sample.json and draw another)"
                )
                return 1
            return 0 if estimate >= args.goal else 1
    return 0 if score >= args.goal else 1


def tests_digest(tests: Path) -> str:
    """What the tests were when a sample was drawn: tests written after it for its survivors make it
    speak for itself, not for the mutants it was drawn from (mutation_score.py checks this)."""
    digest = hashlib.sha256()
    for path in sorted(tests.rglob("*.py")):
        digest.update(str(path.relative_to(tests)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _estimate(sample: dict, results: dict[str, dict[str, str]], detected: int, n: int) -> float | None:
    """The score with the mutants still not checked counted at the rate of the sample drawn from them,
    file by file (a sample mutmut ran only in part is not spread evenly over the files); a file with
    fewer than MIN_PER_FILE sampled mutants run takes the rate of the whole sample."""
    sampled = set(sample["names"])
    if "verdicts" in sample:  # frozen when the sample finished with the tests it was drawn with
        run = dict(sample["verdicts"])
        print("\nthe sample's verdicts are those it got from the tests it was drawn with (later tests only add kills)")
    else:
        run = {name: st for statuses in results.values() for name, st in statuses.items() if name in sampled}
        run = {name: st for name, st in run.items() if st != "not checked"}
    if not run:
        print(f"\nthe random sample ({len(sampled)} mutants) is not run yet: no estimate")
        return None
    hits = sum(st in DETECTED for st in run.values())
    pooled, low, high = _wilson(hits, len(run))
    print(
        f"random sample: {len(run)} of {len(sampled)} run (drawn from {sample['population']} unchecked), "
        f"{hits} detected = {100 * pooled:.1f}% (95% interval {100 * low:.1f}-{100 * high:.1f}%)"
    )
    expected, variance = float(detected), 0.0
    for source, statuses in results.items():
        unchecked = sum(st == "not checked" for st in statuses.values())
        if not unchecked:
            continue
        own = [run[name] for name in statuses if name in run]
        if len(own) >= MIN_PER_FILE:
            rate, trials = sum(st in DETECTED for st in own) / len(own), len(own)
            basis = f"its own {len(own)} sampled"
        else:
            rate, trials, basis = pooled, len(run), "the whole sample's rate"
        expected += unchecked * rate
        variance += unchecked * unchecked * rate * (1 - rate) / trials
        print(f"  {source:<43} {unchecked:>5} unchecked at {100 * rate:5.1f}% ({basis})")
    spread = 1.96 * math.sqrt(variance)
    estimate = 100 * expected / n
    print(
        f"estimated mutation score: {estimate:.1f}% (95% interval about "
        f"{100 * (expected - spread) / n:.1f}-{100 * (expected + spread) / n:.1f}%)"
    )
    return estimate


def _wilson(hits: int, trials: int, z: float = 1.96) -> tuple[float, float, float]:
    """The rate and its Wilson score interval."""
    rate = hits / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    spread = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return rate, max(0.0, centre - spread), min(1.0, centre + spread)


def _changed_lines(name: str, source: str) -> str:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(name, path=source).splitlines()[2:]
    return "\n".join(f"      {line[0]} {line[1:].strip()}" for line in diff if line[:1] in "-+")


def _natural(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("__mutmut_")
    return stem, int(number) if number.isdigit() else 0


if __name__ == "__main__":
    sys.exit(main())
