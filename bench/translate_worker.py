"""One timing pass of a Translator through its public API only (so any tranx version can run it).

Run by bench/compare_translate.py with PYTHONPATH pointing at the checkout to time; prints one JSON line:
the tranx it imported, beam-5 latency per intent (ms, one at a time) and batched greedy throughput.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("intents", help="JSON file: a list of intents")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", default=None, help="passed to from_pretrained (a tranx that has it)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    import tranx
    from tranx import Translator
    intents = json.load(open(args.intents, encoding="utf-8"))
    options = {"precision": args.precision} if args.precision else {}
    translator = Translator.from_pretrained(args.checkpoint, **options)
    translator.translate(intents[:8], beam_size=5)  # warm-up
    latency = []
    for intent in intents[:args.limit]:
        start = time.perf_counter()
        translator.translate(intent, beam_size=5)
        latency.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
    greedy = translator.translate(intents, beam_size=1, batch_size=64)
    seconds = time.perf_counter() - start
    print(json.dumps({"tranx": tranx.__file__, "beam_5_ms": latency, "greedy_seconds": seconds,
                      "greedy_intents": len(intents), "greedy_nonempty": sum(1 for c in greedy if c),
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
