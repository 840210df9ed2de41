"""The bubblewrap sandbox against the runner it replaced, side by side in one run (the trusted-execution issue).

Each runner is a fresh interpreter that imports tranx from its own tree: the current checkout, and a git worktree of
``--baseline`` (default: the last commit before the bubblewrap sandbox). Both run the CodeInsight reference
solutions of the test split's first ``--limit`` problems with one worker, ``--rounds`` times, alternating which goes
first; then each runs the reference check of the whole split (two workers). Reported: problems/s per runner (best
round and median), their ratio, and the pass counts, which must be equal.

Writes bench/results/sandbox-compare.json and .md.

    python bench/sandbox_compare.py [--limit 300] [--rounds 3] [--baseline 7e3e11e] [--data-root DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from tranx.io import atomic_write_text
from tranx.provenance import describe_machine, write_result

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BASELINE = "7e3e11e"  # the unshare/setpriv runner, before bubblewrap

_RUN = r'''
import json, sys, time
from tranx.execution import unit_tests
from preprocess.tasks import get_harness
limit, workers, data_root = json.loads(sys.argv[1])
problems = unit_tests.load_problems("codeinsight", "test", data_root)[:limit]
harness = get_harness("codeinsight")
t0 = time.perf_counter()
results = unit_tests.execute(problems, {p.id: [p.reference] for p in problems}, harness, workers=workers,
                             progress=False)
seconds = time.perf_counter() - t0
print("RESULT " + json.dumps({"problems": len(problems), "seconds": seconds,
                              "passed": sum(r.outcomes[0] == "pass" for r in results)}))
'''


def run_in(tree: Path, limit: int | None, workers: int, data_root: str | None) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TRANX_CACHE": tempfile.mkdtemp(prefix="tranx-bench-cache-")}
    done = subprocess.run([sys.executable, "-c", _RUN, json.dumps([limit, workers, data_root])], cwd=tree, env=env,
                          capture_output=True, text=True, check=False)
    line = next((l for l in done.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"the runner in {tree} failed:\n{done.stderr[-3000:]}")
    result = json.loads(line[len("RESULT "):])
    result["problems_per_s"] = result["problems"] / result["seconds"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--skip-full", action="store_true", help="no reference check of the whole split")
    args = parser.parse_args()
    from tranx.execution.sandbox import isolation
    measured = isolation()
    with tempfile.TemporaryDirectory(prefix="tranx-baseline-") as scratch:
        old = Path(scratch) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.baseline], check=True,
                       capture_output=True)
        try:
            trees = {"baseline": old, "bwrap": ROOT}
            rounds = {name: [] for name in trees}
            for index in range(args.rounds):
                order = list(trees) if index % 2 == 0 else list(reversed(trees))
                for name in order:
                    rounds[name].append(run_in(trees[name], args.limit, 1, args.data_root))
                    print(name, round(rounds[name][-1]["problems_per_s"], 2), "problems/s", file=sys.stderr)
            full = {} if args.skip_full else {name: run_in(tree, None, 2, args.data_root) for name, tree in trees.items()}
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False,
                           capture_output=True)
    summary = {name: {"best_problems_per_s": round(max(r["problems_per_s"] for r in runs), 2),
                      "median_problems_per_s": round(statistics.median(r["problems_per_s"] for r in runs), 2),
                      "passed": sorted({r["passed"] for r in runs})} for name, runs in rounds.items()}
    ratio = round(summary["bwrap"]["median_problems_per_s"] / summary["baseline"]["median_problems_per_s"], 2)
    result = write_result(RESULTS / "sandbox-compare.json", {
        "baseline_commit": args.baseline, "limit": args.limit, "rounds": rounds, "summary": summary,
        "ratio_bwrap_vs_baseline": ratio,
        "full_split": {name: {"problems": r["problems"], "passed": r["passed"], "seconds": round(r["seconds"], 1)}
                       for name, r in full.items()},
        "isolation": measured})
    rows = [f"CodeInsight test references, first {args.limit} problems, 1 worker, {args.rounds} rounds "
            f"(alternating order):", "", "| runner | median problems/s | best | passed |", "|---|---|---|---|"]
    for name, row in summary.items():
        label = f"before bubblewrap ({args.baseline})" if name == "baseline" else "bubblewrap sandbox"
        rows.append(f"| {label} | {row['median_problems_per_s']:.2f} | {row['best_problems_per_s']:.2f} | "
                    f"{', '.join(map(str, row['passed']))} |")
    rows += ["", f"Ratio (median, bubblewrap / before): **{ratio:.2f}x**.", ""]
    for name, r in result["full_split"].items():
        rows.append(f"- whole test split, 2 workers, {name}: {r['passed']} of {r['problems']} references pass "
                    f"({r['seconds']:.0f} s)")
    rows += ["", describe_machine(result["provenance"]["machine"]) + "."]
    atomic_write_text(RESULTS / "sandbox-compare.md", "\n".join(rows) + "\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
