"""Everyday intents: the pass rate of trained models on short intents of the kind users type (data/everyday).

Each model translates the intents of one half (dev: for choices; test: reported once per model), its top
candidate becomes the body of the problem's function (tranx.execution.snippet_functions) and the problem's unit tests
run in the sandbox. Writes bench/results/everyday-<name>-<split>.json (pass rate overall and per category, outcome
counts, provenance) and the predictions beside it with each one's outcome.

    python bench/everyday.py runs/conala [runs/codeinsight ...] --split dev [--beam-size 15] [--rerank coverage] [--length-penalty 2] [--runs-first]
    python bench/everyday.py --check-references      # every reference passes its tests, `return None` fails them
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tranx.config import RERANKERS
from tranx.io import atomic_write_text
from tranx.provenance import write_result

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DATA = ROOT / "data" / "everyday"


def check_references(workers: int) -> int:
    """Every reference passes its tests and a solution returning None fails at least one test of every problem."""
    from tranx.execution.snippet_problems import SNIPPET_HARNESS, as_problems, load_snippet_problems
    from tranx.execution.unit_tests import execute
    snippets = load_snippet_problems(DATA / "intents.jsonl")
    problems = as_problems(snippets)
    bad = [p.id for p in problems if not p.reference]
    references = execute(problems, {p.id: [p.reference] for p in problems}, SNIPPET_HARNESS, workers=workers)
    failing = {r.id: r.errors[0] or r.verdicts[0] for r in references if r.outcomes[0] != "pass"}
    nothing = execute(problems, {p.id: ["def solution(*args):\n    return None"] for p in problems},
                      SNIPPET_HARNESS, workers=workers)
    vacuous = [r.id for r in nothing if r.outcomes[0] == "pass"]
    print(json.dumps({"problems": len(problems), "unparseable_references": bad, "failing_references": failing,
                      "passed_by_return_none": vacuous}, indent=2))
    return 1 if bad or failing or vacuous else 0


def _runs_first(snippets, problems, beams: dict[str, list[str]], workers: int) -> tuple[dict[str, str], dict]:
    """Each problem's first beam candidate that runs on its tests' inputs (asserts stripped: the expected values are
    never read), else the beam's first; and the counts of tranx.evaluation.runs_first."""
    from tranx.evaluation.runs_first import runs_first
    from tranx.execution.snippet_problems import SNIPPET_HARNESS, wrap_candidates
    wrapped = wrap_candidates(snippets, beams)
    rows = [{"id": p.id, "prediction": wrapped[p.id][0], "predictions": wrapped[p.id]} for p in snippets if beams[p.id]]
    reordered, counts = runs_first(rows, problems, SNIPPET_HARNESS, workers=workers)
    chosen = {p.id: "" for p in snippets}
    for row in reordered:  # back from the wrapped function to the snippet the user would see
        chosen[row["id"]] = beams[row["id"]][wrapped[row["id"]].index(row["prediction"])]
    return chosen, counts


def evaluate(run: str, split: str, beam_size: int, workers: int, name: str | None, rerank: str | None,
             length_penalty: float | None, reconstructor: str | None = None, weight: float | None = None,
             runs_first: bool = False) -> dict:
    from tranx.execution.snippet_problems import SNIPPET_HARNESS, as_problems, load_snippet_problems, wrap_candidates
    from tranx.execution.unit_tests import execute, summarize
    from tranx.translator import Translator
    snippets = load_snippet_problems(DATA / "intents.jsonl", split)
    translator = Translator.from_pretrained(run)
    if reconstructor is not None:
        from tranx.nn.reconstructor import Reconstructor
        translator.with_reconstructor(Reconstructor.from_pretrained(reconstructor), weight)
    rerank = rerank or translator.config.train.rerank
    penalty = translator.config.train.length_penalty if length_penalty is None else length_penalty
    results = translator.translate([p.intent for p in snippets], beam_size=beam_size,
                                   n_best=beam_size if runs_first else 1, rerank=rerank, length_penalty=penalty)
    problems = as_problems(snippets)
    ran = None
    if runs_first:
        predictions, ran = _runs_first(snippets, problems, {p.id: [c.code for c in candidates]
                                                            for p, candidates in zip(snippets, results)}, workers)
    else:
        predictions = {p.id: (candidates[0].code if candidates else "") for p, candidates in zip(snippets, results)}
    executed = execute(problems, wrap_candidates(snippets, {k: [v] for k, v in predictions.items()}),
                       SNIPPET_HARNESS, workers=workers)
    summary = summarize(problems, executed, excluded={})
    name = name or Path(run).name
    path = RESULTS / f"everyday-{name}-{split}.json"
    rows = [{"id": p.id, "intent": p.intent, "prediction": predictions[p.id], "outcome": r.outcomes[0],
             "error": r.errors[0]} for p, r in zip(snippets, executed)]
    atomic_write_text(path.with_suffix(".predictions.jsonl"),
                      "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    payload = {"model": name, "run": run, "split": split, "beam_size": beam_size, "rerank": rerank,
               "length_penalty": penalty, "reconstructor": reconstructor, "reconstruction_weight": weight,
               "runs_first": ran,
               "pass_rate": summary["pass@1"], "passed": summary["passed"], "problems": summary["total"],
               "outcomes": summary["outcomes"],
               "categories": {label: stats["pass@1"] for label, stats in summary["labels"].items()}}
    write_result(path, payload, config=translator.config.to_json(), data_folders={"everyday": DATA})
    print(f"{name} {split}: {summary['passed']}/{summary['total']} pass ({summary['pass@1']}%), written to {path}")
    return payload


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", metavar="RUN", help="run folders or checkpoints")
    parser.add_argument("--split", choices=("dev", "test"))
    parser.add_argument("--beam-size", type=int, default=15)
    parser.add_argument("--rerank", choices=RERANKERS, default=None,
                        help="order of the beam's candidates (default: the model config's train.rerank)")
    parser.add_argument("--length-penalty", type=float, default=None,
                        help="order by log-probability / actions ** this (default: the model config's)")
    parser.add_argument("--reconstructor", default=None, help="a tranx reconstructor run (with --reconstruction-weight)")
    parser.add_argument("--reconstruction-weight", type=float, default=None)
    parser.add_argument("--runs-first", action="store_true",
                        help="the beam's candidates that run on the tests' inputs (asserts stripped) first")
    parser.add_argument("--name", default=None, help="the result's name (default: the run folder's name)")
    parser.add_argument("--workers", type=int, default=1, help="sandbox workers")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--check-references", action="store_true")
    args = parser.parse_args()
    if args.check_references:
        return check_references(args.workers)
    if not args.runs or not args.split:
        parser.error("give run folders and --split (or --check-references)")
    if (args.reconstructor is None) != (args.reconstruction_weight is None):
        parser.error("--reconstructor and --reconstruction-weight go together")
    if args.name and len(args.runs) > 1:
        parser.error("--name names one run")
    from tranx.threads import set_threads
    set_threads(args.threads)
    for run in args.runs:
        evaluate(run, args.split, args.beam_size, args.workers, args.name, args.rerank, args.length_penalty,
                 args.reconstructor, args.reconstruction_weight, args.runs_first)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
