"""Where batched greedy decoding spends its time, and what a cheaper encoder would buy and cost.

Decodes the CoNaLa test intents with greedy search (batches of 64, like bench/compare_translate.py) and
times the encoder's forward pass apart from the rest; then the same with BERT's linear layers quantised to
int8 (torch dynamic quantisation) and with bf16 autocast, reporting throughput and how many top-1 outputs
stay the same. Writes bench/results/encoder-share.{json,md}.

    python bench/encoder_share.py RUN [--threads 2]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import torch

from preprocess.splits import split_examples
from tranx.io import atomic_write_text
from tranx.provenance import write_result
from tranx.translator import Translator, resolve_checkpoint

RESULTS = Path(__file__).resolve().parent / "results"


def timed_greedy(translator: Translator, intents: list[str]) -> tuple[float, float, list[str]]:
    """(total seconds, seconds inside the encoder's forward pass, top-1 codes)."""
    encoder = translator.model.encoder
    spent = [0.0]
    original = encoder.forward

    def forward(*args, **kwargs):
        start = time.perf_counter()
        out = original(*args, **kwargs)
        spent[0] += time.perf_counter() - start
        return out

    encoder.forward = forward
    try:
        translator.translate(intents[:16], beam_size=1)  # warm-up
        spent[0] = 0.0
        start = time.perf_counter()
        out = translator.translate(intents, beam_size=1, batch_size=64)
        total = time.perf_counter() - start
    finally:
        encoder.forward = original
    return total, spent[0], [c[0].code if c else "" for c in out]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    intents = [e.intent for e in split_examples("conala", splits=["test"])["test"]]
    translator = Translator.from_pretrained(resolve_checkpoint(args.run))
    rows = {}
    total, encoder, base = timed_greedy(translator, intents)
    rows["fp32"] = {"intents_per_s": round(len(intents) / total, 1), "encoder_share": round(encoder / total, 3),
                    "same_top1": len(intents)}
    bert = translator.model.encoder.bert
    translator.model.encoder.bert = torch.ao.quantization.quantize_dynamic(bert, {torch.nn.Linear}, dtype=torch.qint8)
    total, encoder, codes = timed_greedy(translator, intents)
    rows["int8 dynamic (BERT linears)"] = {"intents_per_s": round(len(intents) / total, 1),
                                           "encoder_share": round(encoder / total, 3),
                                           "same_top1": sum(a == b for a, b in zip(base, codes))}
    translator.model.encoder.bert = bert
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, encoder, codes = timed_greedy(translator, intents)
    rows["bf16 autocast"] = {"intents_per_s": round(len(intents) / total, 1), "encoder_share": round(encoder / total, 3),
                             "same_top1": sum(a == b for a, b in zip(base, codes))}
    write_result(RESULTS / "encoder-share.json", {"run": args.run, "threads": args.threads, "intents": len(intents),
                                                   "rows": rows})
    lines = ["| encoder | greedy intents/s | encoder share of the time | same top-1 as fp32 |", "|---|---|---|---|"]
    lines += [f"| {name} | {r['intents_per_s']} | {100 * r['encoder_share']:.0f}% | {r['same_top1']} / {len(intents)} |"
              for name, r in rows.items()]
    atomic_write_text(RESULTS / "encoder-share.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
