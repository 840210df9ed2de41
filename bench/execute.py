"""Throughput of the sandbox (tranx.execution.sandbox) and of CodeInsight execution.

1. Overhead per program against a bare interpreter: N runs of the trivial program ``x = 1`` through
   ``run_program`` (one sandbox session per program), through ``run_programs`` (all N in one session: one
   interpreter start, then a fork per program), and as ``subprocess.run([python, "-c", "x = 1"])``; ms per program
   and the ratios sandbox/bare, all measured in this run.
2. CodeInsight reference solutions (the test split, or its first --limit problems) through
   ``tranx.execution.unit_tests.execute`` with 1 and 2 workers: problems/s and outcome counts. Skipped, with a note, when
   ``tranx.execution.unit_tests`` cannot be imported or its data is missing.
3. The reference check of the whole split (cached by ``tranx.execution.unit_tests.reference_failures``) against the one
   shipped with the data: pass counts, and the problems the two disagree on.

Writes bench/results/execute.json and execute.md.

    python bench/execute.py [-n 50] [--limit N] [--workers 1,2] [--split test] [--data-root DIR] [--skip-codeinsight]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tranx.io import atomic_write_text
from tranx.provenance import describe_machine, write_result
from tranx.execution.sandbox import Limits, Program, isolation, run_program, run_programs

RESULTS = Path(__file__).resolve().parent / "results"
TRIVIAL = "x = 1"


def overhead(n: int) -> dict:
    """Milliseconds per trivial program: bare python -c, one session per program, one session for all."""
    limits = Limits(timeout_s=10)
    isolation()  # the platform probe runs once, outside the timings
    run_program(TRIVIAL, limits=limits)  # warm-up (file cache)
    clock = time.perf_counter

    t0 = clock()
    for _ in range(n):
        subprocess.run([sys.executable, "-c", TRIVIAL], check=True)
    bare = clock() - t0

    t0 = clock()
    verdicts = Counter(run_program(TRIVIAL, limits=limits).verdict for _ in range(n))
    per_session = clock() - t0

    t0 = clock()
    verdicts.update(r.verdict for r in run_programs([Program([TRIVIAL])] * n, limits=limits))
    one_session = clock() - t0

    if set(verdicts) != {"passed"}:
        raise SystemExit(f"the trivial program did not always pass in the sandbox: {dict(verdicts)}")
    ms = {"bare_python_c": bare / n * 1000, "run_program": per_session / n * 1000,
          "run_programs_one_session": one_session / n * 1000}
    return {"n": n, "ms_per_program": {k: round(v, 2) for k, v in ms.items()},
            "ratio_vs_bare": {k: round(v / ms["bare_python_c"], 2) for k, v in ms.items() if k != "bare_python_c"}}


def codeinsight_throughput(split: str, limit: int | None, workers: list[int], data_root: str | None) -> dict:
    """Problems/s running every reference solution of the split (or its first ``limit`` problems)."""
    from preprocess.tasks import get_harness
    from tranx.execution import unit_tests
    try:
        problems = unit_tests.load_problems("codeinsight", split, data_root)
    except Exception as error:
        return {"skipped": f"CodeInsight {split} cannot be loaded: {type(error).__name__}: {error}"}
    if limit is not None:
        problems = problems[:limit]
    predictions = {p.id: [p.reference] for p in problems}
    runs = {}
    for count in workers:
        t0 = time.perf_counter()
        results = unit_tests.execute(problems, predictions, get_harness("codeinsight"), workers=count, progress=False)
        seconds = time.perf_counter() - t0
        outcomes = Counter(o for r in results for o in r.outcomes)
        runs[count] = {"seconds": round(seconds, 2), "problems_per_s": round(len(problems) / seconds, 2),
                       "outcomes": dict(sorted(outcomes.items()))}
    return {"split": split, "problems": len(problems), "test_files": sum(len(p.tests) for p in problems),
            "runs": {f"{w}_workers": r for w, r in runs.items()}}


def reference_agreement(split: str, data_root: str | None) -> dict:
    """Our reference check (every reference solution through the harness, cached) against the one shipped with the
    data (``codeinsight-reference-check.json``): pass counts and the problems on which the two disagree."""
    from preprocess.datasets import resolve_data_root
    from preprocess.tasks import get_harness
    from tranx.execution import unit_tests
    shipped_path = resolve_data_root(data_root, "codeinsight") / "codeinsight" / "codeinsight-reference-check.json"
    if not shipped_path.is_file():
        return {"skipped": f"no shipped reference check at {shipped_path}"}
    shipped = json.loads(shipped_path.read_text(encoding="utf-8"))
    problems = unit_tests.load_problems("codeinsight", split, data_root)
    ours = unit_tests.reference_failures(problems, get_harness("codeinsight"))
    outcomes = shipped["results"]
    theirs = {p.id for p in problems if any(o != "ok" for o in outcomes.get(p.id, ["missing"]))}
    return {"split": split, "problems": len(problems), "pass_here": len(problems) - len(ours),
            "pass_shipped": len(problems) - len(theirs), "shipped_environment": shipped.get("environment", {}),
            "fail_only_shipped": {i: sorted(set(outcomes.get(i, ["missing"])) - {"ok"}) for i in sorted(theirs - set(ours))},
            "fail_only_here": {i: ours[i] for i in sorted(set(ours) - theirs)}}


def markdown(result: dict) -> list[str]:
    o = result["overhead"]
    ms, ratio = o["ms_per_program"], o["ratio_vs_bare"]
    rows = [f"Trivial program `{TRIVIAL}`, {o['n']} runs each:", "",
            "| how | ms per program | vs bare `python -c` |", "|---|---|---|",
            f"| bare `python -c` (subprocess.run) | {ms['bare_python_c']:.1f} | 1.00 |",
            f"| `run_program` (one session per program) | {ms['run_program']:.1f} | {ratio['run_program']:.2f} |",
            f"| `run_programs` (one session for all) | {ms['run_programs_one_session']:.1f} | "
            f"{ratio['run_programs_one_session']:.2f} |", ""]
    ci = result["codeinsight"]
    if "skipped" in ci:
        rows.append(f"CodeInsight: skipped ({ci['skipped']}).")
    else:
        rows += [f"CodeInsight {ci['split']} reference solutions: {ci['problems']} problems, "
                 f"{ci['test_files']} test files.", "",
                 "| workers | seconds | problems/s | outcomes |", "|---|---|---|---|"]
        for name, run in ci["runs"].items():
            outcomes = ", ".join(f"{k} {v}" for k, v in run["outcomes"].items())
            rows.append(f"| {name.split('_')[0]} | {run['seconds']:.1f} | {run['problems_per_s']:.2f} | {outcomes} |")
        rows.append("")
    ref = result.get("reference_check", {"skipped": "not run"})
    if "skipped" in ref:
        rows += [f"Reference check: skipped ({ref['skipped']}).", ""]
    else:
        rows += [f"Reference check, CodeInsight {ref['split']} ({ref['problems']} problems): {ref['pass_here']} "
                 f"pass here, {ref['pass_shipped']} in the check shipped with the data.", ""]
        for what, key in (("fail only in the shipped check", "fail_only_shipped"), ("fail only here", "fail_only_here")):
            found = ref[key]
            rows.append(f"- {what}: {len(found)}" + (": " + ", ".join(f"{i} ({v})" for i, v in found.items())
                                                      if found else ""))
        rows.append("")
    iso = result["isolation"]
    rows.append(f"Isolation: network namespace {iso['network']}, PID namespace {iso['pid_namespace']}, "
                f"own user id {iso['drop_user']}. {describe_machine(result['provenance']['machine'])}.")
    return rows



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=50, help="runs of the trivial program per method")
    parser.add_argument("--split", default="test", help="CodeInsight split")
    parser.add_argument("--limit", type=int, default=None, help="first N problems of the split (default: all)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--skip-codeinsight", action="store_true", help="only the overhead measurement")
    parser.add_argument("--output", default="execute", help="name of the result files in bench/results/")
    args = parser.parse_args()
    if args.n < 1:
        parser.error("-n must be at least 1")
    try:
        workers = [int(w) for w in args.workers.split(",") if w.strip()]
    except ValueError:
        parser.error(f"--workers takes comma-separated integers, got {args.workers!r}")
    if not workers or min(workers) < 1:
        parser.error("--workers needs positive worker counts")
    plan = isolation()
    result = {"overhead": overhead(args.n)}
    if args.skip_codeinsight:
        result["codeinsight"] = {"skipped": "--skip-codeinsight"}
    else:
        result["codeinsight"] = codeinsight_throughput(args.split, args.limit, workers, args.data_root)
        if "skipped" in result["codeinsight"]:
            print(f"note: {result['codeinsight']['skipped']}", file=sys.stderr)
        else:
            result["reference_check"] = reference_agreement(args.split, args.data_root)
    result["isolation"] = {k: plan[k] for k in ("network", "pid_namespace", "drop_user")}
    RESULTS.mkdir(exist_ok=True)
    result = write_result(RESULTS / f"{args.output}.json", result)  # machine, command, commit
    rows = markdown(result)
    atomic_write_text(RESULTS / f"{args.output}.md", "\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    sys.exit(main())
