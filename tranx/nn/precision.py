"""Inference precision: fp32 (the default, and what every reported number was decoded with), bf16 or int8.

- bf16: BERT's weights and activations, and the decoder's LSTM cell product, in bfloat16. Offered only where the
  CPU computes it natively (AVX512-BF16 or AMX): there a BERT matrix product takes less than half the fp32 time,
  elsewhere it would be emulated and slower.
- int8: BERT's linear layers and the decoder's LSTM cell with int8 weights (one scale per output row) and
  activations quantized per call (PyTorch's dynamic quantization on the fbgemm/x86 kernels, which use
  AVX2 / AVX512-VNNI integer products: a product at beam width takes a fifth of the fp32 time here). Scales
  per row, not per tensor: per tensor changed more than half the top-1 outputs (bench/results/encoder-share.md).

Word states, decoder states, the heads and all probabilities stay float32 in both. Decoding changes a little:
speed in bench/results/translate-compare.md, dev scores in bench/results/precision-*-dev-*.json.

Why torch.ao's dynamic quantization and not torchao's `quantize_`: without torch.compile, torchao's eager int8
product at five rows was slower than fp32 itself in a one-off check on this CPU. torch.ao warns that it is
deprecated; torch is pinned, and its warnings are silenced while quantizing only.
"""

from __future__ import annotations

import copy
import warnings

from tranx.errors import TranxError

PRECISIONS = ("fp32", "bf16", "int8")
INT8_ENGINES = ("x86", "fbgemm")  # the server kernels; qnnpack (mobile) is slower here


def native_bf16() -> bool:
    """Whether this machine's CPU computes bfloat16 matrix products natively (oneDNN's check)."""
    import torch  # here: the CLI reads PRECISIONS before it needs torch
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return False


def int8_engine() -> str | None:
    """The quantized engine int8 decoding uses here, or None where this torch build or CPU has none (fbgemm needs
    AVX2)."""
    import torch
    engines = torch.backends.quantized.supported_engines
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        return None
    return next((e for e in INT8_ENGINES if e in engines), None)


def check_precision(precision: str) -> str:
    """`precision` when this machine can run it; a clear error otherwise."""
    if precision not in PRECISIONS:
        raise TranxError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "bf16" and not native_bf16():
        raise TranxError("precision bf16 needs a CPU with native bfloat16 (AVX512-BF16 or AMX); this one has none, "
                         "so bf16 would be slower than fp32: use fp32")
    if precision == "int8" and int8_engine() is None:
        raise TranxError("precision int8 needs PyTorch's fbgemm/x86 quantized kernels and a CPU with AVX2; "
                         "this machine has neither: use fp32")
    return precision


def quantized_int8(module, *, inplace: bool = False):
    """`module` with its nn.Linear and nn.LSTMCell layers dynamically quantized to int8 (weights per output row);
    a quantized copy unless `inplace`. Other layers (embeddings, layer norms) stay float32."""
    import torch
    from torch import nn
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    torch.backends.quantized.engine = int8_engine() or torch.backends.quantized.engine
    spec = {nn.Linear: per_channel_dynamic_qconfig, nn.LSTMCell: per_channel_dynamic_qconfig}
    target = module if inplace else copy.deepcopy(module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notices, once per quantized layer
        if isinstance(target, (nn.Linear, nn.LSTMCell)):  # quantize_dynamic swaps children only
            return quantize_dynamic(nn.Sequential(target), spec)[0]
        return quantize_dynamic(target, spec, inplace=True)
