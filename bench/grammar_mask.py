"""Cost of the grammar constraint per decoding step, per target language, side by side in one run.

For each task's training targets: the action grammar's size, the valid-action look-up (`valid_actions` on each
step of the oracle replay: ns per step, and per step relative to Python's in the same run, since this machine is
shared and noisy), the mean number of valid rules per ApplyRule step, and the share of steps with one choice.
Writes bench/results/grammar-mask.{json,md}.

    python bench/grammar_mask.py [--tasks django nl-rx-turk kb13] [--limit 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from preprocess.splits import split_examples
from preprocess.tasks import get_task
from tranx.grammar.transition import ApplyRule, TransitionSystem, valid_actions
from tranx.io import atomic_write_text
from tranx.languages import get_language
from tranx.provenance import describe_machine, write_result

RESULTS = Path(__file__).resolve().parent / "results"


def replay_cost(system: TransitionSystem, oracles: list) -> tuple[float, int]:
    """Seconds spent in valid_actions over all steps of the oracles, and the number of steps."""
    spent, steps = 0.0, 0
    clock = time.perf_counter
    for actions in oracles:
        hypothesis = system.initial()
        for action in actions:
            t = clock()
            allowed = valid_actions(hypothesis)
            spent += clock() - t
            if not allowed.allows(action):
                raise AssertionError(action)
            hypothesis = hypothesis.apply(action)
            steps += 1
    return spent, steps


def measure(task_name: str, limit: int, rounds: int) -> dict:
    task = get_task(task_name)
    language = get_language(task.language)
    system = TransitionSystem(language.grammar)
    oracles, skipped = [], 0
    for example in split_examples(task_name, splits=["train"])["train"][:limit]:
        try:
            oracles.append(system.oracle(language.parse(task.to_parseable(example.code))))
        except Exception:  # noqa: BLE001 - counted: a target the grammar cannot take is reported, not fatal
            skipped += 1
    choices, single = [], 0
    for actions in oracles:
        hypothesis = system.initial()
        for action in actions:
            allowed = valid_actions(hypothesis)
            if isinstance(action, ApplyRule):
                n = len(allowed.constructors) + int(allowed.reduce)
                choices.append(n)
                single += n == 1
            hypothesis = hypothesis.apply(action)
    times = []
    for _ in range(rounds):
        spent, steps = replay_cost(system, oracles)
        times.append(spent / steps * 1e9)
    grammar = language.grammar
    return {"task": task_name, "language": task.language, "targets": len(oracles), "skipped": skipped,
            "types": len(grammar.types), "constructors": len(grammar.constructors),
            "primitive_types": len(grammar.primitive_types), "steps": steps,
            "valid_actions_ns_per_step": round(statistics.median(times), 1),
            "rules_per_apply_rule_step": round(statistics.mean(choices), 2) if choices else 0.0,
            "single_choice_rule_steps": round(single / len(choices), 4) if choices else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["django", "nl-rx-turk", "kb13"])
    parser.add_argument("--limit", type=int, default=3000, help="training targets per task")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes (the median is reported)")
    args = parser.parse_args()
    rows = [measure(name, args.limit, args.rounds) for name in args.tasks]
    base = next((r for r in rows if r["language"] == "python"), rows[0])
    for r in rows:
        r["relative_to_" + base["task"]] = round(r["valid_actions_ns_per_step"] / base["valid_actions_ns_per_step"], 2)
    result = {"rows": rows, "limit": args.limit, "rounds": args.rounds}
    from preprocess.datasets import FOLDERS, resolve_data_root
    folders = {FOLDERS.get(n, n): resolve_data_root(None, n) / FOLDERS.get(n, n) for n in args.tasks}
    written = write_result(RESULTS / "grammar-mask.json", result, config=vars(args), data_folders=folders)
    lines = ["| task | language | types | constructors | primitive types | targets | valid_actions, ns per step "
             f"(x {base['task']}) | valid rules per ApplyRule step | one-choice rule steps |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['task']} | `{r['language']}` | {r['types']} | {r['constructors']} | "
                     f"{r['primitive_types']} | {r['targets']:,} | {r['valid_actions_ns_per_step']} "
                     f"({r['relative_to_' + base['task']]}x) | {r['rules_per_apply_rule_step']} | "
                     f"{100 * r['single_choice_rule_steps']:.1f}% |")
    lines.append(f"\n`python bench/grammar_mask.py` ({args.rounds} timed passes, medians). {describe_machine(written['provenance']['machine'])}")
    atomic_write_text(RESULTS / "grammar-mask.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
