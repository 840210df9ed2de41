"""One measurement for bench/load.py, in a fresh process (the OpenMP wait policy is read when torch loads).

Prints one JSON line: seconds per training step (loss, backward, AdamW on a fixed CoNaLa batch, encoder
fine-tuned as in configs/conala.json) and seconds for batched greedy decoding of 64 intents.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("--threads", type=int, default=None, help="None: tranx's choice (free cores)")
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import torch

    from tranx.data.examples import collate, tensorize
    from tranx.data.pipeline import process_example, split_examples
    from tranx.threads import set_threads
    from tranx.translator import Translator
    threads = set_threads(args.threads)
    translator = Translator.from_pretrained(args.checkpoint)
    model = translator.model
    raw = split_examples("conala", splits=["train", "test"])
    examples = [e for e in (process_example(r, "train") for r in raw["train"][:64]) if e.ok][:16]
    batch = collate([tensorize(e.words, e.actions, model.system, model.tables) for e in examples])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    model.train()

    def step():
        nll, _ = model.loss(batch)
        optimizer.zero_grad()
        nll.mean().backward()
        optimizer.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    train_step = (time.perf_counter() - start) / args.steps
    model.eval()
    intents = [e.intent for e in raw["test"][:64]]
    translator.translate(intents[:4], beam_size=1)
    start = time.perf_counter()
    translator.translate(intents, beam_size=1, batch_size=64)
    decode = time.perf_counter() - start
    print(json.dumps({"threads": threads, "train_step_s": train_step, "greedy_64_s": decode}))


if __name__ == "__main__":
    main()
