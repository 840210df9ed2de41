"""Training and decoding speed beside other CPU-bound processes, with the old and the new thread policy.

For 0, 1 and 2 competing processes (each a busy loop on one core), runs bench/load_worker.py in a fresh process
under three policies: `spin` (a thread per core, active wait), `passive` (free cores, always a passive wait) and
`tranx` (free cores, passive only on a busy machine: tranx/threads.py). Reports seconds per training step and for batched greedy
decoding, and the slowdown against the idle machine. Writes bench/results/load.{json,md}.

    python bench/load.py RUN
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

from tranx.io import atomic_write_text
from tranx.provenance import write_result
from tranx.translator import resolve_checkpoint

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# "spin": a thread per core, always spinning; "passive": free cores, always passive (the previous policy);
# "tranx": what tranx chooses (free cores; passive only when the machine is busy, tranx/threads.py).
POLICIES = {"spin": {"threads": str(os.cpu_count()), "OMP_WAIT_POLICY": "ACTIVE"},
            "passive": {"threads": None, "OMP_WAIT_POLICY": "PASSIVE"},
            "tranx": {"threads": None, "OMP_WAIT_POLICY": None}}


def _busy() -> None:
    while True:
        pass


def measure(checkpoint: Path, policy: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = str(ROOT)
    if policy["OMP_WAIT_POLICY"]:
        env["OMP_WAIT_POLICY"] = policy["OMP_WAIT_POLICY"]
    command = [sys.executable, str(ROOT / "bench" / "load_worker.py"), str(checkpoint)]
    if policy["threads"]:
        command += ["--threads", policy["threads"]]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    args = parser.parse_args()
    checkpoint = resolve_checkpoint(args.run).resolve()
    rows = {}
    for competitors in (0, 1, 2):
        busy = [multiprocessing.Process(target=_busy, daemon=True) for _ in range(competitors)]
        for p in busy:
            p.start()
        time.sleep(2 if competitors else 0)  # let them start (tranx measures the busy cores when imported)
        try:
            for name, policy in POLICIES.items():
                rows[f"{competitors}:{name}"] = result = measure(checkpoint, policy)
                print(competitors, name, result, flush=True)
        finally:
            for p in busy:
                p.terminate()
            for p in busy:
                p.join()
        time.sleep(5)
    for key, result in rows.items():
        idle = rows[f"0:{key.split(':')[1]}"]
        result["train_slowdown"] = round(result["train_step_s"] / idle["train_step_s"], 2)
        result["decode_slowdown"] = round(result["greedy_64_s"] / idle["greedy_64_s"], 2)
    write_result(RESULTS / "load.json", {"checkpoint": str(checkpoint), "cores": os.cpu_count(), "rows": rows})
    lines = ["| competing processes | policy | threads | train step s | slowdown | greedy 64 intents s | slowdown |",
             "|---|---|---|---|---|---|---|"]
    for key, r in rows.items():
        competitors, name = key.split(":")
        lines.append(f"| {competitors} | {name} | {r['threads']} | {r['train_step_s']:.3f} | {r['train_slowdown']} | "
                     f"{r['greedy_64_s']:.3f} | {r['decode_slowdown']} |")
    atomic_write_text(RESULTS / "load.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
