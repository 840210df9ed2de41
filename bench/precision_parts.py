"""What the reduced precisions and the lean BERT pass buy, part by part, on this machine.

Times (medians of repeated calls, one thread): the decoder cell's product at beam width (5 rows, [x; h] -> 4 x
hidden) in fp32, bf16 (where native) and int8; and one CoNaLa intent through the run's BERT encoder with
transformers' forward and with tranx.nn.bert_forward, in each precision, with the largest difference between
the two. Writes bench/results/precision-parts.{json,md}.

    python bench/precision_parts.py RUN
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from tranx.io import atomic_write_text
from tranx.nn.bert_forward import bert_states
from tranx.nn.precision import PRECISIONS, int8_engine, native_bf16, quantized_int8
from tranx.provenance import write_result
from tranx.translator import Translator, resolve_checkpoint

RESULTS = Path(__file__).resolve().parent / "results"
INTENT = "sort list `x` by the second element of each tuple in descending order"


def median_ms(fn, repeat: int = 200) -> float:
    for _ in range(20):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def available() -> list[str]:
    return [p for p in PRECISIONS if p == "fp32" or (p == "bf16" and native_bf16()) or
            (p == "int8" and int8_engine() is not None)]


def cell_products(translator: Translator, rows: int = 5) -> dict:
    cell = translator.model.decoder.cell
    linear = torch.nn.Linear(cell.input_size + cell.hidden_size, 4 * cell.hidden_size)
    x = torch.randn(rows, linear.in_features)
    products = {"fp32": linear}
    if native_bf16():
        weight = linear.weight.detach().t().contiguous().to(torch.bfloat16)
        products["bf16"] = lambda v: torch.mm(v.to(torch.bfloat16), weight)
    if int8_engine() is not None:
        products["int8"] = quantized_int8(linear)
    with torch.inference_mode():
        return {name: round(1000 * median_ms(lambda: f(x)), 1) for name, f in products.items()}  # microseconds


def bert_passes(run: Path) -> dict:
    out = {}
    for precision in available():
        encoder = Translator.from_pretrained(run, precision=precision).model.encoder
        batch = encoder.batch([INTENT])
        ids, mask = batch.input_ids, batch.attention_mask
        with torch.inference_mode():
            whole = encoder.bert(input_ids=ids, attention_mask=mask).last_hidden_state
            lean = bert_states(encoder.bert, ids, mask)
            out[precision] = {
                "transformers_ms": round(median_ms(lambda: encoder.bert(input_ids=ids, attention_mask=mask), 100), 2),
                "lean_ms": round(median_ms(lambda: bert_states(encoder.bert, ids, mask), 100), 2),
                "max_abs_difference": float((whole.float() - lean.float()).abs().max()), "pieces": ids.size(1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder (its best/) or checkpoint folder with a BERT encoder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = resolve_checkpoint(args.run)
    products = cell_products(Translator.from_pretrained(run))
    passes = bert_passes(run)
    write_result(RESULTS / "precision-parts.json", {"checkpoint": str(run), "threads": 1,
                                                     "cell_product_5_rows_us": products, "bert_one_intent": passes})
    rows = ["| | " + " | ".join(products) + " |", "|---" * (len(products) + 1) + "|",
            "| decoder cell product, 5 rows, us | " + " | ".join(str(v) for v in products.values()) + " |",
            "| BERT, one intent, transformers' forward, ms | " + " | ".join(
                str(passes[p]["transformers_ms"]) if p in passes else "" for p in products) + " |",
            "| BERT, one intent, lean pass, ms | " + " | ".join(
                str(passes[p]["lean_ms"]) if p in passes else "" for p in products) + " |",
            "| lean against transformers, largest difference | " + " | ".join(
                f"{passes[p]['max_abs_difference']:.1g}" if p in passes else "" for p in products) + " |"]
    atomic_write_text(RESULTS / "precision-parts.md", "\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
