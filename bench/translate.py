"""Speed of a trained translator on this machine's CPU.

Single-intent latency of `Translator.translate` (p50/p95) at beam 1, 5 and 15; batched greedy
throughput (intents/s) on CoNaLa test; peak resident memory of the process; and the training
throughput recorded in the runs' summary.json. Writes bench/results/translate.json and .md.

    python bench/translate.py RUN [--runs RUN ...] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from tranx.data.pipeline import split_examples
from tranx.io import atomic_write_text
from tranx.provenance import write_result
from tranx.translator import Translator, set_threads

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder (its best/) or checkpoint folder")
    parser.add_argument("--runs", nargs="*", default=[], help="run folders whose summary.json gives training speed")
    parser.add_argument("--limit", type=int, default=100, help="intents timed one by one per beam size")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    set_threads(args.threads)
    folder = Path(args.run) / "best" if (Path(args.run) / "best").is_dir() else Path(args.run)
    t0 = time.perf_counter()
    translator = Translator.from_pretrained(folder)
    load_seconds = time.perf_counter() - t0
    intents = [e.intent for e in split_examples("conala", splits=["test"])["test"]]
    translator.translate(intents[:4], beam_size=5)  # warm-up
    latency = {}
    for beam in (1, 5, 15):
        times = []
        for intent in intents[:args.limit]:
            start = time.perf_counter()
            translator.translate(intent, beam_size=beam)
            times.append((time.perf_counter() - start) * 1000)
        latency[f"beam_{beam}"] = {"p50_ms": round(percentile(times, 0.5), 1),
                                   "p95_ms": round(percentile(times, 0.95), 1),
                                   "mean_ms": round(statistics.mean(times), 1)}
    throughput = {}
    for beam in (1, 5):
        start = time.perf_counter()
        translator.translate(intents, beam_size=beam, batch_size=64)
        throughput[f"beam_{beam}_intents_per_s"] = round(len(intents) / (time.perf_counter() - start), 1)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    training = {}
    for run in args.runs:
        summary = Path(run) / "summary.json"
        if summary.is_file():
            training[Path(run).name] = json.loads(summary.read_text())
        else:
            print(f"skipped {run}: no summary.json (not a finished training run)", file=sys.stderr)
    result = {"checkpoint": str(folder), "load_seconds": round(load_seconds, 2), "latency": latency,
              "batched": throughput, "test_intents": len(intents), "peak_rss_mb": round(peak_mb),
              "training": training, "threads": torch.get_num_threads(),
              "targets": {"beam_5_p50_ms": 50, "batched_greedy_intents_per_s": 100}}
    RESULTS.mkdir(exist_ok=True)
    result = write_result(RESULTS / "translate.json", result)  # machine, command, commit
    rows = ["| beam | p50 ms | p95 ms |", "|---|---|---|"]
    rows += [f"| {k.split('_')[1]} | {v['p50_ms']} | {v['p95_ms']} |" for k, v in latency.items()]
    rows += ["", f"Batched on CoNaLa test ({len(intents)} intents, batches of 64): greedy "
             f"{throughput['beam_1_intents_per_s']} intents/s, beam 5 {throughput['beam_5_intents_per_s']} intents/s. "
             f"Peak RSS {peak_mb:.0f} MB; checkpoint load {load_seconds:.1f} s; {torch.get_num_threads()} threads."]
    for name, summary in training.items():
        rows.append(f"Training `{name}`: {summary.get('examples_per_second')} examples/s "
                    f"({summary.get('train_seconds')} s, {summary.get('epochs')} epochs).")
    atomic_write_text(RESULTS / "translate.md", "\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    sys.exit(main())
