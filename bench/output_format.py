"""Which way of writing code best matches how a data set's references are written, measured on train and dev only.

Each reference is parsed and written back in every output style the language offers (tranx.languages:
`plain`, `astor`); the style whose rewritten references score the highest BLEU against the raw references
is the one a task's predictions are rewritten into for scoring (its `reference_style`, preprocess/tasks.py).
Test is never read.
Writes bench/results/output-format-<dataset>.json (with provenance).

    python bench/output_format.py [--dataset conala]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from preprocess.datasets import resolve_data_root
from tranx.data.pipeline import split_examples
from preprocess.tasks import get_task
from tranx.languages import get_language
from tranx.metrics import token_scores
from tranx.provenance import write_result

RESULTS = Path(__file__).resolve().parent / "results"
STYLES = ("plain", "astor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="conala")
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    task = get_task(args.dataset)
    language = get_language(task.language)
    splits = split_examples(args.dataset, args.data_root, splits=["train", "dev"])
    out = {}
    for split, examples in splits.items():
        references, written, skipped = [], {style: [] for style in STYLES}, 0
        for e in examples:
            try:
                canonical = language.canonicalize(task.to_parseable(e.code))
            except Exception:  # noqa: BLE001 (a reference that does not parse is counted, not scored)
                skipped += 1
                continue
            references.append(e.code)
            for style in STYLES:
                written[style].append(task.from_parseable(language.pretty(canonical, style=style)))
        out[split] = {"n": len(references), "skipped_unparseable": skipped,
                      **{style: round(token_scores(written[style], references)["bleu"], 2) for style in STYLES}}
        print(split, out[split])
    best = {split: max(STYLES, key=lambda s: scores[s]) for split, scores in out.items()}
    folder = resolve_data_root(args.data_root, args.dataset) / args.dataset
    path = RESULTS / f"output-format-{args.dataset}.json"
    write_result(path, {"dataset": args.dataset, "bleu_of_rewritten_references": out, "best_style": best,
                        "task_reference_style": task.reference_style}, data_folders={args.dataset: folder})
    print(f"best style per split: {best}; the task uses {task.reference_style!r}; written to {path}")


if __name__ == "__main__":
    main()
