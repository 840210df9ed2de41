"""Inference precision: fp32 (the default, and what every reported number was decoded with) or bf16 (BERT's
weights and activations, and the decoder's LSTM cell product, in bfloat16; word states, decoder states, heads and
all probabilities stay float32).

bf16 is offered only where the CPU computes it natively (AVX512-BF16 or AMX): there a BERT matrix product
takes less than half the fp32 time, elsewhere it would be emulated and slower. Decoding changes a little: the
measured speed is in bench/results/translate-compare.md, the dev scores in bench/results/precision-*-dev-*.json.
"""

from __future__ import annotations

from tranx.errors import TranxError

PRECISIONS = ("fp32", "bf16")


def native_bf16() -> bool:
    """Whether this machine's CPU computes bfloat16 matrix products natively (oneDNN's check)."""
    import torch  # here: the CLI reads PRECISIONS before it needs torch
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return False


def check_precision(precision: str) -> str:
    """`precision` when this machine can run it; a clear error otherwise."""
    if precision not in PRECISIONS:
        raise TranxError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "bf16" and not native_bf16():
        raise TranxError("precision bf16 needs a CPU with native bfloat16 (AVX512-BF16 or AMX); this one has none, "
                         "so bf16 would be slower than fp32: use fp32")
    return precision
