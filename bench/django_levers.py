"""The Django levers on dev, from the result files the measuring commands wrote: the exact match each run reached on
the 500 dev examples it was selected on (beam 5, its `train_summary`), the full dev set at beam 15 where it was
decoded, the reconstruction reranking's grid (bench/reconstruction_grid.py), and the training CPU minutes.
Writes bench/results/levers-django-dev.json (+ .md) with provenance.

    python bench/django_levers.py
"""

from __future__ import annotations

import json
from pathlib import Path

from levers import write_table  # bench/levers.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _minutes(summary: dict | None) -> float | None:
    return round(summary["train_seconds"] / 60, 1) if summary else None


def _row(lever: str, what: str, selection, full, summary: dict | None, kept: str, file: str) -> dict:
    return {"lever": lever, "what": what, "selection_dev": selection, "full_dev": full,
            "train_cpu_minutes": _minutes(summary), "kept": kept, "file": file}


def _reconstruction_row(name: str, kept: str) -> dict | None:
    """The reconstruction reranking of one run's dev n-best list (bench/reconstruction_grid.py --name NAME)."""
    grid = _load(f"reconstruction-grid-{name}-dev.json")
    if not grid:
        return None
    chosen = next(g for g in grid["grid"] if g["weight"] == grid["chosen_weight"])
    return _row("+ reconstruction", f"the beam reordered by the model's score + {grid['chosen_weight']:g} x the "
                f"reconstructor's (tranx reconstructor; the weight from a grid on dev; oracle of the 15 best: "
                f"{grid['oracle_exact_match']})", "no training", chosen["exact_match"],
                grid.get("reconstructor_summary"), kept, f"reconstruction-grid-{name}-dev.json")


def collect() -> dict:
    frozen, ema, ft = _load("django-test.json"), _load("django-ema-dev.json"), _load("django-ft-dev.json")
    rows = [_row("before this issue", "configs/django.json as it was (frozen MiniLM, word BiLSTM)",
                 frozen and frozen["train_summary"]["best_exact_match"], None, frozen and frozen["train_summary"],
                 "replaced", "django-test.json"),
            _row("weight averaging", "train.weight_average=0.999: the dev set decoded, and best/ kept, with an "
                 "exponential moving average of the weights", ema and ema["train_summary"]["best_exact_match"],
                 ema and ema["scores"]["exact_match"], ema and ema["train_summary"], "yes (configs/django.json)",
                 "django-ema-dev.json"),
            _reconstruction_row("django-ema", "yes (make django)")]
    rows += [_row("fine-tuned encoder", "model.finetune_encoder=true (MiniLM trained with the decoder), the rest "
                  "as before this issue (no weight averaging)", ft and ft["train_summary"]["best_exact_match"],
                  ft and ft["scores"]["exact_match"], ft and ft["train_summary"],
                  "yes (configs/django-finetuned.json)", "django-ft-dev.json"),
             _reconstruction_row("django-ft", "yes (make django-finetuned)")]
    return {"levers": [r for r in rows if r is not None]}


def markdown(payload: dict) -> str:
    def cell(value, digits=1):
        return "not measured" if value is None else value if isinstance(value, str) else f"{value:.{digits}f}"
    lines = ["| lever | what it changes | dev exact match, 500 examples, beam 5 (selection) | dev exact match, 1,000 "
             "examples, beam 15 | training, wall minutes | kept |", "|---|---|---|---|---|---|"]
    for r in payload["levers"]:
        lines.append(f"| {r['lever']} | {r['what']} | {cell(r['selection_dev'])} | {cell(r['full_dev'])} | "
                     f"{cell(r['train_cpu_minutes'], 0)} | {r['kept']} |")
    return "\n".join(lines)


def main() -> int:
    from preprocess.datasets import data_folder
    payload = collect()
    write_table("django", payload, markdown(payload), {"django": data_folder("django")})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
