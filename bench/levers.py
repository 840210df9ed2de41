"""The quality levers of the CoNaLa model, on dev only: what each adds over the shipped model, at what cost.

Reads the result files the measuring commands wrote (CoNaLa dev with `tranx eval ... --result`, everyday dev with
`bench/everyday.py`), tests each lever's CoNaLa dev BLEU against the row it builds on by a paired bootstrap over the 200 dev
examples (tranx.ablation.bootstrap) and writes bench/results/levers-conala-dev.json (+ .md) with provenance.
A lever whose files are missing is listed as not measured.

    python bench/levers.py
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tranx.io import atomic_write_text
from tranx.provenance import write_result

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

BASE = "base"
COVERAGE = "coverage rerank"
RETRAINED = "coverage rerank, retrained"


@dataclass(frozen=True)
class Lever:
    name: str
    what: str
    conala_dev: str  # result file of `tranx eval ... --split dev --result`
    everyday_dev: str | None  # result file of bench/everyday.py --split dev
    runs: tuple[str, ...]  # the training runs it needs (their CPU time is its cost)
    against: str = BASE  # the row it is compared with


LEVERS = [
    Lever(BASE, "configs/conala.json before this issue (no rerank), beam 15", "lever-conala-base-dev.json",
          "everyday-conala-dev.json", ("runs/conala",)),
    Lever(COVERAGE, "the beam's candidates naming more of the intent's backquoted names and quoted values first "
          "(--rerank coverage; shipped)", "lever-conala-coverage-dev.json", "everyday-conala-coverage-dev.json",
          ("runs/conala",)),
    Lever("length penalty 2", "candidates ordered by log-probability / actions ** 2 instead of the mean per action "
          "(--length-penalty 2)", "lever-conala-lp2-dev.json", "everyday-conala-lp2-dev.json", ("runs/conala",)),
    *(Lever(f"coverage + length penalty {a}", "both" + (" (a grid on dev: 1.5, 2, 2.5, 3)" if a == "1.5" else ""),
            f"lever-conala-coverage-lp{a}-dev.json", f"everyday-conala-coverage-lp{a}-dev.json", ("runs/conala",),
            COVERAGE) for a in ("1.5", "2", "2.5", "3")),
    Lever("coverage + CodeInsight train", "520 CodeInsight training functions whose body is one return, as CoNaLa-style "
          "pairs, added to CoNaLa train (bench/extra_supervision.py)", "lever-conala-plus-coverage-dev.json",
          "everyday-conala-plus-coverage-dev.json", ("runs/conala-plus",), COVERAGE),
    Lever("coverage + ensemble of 2 seeds", "runs/conala and runs/conala-s2 decoded together (tranx ensemble)",
          "lever-conala-ensemble-coverage-dev.json", "everyday-conala-ensemble-coverage-dev.json",
          ("runs/conala", "runs/conala-s2"), COVERAGE),
    Lever("frozen MiniLM", "the encoder not fine-tuned (model.finetune_encoder=false), with coverage",
          "lever-conala-frozen-coverage-dev.json", "everyday-conala-frozen-coverage-dev.json", ("runs/conala-frozen",),
          COVERAGE),
    Lever("frozen all-mpnet-base-v2", "a 110M encoder instead of MiniLM's 22M, frozen, with coverage",
          "lever-conala-mpnet-frozen-coverage-dev.json", "everyday-conala-mpnet-frozen-coverage-dev.json",
          ("runs/conala-mpnet-frozen",), "frozen MiniLM"),
    Lever("fine-tuned all-mpnet-base-v2", "the 110M encoder fine-tuned as the shipped MiniLM is (configs/conala.json, "
          "model.encoder=all-mpnet-base-v2), with coverage", "lever-conala-mpnet-coverage-dev.json",
          "everyday-conala-mpnet-coverage-dev.json", ("runs/conala-mpnet",), COVERAGE),
    Lever("frozen MiniLM + retrieval", "the code of the nearest training pair (BM25 over intents) read after the "
          "intent (train.retrieve=1), frozen MiniLM, with coverage", "lever-conala-frozen-retrieve-coverage-dev.json",
          "everyday-conala-frozen-retrieve-coverage-dev.json", ("runs/conala-frozen-retrieve",), "frozen MiniLM"),
    Lever(RETRAINED, "configs/conala.json trained again with the same seed (the make demo run now on this machine: "
          "another model, the run-to-run spread), with coverage", "lever-conala-retrained-coverage-dev.json",
          "everyday-conala-retrained-coverage-dev.json", ("runs/conala",), COVERAGE),
    Lever("coverage + reconstruction", "that model's whole beam reordered by its score + 2 x the reconstructor's "
          "log-probability of the intent given the candidate, per intent token (tranx reconstructor; the weight "
          "from a grid on dev: bench/results/reconstruction-grid-conala-dev.md), within each coverage level; "
          "kept: make demo uses it",
          "lever-conala-reconstruction-dev.json", "everyday-conala-reconstruction-dev.json",
          ("runs/conala", "runs/conala-recon"), RETRAINED),
]


def _load(name: str | None) -> dict | None:
    path = RESULTS / name if name else None
    return json.loads(path.read_text(encoding="utf-8")) if path and path.is_file() else None


def _recorded_summaries() -> dict[str, dict]:
    """The training summary each CoNaLa dev result (and reconstruction grid) recorded, by run (a run folder may be
    gone from this machine)."""
    found = {}
    for path in sorted(RESULTS.glob("lever-conala-*-dev.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        if result.get("train_summary"):
            found.setdefault(result.get("run"), result["train_summary"])
    for path in sorted(RESULTS.glob("reconstruction-grid-*-dev.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        if result.get("reconstructor_summary"):
            found.setdefault(result["reconstructor"], result["reconstructor_summary"])
    return found


def _train_minutes(result: dict | None, runs: tuple[str, ...]) -> float | None:
    """CPU minutes of the training runs (their summary.json as a result file recorded it, else read now)."""
    total = 0.0
    recorded = _recorded_summaries()
    for run in runs:
        summary = (result or {}).get("train_summary") if run == (result or {}).get("run") else recorded.get(run)
        path = ROOT / run / "summary.json"
        if summary is None and path.is_file():
            summary = json.loads(path.read_text(encoding="utf-8"))
        if not summary:
            return None
        total += summary["train_seconds"] / 60
    return round(total, 1)


def _length_ratio(predictions: list[str], references: list[str]) -> float:
    """Top-1 length over reference length, in the BLEU tokens (below 1, BLEU's brevity penalty applies)."""
    from tranx.metrics import tokenize_for_bleu_eval
    hypothesis = sum(len(tokenize_for_bleu_eval(p)) for p in predictions)
    return round(hypothesis / sum(len(tokenize_for_bleu_eval(r)) for r in references), 3)


def _dev_predictions(result: dict) -> list[str]:
    rows = [json.loads(line) for line in (ROOT / result["scores"]["predictions"]).read_text().splitlines()]
    return [r["prediction"] for r in rows]


def _references() -> list[str]:
    from preprocess.splits import split_examples
    return [e.code for e in split_examples("conala", None, splits=["dev"])["dev"]]


def _bootstrap(base: dict, lever: dict, references: list[str]) -> dict:
    from preprocess.tasks import get_task
    from tranx.ablation.report import example_scores
    from tranx.ablation.bootstrap import paired_bootstrap
    task = get_task("conala")
    pair = (example_scores(task, "bleu", _dev_predictions(lever), references),
            example_scores(task, "bleu", _dev_predictions(base), references))
    return paired_bootstrap([pair], resamples=10_000, seed=1).to_json()


def collect() -> dict:
    by_name = {lever.name: lever for lever in LEVERS}
    references = _references()
    rows = []
    for lever in LEVERS:
        dev, everyday = _load(lever.conala_dev), _load(lever.everyday_dev)
        row = {"lever": lever.name, "what": lever.what, "conala_dev_file": lever.conala_dev,
               "everyday_dev_file": lever.everyday_dev,
               "conala_dev_bleu": dev["scores"]["bleu"] if dev else None,
               "everyday_dev_passed": everyday["passed"] if everyday else None,
               "everyday_dev_problems": everyday["problems"] if everyday else None,
               "length_ratio": _length_ratio(_dev_predictions(dev), references) if dev else None,
               "train_cpu_minutes": _train_minutes(dev, lever.runs) if dev else None}
        against = _load(by_name[lever.against].conala_dev)
        if dev and against and lever.name != BASE:
            row["against"] = lever.against
            row["bleu_vs_against"] = _bootstrap(against, dev, references)
        rows.append(row)
    return {"levers": rows}


def markdown(payload: dict) -> str:
    lines = ["| lever | what it changes | CoNaLa dev BLEU | against | difference (95% interval, p) | "
             "top-1 / reference length | everyday dev passed | training, CPU minutes |",
             "|---|---|---|---|---|---|---|---|"]
    for row in payload["levers"]:
        bleu = "not measured" if row["conala_dev_bleu"] is None else f"{row['conala_dev_bleu']:.2f}"
        vs = row.get("bleu_vs_against")
        difference = (f"{vs['delta']:+.2f} ({vs['low']:+.2f} to {vs['high']:+.2f}, p {vs['p_value']:.3f})"
                      if vs else "")
        everyday = ("not measured" if row["everyday_dev_passed"] is None
                    else f"{row['everyday_dev_passed']} / {row['everyday_dev_problems']}")
        minutes = "" if row["train_cpu_minutes"] is None else f"{row['train_cpu_minutes']:.0f}"
        ratio = "" if row["length_ratio"] is None else f"{row['length_ratio']:.2f}"
        lines.append(f"| {row['lever']} | {row['what']} | {bleu} | {row.get('against', '')} | {difference} | "
                     f"{ratio} | {everyday} | {minutes} |")
    return "\n".join(lines)


def write_table(name: str, payload: dict, table: str, data_folders: dict) -> None:
    """bench/results/levers-NAME-dev.json (with provenance) and its Markdown table; the table printed."""
    path = RESULTS / f"levers-{name}-dev.json"
    write_result(path, payload, data_folders=data_folders)
    atomic_write_text(path.with_suffix(".md"), table + "\n")
    print(table)


def main() -> int:
    from preprocess.datasets import data_folder
    payload = collect()
    write_table("conala", payload, markdown(payload),
                {"conala": data_folder("conala"), "everyday": ROOT / "data" / "everyday"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
