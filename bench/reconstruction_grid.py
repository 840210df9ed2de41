"""Choose the reconstructor's reranking weight on dev: one n-best dev predictions file (`tranx eval --split dev
--n-best 15`), the reconstructor's scores computed once, every weight of a grid scored with the task's metrics, and
the oracle (a candidate equal to the reference anywhere in the list) for the headroom. Dev only: the weight it picks
is then used once on test with `tranx rerank`.

    python bench/reconstruction_grid.py PREDICTIONS.jsonl --reconstructor RUN --dataset django \
        --weights 0,0.1,0.2,0.5,1 [--coverage] --name django-ema

Writes bench/results/reconstruction-grid-NAME-dev.json (+ .md) with provenance.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from preprocess.datasets import data_folder
from preprocess.tasks import get_task
from tranx.data.pipeline import DEV_SEED, split_examples
from tranx.decoding.reconstruction_rerank import reconstruction_scores, reranked_rows
from tranx.evaluation.scoring import comparison_key, in_reference_style, task_scores
from tranx.io import atomic_write_text
from tranx.metrics import default_canonicalize
from tranx.nn.reconstructor import Reconstructor
from tranx.provenance import write_result
from tranx.threads import set_threads

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"


def oracle(rows: list[dict], references: dict[str, str], dataset: str) -> float:
    """Share (%) of rows with a candidate equal to the reference under the task's exact-match key."""
    task = get_task(dataset)
    key = comparison_key(task) or default_canonicalize
    hits = sum(any(key(in_reference_style(task, p)) == key(references[r["id"]]) for p in r["predictions"])
               for r in rows)
    return 100.0 * hits / len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions")
    parser.add_argument("--reconstructor", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--weights", default="0,0.05,0.1,0.2,0.3,0.5,0.75,1,1.5,2")
    parser.add_argument("--coverage", action="store_true")
    parser.add_argument("--name", required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    set_threads(args.threads)
    rows = [json.loads(line) for line in Path(args.predictions).read_text(encoding="utf-8").splitlines() if line.strip()]
    if any(not r["id"].startswith(("dev/", "train/")) for r in rows):
        raise SystemExit("dev predictions only: the weight is chosen on dev, test is decoded once with it")
    raw = {e.id: e.code for e in split_examples(args.dataset, None, seed=DEV_SEED, splits=["dev"])["dev"]}
    references = [raw[r["id"]] for r in rows]
    folder = Path(args.reconstructor)
    model = Reconstructor.from_pretrained(folder)
    recon = reconstruction_scores(rows, model)
    grid = []
    for weight in [float(w) for w in args.weights.split(",")]:
        reranked = reranked_rows(rows, recon, weight, coverage=args.coverage)
        scores = task_scores(args.dataset, [r["prediction"] for r in reranked], references)
        grid.append({"weight": weight, **{k: round(v, 4) for k, v in scores.items() if k != "n"},
                     "first_changed": sum(a["prediction"] != b["prediction"] for a, b in zip(rows, reranked))})
        print(json.dumps(grid[-1]))
    metric = get_task(args.dataset).selection_metric
    best = max(grid, key=lambda g: g[metric])  # the first of equal scores: the smallest weight
    payload = {"dataset": args.dataset, "split": "dev", "n": len(rows), "predictions": args.predictions,
               "reconstructor": str(folder), "reconstructor_summary": Reconstructor.run_summary(folder),
               "coverage_first": args.coverage, "metric": metric,
               "oracle_exact_match": round(oracle(rows, {r["id"]: raw[r["id"]] for r in rows}, args.dataset), 2),
               "candidates_per_row": round(sum(len(r["predictions"]) for r in rows) / len(rows), 2),
               "grid": grid, "chosen_weight": best["weight"]}
    path = RESULTS / f"reconstruction-grid-{args.name}-dev.json"
    write_result(path, payload, config={"weights": args.weights, "coverage": args.coverage},
                 data_folders={args.dataset: data_folder(args.dataset, None)})
    lines = [f"# Reconstruction reranking on {args.dataset} dev ({len(rows)} intents, {args.name})", "",
             f"Oracle (reference anywhere in the n-best list): {payload['oracle_exact_match']}% exact match; "
             f"{payload['candidates_per_row']} candidates per intent. Chosen weight: {best['weight']:g} ({metric}).", "",
             "| weight | BLEU | exact match | first candidate changed |", "|---|---|---|---|"]
    lines += [f"| {g['weight']:g} | {g['bleu']:.2f} | {g['exact_match']:.2f} | {g['first_changed']} |" for g in grid]
    atomic_write_text(path.with_suffix(".md"), "\n".join(lines) + "\n")
    print(f"chosen weight {best['weight']:g}; oracle {payload['oracle_exact_match']}%; written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
