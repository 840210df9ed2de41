"""Benchmark of the grammar layer on the Django corpus (all 18,805 lines).

Reports: the whole round trip (`tranx roundtrip django:all`) in 1 and 2 processes, snippets/s and
actions/s; time per stage in one process (parse, tree, oracle, checked replay, unparse); and the
cost of one `valid_actions` call. Writes bench/results/roundtrip.json and roundtrip.md.

    python bench/roundtrip.py [--data-root DIR]
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path

from preprocess.datasets import load_examples, to_parseable
from tranx.io import atomic_write_text
from tranx.provenance import describe_machine, write_result
from tranx.languages import get_language
from tranx.data.roundtrip import Snippet, run_roundtrip
from tranx.grammar.transition import TransitionSystem, valid_actions

RESULTS = Path(__file__).resolve().parent / "results"


def stage_times(codes: list[str]) -> dict:
    language = get_language("python")
    system = TransitionSystem(language.grammar)
    clock = time.perf_counter
    totals = dict.fromkeys(["parse", "to_tree", "oracle", "replay_checked", "to_code"], 0.0)
    steps = 0
    all_actions = []
    for code in codes:
        t0 = clock()
        parsed = ast.parse(code)
        t1 = clock()
        tree = language.from_ast(parsed)
        t2 = clock()
        actions = system.oracle(tree)
        t3 = clock()
        h = system.initial()
        for action in actions:
            if not valid_actions(h).allows(action):
                raise AssertionError(action)
            h = h.apply(action)
        t4 = clock()
        ast.unparse(language.to_ast(h.tree()))
        t5 = clock()
        for key, dt in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            totals[key] += dt
        steps += len(actions)
        all_actions.append(actions)
    # valid_actions alone, over every prefix of every sequence
    hypotheses = []
    for actions in all_actions:
        h = system.initial()
        for action in actions:
            hypotheses.append(h)
            h = h.apply(action)
    t0 = clock()
    for h in hypotheses:
        valid_actions(h)
    valid_ns = (clock() - t0) / len(hypotheses) * 1e9
    return {"stage_seconds": {k: round(v, 3) for k, v in totals.items()}, "actions": steps,
            "valid_actions_ns_per_step": round(valid_ns, 1)}



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    examples = load_examples("django", "all", args.data_root)
    snippets = [Snippet(e.id, e.code, "django") for e in examples]
    runs = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        report = run_roundtrip(snippets, workers=workers, progress=False)
        seconds = time.perf_counter() - t0
        assert not report.failed, report.failed[:3]
        runs[workers] = seconds
    stages = stage_times([to_parseable("django", e.code) for e in examples])
    n = len(snippets)
    result = {
        "corpus": "django:all", "snippets": n, "actions": stages["actions"],
        "mean_actions_per_snippet": round(stages["actions"] / n, 2),
        "roundtrip_seconds": {f"{w}_workers": round(s, 2) for w, s in runs.items()},
        "snippets_per_second": {f"{w}_workers": round(n / s) for w, s in runs.items()},
        "actions_per_second": {f"{w}_workers": round(stages["actions"] / s) for w, s in runs.items()},
        "speedup_2_vs_1_workers": round(runs[1] / runs[2], 2),
        "stage_seconds_1_worker": stages["stage_seconds"],
        "valid_actions_ns_per_step": stages["valid_actions_ns_per_step"],
        "target": "whole Django corpus in < 10 s", "meets_target": min(runs.values()) < 10,
    }
    RESULTS.mkdir(exist_ok=True)
    result = write_result(RESULTS / "roundtrip.json", result)  # machine, command, commit
    rows = [
        "| measure | 1 worker | 2 workers |", "|---|---|---|",
        f"| Django round trip (18,805 lines), s | {runs[1]:.2f} | {runs[2]:.2f} |",
        f"| snippets/s | {n / runs[1]:,.0f} | {n / runs[2]:,.0f} |",
        f"| actions/s | {stages['actions'] / runs[1]:,.0f} | {stages['actions'] / runs[2]:,.0f} |",
        "", "| stage (1 worker) | seconds |", "|---|---|",
        *[f"| {k} | {v:.2f} |" for k, v in stages["stage_seconds"].items()],
        "", f"`valid_actions`: {stages['valid_actions_ns_per_step']:.0f} ns per step; "
        f"{stages['actions']:,} actions ({stages['actions'] / n:.1f} per line). {describe_machine(result['provenance']['machine'])}.",
    ]
    atomic_write_text(RESULTS / "roundtrip.md", "\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    sys.exit(main())
