"""Decoding speed of this checkout against another git revision, side by side in one run on the same checkpoint.

The other revision is checked out in a temporary git worktree; both run bench/translate_worker.py (the public
`Translator` API only) in fresh processes, alternating, `--rounds` times each, on the same checkpoint and the
same CoNaLa test intents (timing only: nothing is scored). Where the CPU has native bfloat16 this checkout is
also timed with `precision="bf16"`, and where it has int8 kernels with `precision="int8"` (tranx.nn.precision). Reports medians of the rounds and the ratios
(new / old latency, new / old throughput), and the share of a decode step spent applying the grammar tables
(this checkout's decoder with and without its masks). Writes bench/results/translate-compare.{json,md}.

    python bench/compare_translate.py RUN [--against REV] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from preprocess.splits import split_examples
from tranx.io import atomic_write_text
from tranx.nn.precision import int8_engine, native_bf16
from tranx.provenance import write_result
from tranx.translator import Translator, resolve_checkpoint

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TARGETS = {"beam_5_p50_ratio_max": 0.67, "greedy_throughput_ratio_min": 2.0, "beam_5_p50_ms_max": 25.0,
           "greedy_intents_per_s_min": 300.0}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_worker(tree: Path, checkpoint: Path, intents: Path, limit: int, threads: int,
               precision: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}  # each revision's own thread policy
    env["PYTHONPATH"] = str(tree)
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "translate_worker.py"), str(checkpoint), str(intents),
                          "--limit", str(limit), "--threads", str(threads),
                          *(["--precision", precision] if precision else [])], cwd=tree, env=env, capture_output=True,
                         text=True, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"the worker failed in {tree}:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if not Path(result["tranx"]).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"the worker in {tree} imported {result['tranx']}: PYTHONPATH did not take")
    return result


def readable_by(tree: Path, checkpoint: Path, folder: Path) -> tuple[Path, dict]:
    """The checkpoint as the other revision can load it: a copy (files linked) whose config.json leaves out each
    key that revision reports unknown (a feature it lacks; the weights must still load), and those keys."""
    folder.mkdir()
    for item in checkpoint.iterdir():
        if item.name != "config.json":
            (folder / item.name).symlink_to(item)
    meta = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    dropped = {}
    env = {**os.environ, "PYTHONPATH": str(tree)}
    while True:
        (folder / "config.json").write_text(json.dumps(meta), encoding="utf-8")
        out = subprocess.run([sys.executable, "-c", "import sys; from tranx import Translator; "
                              "Translator.from_pretrained(sys.argv[1])", str(folder)], cwd=tree, env=env,
                             capture_output=True, text=True)
        unknown = re.search(r"unknown config key '(\w+)\.(\w+)'", out.stderr)
        if out.returncode == 0 or unknown is None:
            return folder, dropped
        section, key = unknown.groups()
        dropped[f"{section}.{key}"] = meta["config"][section].pop(key)


def mask_share(checkpoint: Path, intents: list[str], threads: int) -> dict:
    """Seconds of the decoder's head computation with the grammar tables applied and without, on the same states,
    against a whole decode step (decoder cell + heads), averaged over steps of real beams."""
    torch.set_num_threads(threads)
    model = Translator.from_pretrained(checkpoint).model
    translator = Translator.from_pretrained(checkpoint)
    words = [translator.prepare(i)[0] for i in intents[:64]]
    with torch.inference_mode():
        memory, state = model.encode(words)
        field = torch.zeros(len(words), dtype=torch.long).fill_(model.grammar.root_field.id)
        prev = torch.zeros(len(words), dtype=torch.long)
        parent = torch.zeros_like(state.h)

        def timed(fn, repeat=30) -> float:
            fn()
            start = time.perf_counter()
            for _ in range(repeat):
                fn()
            return (time.perf_counter() - start) / repeat

        att = model.decoder.step(prev, field, parent, state, memory).att.unsqueeze(1)
        masked = timed(lambda: model.decoder.distribution(att, field.unsqueeze(1), memory).log_probs())
        unmasked = timed(lambda: model.decoder.distribution(att, field.unsqueeze(1), memory,
                                                            grammar_mask=False).log_probs())
        step = timed(lambda: model.decode_step(prev, field, parent, state, memory)[1].log_probs())
    return {"rows": len(words), "step_ms": round(step * 1000, 3), "heads_masked_ms": round(masked * 1000, 3),
            "heads_unmasked_ms": round(unmasked * 1000, 3),
            "mask_share_of_step": round(max(0.0, masked - unmasked) / step, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder (its best/) or checkpoint folder, readable by both revisions")
    parser.add_argument("--against", default="origin/main", help="git revision to compare with (default: origin/main)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=100, help="intents timed one at a time at beam 5")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    checkpoint = resolve_checkpoint(args.run).resolve()
    commit = subprocess.run(["git", "rev-parse", args.against], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    intents = [e.intent for e in split_examples("conala", splits=["test"])["test"]]
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "worktree", "add", "--detach", str(old), commit], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            old_checkpoint, dropped = readable_by(old, checkpoint, Path(tmp) / "checkpoint")
            intents_file = Path(tmp) / "intents.json"
            intents_file.write_text(json.dumps(intents), encoding="utf-8")
            sides = (["old", "new"] + (["new_bf16"] if native_bf16() else [])
                     + (["new_int8"] if int8_engine() is not None else []))
            rounds = {side: [] for side in sides}
            for r in range(args.rounds):
                for side in sides[r % len(sides):] + sides[:r % len(sides)]:  # rotate who goes first
                    tree, folder = (old, old_checkpoint) if side == "old" else (ROOT, checkpoint)
                    rounds[side].append(run_worker(tree, folder, intents_file, args.limit, args.threads,
                                                   side.partition("_")[2] or None))
                    print(f"round {r + 1} {side}: beam-5 p50 {percentile(rounds[side][-1]['beam_5_ms'], 0.5):.1f} ms,"
                          f" greedy {len(intents) / rounds[side][-1]['greedy_seconds']:.0f} intents/s", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, capture_output=True)
    summary = {}
    for side, results in rounds.items():
        summary[side] = {"beam_5_p50_ms": round(statistics.median(percentile(r["beam_5_ms"], 0.5) for r in results), 2),
                         "beam_5_p95_ms": round(statistics.median(percentile(r["beam_5_ms"], 0.95) for r in results), 2),
                         "greedy_intents_per_s": round(statistics.median(len(intents) / r["greedy_seconds"]
                                                                         for r in results), 1)}
    ratios = {}
    for side in summary:
        if side != "old":
            suffix = side.removeprefix("new")
            ratios[f"beam_5_p50_new{suffix}_over_old"] = round(summary[side]["beam_5_p50_ms"]
                                                               / summary["old"]["beam_5_p50_ms"], 3)
            ratios[f"greedy_throughput_new{suffix}_over_old"] = round(summary[side]["greedy_intents_per_s"]
                                                                      / summary["old"]["greedy_intents_per_s"], 3)
    share = mask_share(checkpoint, intents, args.threads)
    payload = {"checkpoint": str(checkpoint), "against": {"revision": args.against, "commit": commit,
                                                            "config_keys_it_lacks": dropped},
               "rounds": args.rounds, "threads": args.threads, "intents": len(intents), "timed_one_by_one": args.limit,
               **summary, "ratios": ratios, "grammar_mask": share, "targets": TARGETS}
    write_result(RESULTS / "translate-compare.json", payload)
    names = {"old": f"old ({commit[:8]})", "new": "new", "new_bf16": "new, bf16", "new_int8": "new, int8"}
    rows = ["| | " + " | ".join(names[side] for side in summary) + " | new / old |", "|---" * (len(summary) + 2) + "|"]
    for key, label in (("beam_5_p50_ms", "beam-5 p50 latency, ms"), ("beam_5_p95_ms", "beam-5 p95 latency, ms"),
                       ("greedy_intents_per_s", "batched greedy, intents/s")):
        kind = "beam_5_p50" if key.startswith("beam_5_p50") else "greedy_throughput" if key.startswith("greedy") else None
        ratio = " / ".join(str(v) for k, v in ratios.items() if kind and k.startswith(kind))
        rows.append(f"| {label} | " + " | ".join(str(summary[side][key]) for side in summary) + f" | {ratio} |")
    rows += ["", f"Grammar tables: {100 * share['mask_share_of_step']:.1f}% of a decode step "
             f"({share['heads_masked_ms']} ms heads with masks, {share['heads_unmasked_ms']} ms without, "
             f"{share['step_ms']} ms per step, {share['rows']} rows). {args.rounds} alternating rounds, "
             f"{args.threads} threads, medians."]
    atomic_write_text(RESULTS / "translate-compare.md", "\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
