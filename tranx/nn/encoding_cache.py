"""Word states of a frozen encoder, computed once per intent text, kept in memory, saved as safetensors.

A frozen BERT gives the same states for a text every epoch, so a frozen-encoder training run encodes
each training intent once. The file format has no pickle; its metadata carries a fingerprint of the
encoder, and a cache made by other weights is refused.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch import nn

from preprocess.words import Word

from tranx.nn.encoder import module_fingerprint
from tranx.nn.word_batch import EncoderOutput, WordBatch, as_words
from tranx.errors import TranxError

CACHE_FORMAT, CACHE_VERSION = "tranx-encoding-cache", 1


class EncodingCache:
    """Word states of a frozen encoder, computed once per intent text and kept in memory.

    Used in place of the encoder: ``cache.batch(items)`` and ``cache(batch) -> EncoderOutput`` (missing texts are
    encoded on the fly). ``add(items)`` encodes many texts in batches under ``torch.inference_mode`` with the encoder
    in eval mode. ``save(path)`` writes one safetensors file: ``states`` [N, H] (all words of all texts, in order),
    ``word_mask`` [N] bool, ``offsets`` [T+1] (rows of text t = offsets[t]:offsets[t+1]) and the texts as UTF-8
    (``text_bytes`` uint8 + ``text_offsets``); the metadata holds the format, version, hidden size and the encoder's
    fingerprint, checked by ``load(path, encoder)``. No pickle."""

    def __init__(self, encoder: nn.Module, *, batch_size: int = 64, dtype: torch.dtype = torch.float32):
        self.encoder = encoder
        self.batch_size = batch_size
        self.dtype = dtype
        self.hidden_size: int = int(encoder.hidden_size)
        self._states: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # text -> ([W, H], [W] bool), on CPU

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, text: str) -> bool:
        return text in self._states

    def __getitem__(self, text: str) -> torch.Tensor:
        """[W, H] word states of ``text``."""
        return self._states[text][0]

    def texts(self) -> list[str]:
        return list(self._states)

    def batch(self, items: Sequence[str | Sequence[str] | Sequence[Word]]) -> WordBatch:
        return self.encoder.batch(items)

    def lengths(self, items: Sequence[str | Sequence[str] | Sequence[Word]]) -> list[int]:
        return self.encoder.lengths(items)

    def add(self, items: Iterable[str | Sequence[str] | Sequence[Word]]) -> int:
        """Encode the intents not yet cached; returns how many were encoded."""
        todo, seen = [], set()
        for item in items:
            text, _ = as_words(item)
            if text not in self._states and text not in seen:
                seen.add(text)
                todo.append(item)
        was_training = self.encoder.training
        self.encoder.eval()
        try:
            with torch.inference_mode():
                for i in range(0, len(todo), self.batch_size):
                    batch = self.encoder.batch(todo[i:i + self.batch_size])
                    out = self.encoder(batch)
                    states = out.word_states.to("cpu", self.dtype)
                    mask = out.word_mask.to("cpu")
                    for b, (text, words) in enumerate(zip(batch.texts, batch.words)):
                        n = len(words)
                        self._states[text] = (states[b, :n].clone(), mask[b, :n].clone())
        finally:
            self.encoder.train(was_training)
        return len(todo)

    def __call__(self, batch: WordBatch) -> EncoderOutput:
        """The cached ``(word_states, word_mask)`` of ``batch``, padded like the encoder's output (float32)."""
        missing = [t for t in batch.texts if t not in self._states]
        if missing:
            self.add(missing)
        B, W = len(batch), batch.num_words
        states = torch.zeros((B, W, self.hidden_size), dtype=torch.float32)
        mask = torch.zeros((B, W), dtype=torch.bool)
        for b, text in enumerate(batch.texts):
            s, m = self._states[text]
            states[b, :s.shape[0]] = s
            mask[b, :m.shape[0]] = m
        device = batch.word_mask.device
        return EncoderOutput(states.to(device), mask.to(device))

    def save(self, path: str | os.PathLike) -> None:
        from safetensors.torch import save_file

        path = Path(path)
        texts = list(self._states)
        rows = [self._states[t] for t in texts]
        counts = [s.shape[0] for s, _ in rows]
        encoded = [t.encode("utf-8") for t in texts]
        tensors = {
            "states": torch.cat([s for s, _ in rows]) if rows else torch.zeros((0, self.hidden_size), dtype=self.dtype),
            "word_mask": torch.cat([m for _, m in rows]) if rows else torch.zeros(0, dtype=torch.bool),
            "offsets": torch.tensor([0, *torch.tensor(counts, dtype=torch.long).cumsum(0).tolist()], dtype=torch.long),
            "text_bytes": torch.frombuffer(bytearray(b"".join(encoded)), dtype=torch.uint8) if encoded
            else torch.zeros(0, dtype=torch.uint8),
            "text_offsets": torch.tensor([0, *torch.tensor([len(e) for e in encoded], dtype=torch.long).cumsum(0)
                                          .tolist()], dtype=torch.long),
        }
        meta = {"format": CACHE_FORMAT, "version": str(CACHE_VERSION), "hidden_size": str(self.hidden_size),
                "fingerprint": _fingerprint_of(self.encoder)}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata=meta)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike, encoder: nn.Module, *, batch_size: int = 64,
             check_fingerprint: bool = True) -> "EncodingCache":
        """Reopen a saved cache for ``encoder``; refuses a file made by other weights (unless told not to check)."""
        from safetensors import safe_open

        try:
            with safe_open(os.fspath(path), framework="pt") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as exc:
            raise TranxError(f"cannot read encoding cache {path}: {exc}") from None
        if meta.get("format") != CACHE_FORMAT or meta.get("version") != str(CACHE_VERSION):
            raise TranxError(f"{path}: not a version-{CACHE_VERSION} {CACHE_FORMAT} file")
        if int(meta.get("hidden_size", -1)) != int(encoder.hidden_size):
            raise TranxError(f"{path}: hidden size {meta.get('hidden_size')} != encoder's {encoder.hidden_size}")
        if check_fingerprint and meta.get("fingerprint") != _fingerprint_of(encoder):
            raise TranxError(f"{path} was computed by a different encoder (weights, config or tokenizer differ)")
        states = tensors["states"]
        cache = cls(encoder, batch_size=batch_size, dtype=states.dtype)
        offsets, text_offsets = tensors["offsets"].tolist(), tensors["text_offsets"].tolist()
        raw = tensors["text_bytes"].numpy().tobytes()
        for t in range(len(offsets) - 1):
            text = raw[text_offsets[t]:text_offsets[t + 1]].decode("utf-8")
            a, b = offsets[t], offsets[t + 1]
            cache._states[text] = (states[a:b].clone(), tensors["word_mask"][a:b].clone())
        return cache


def _fingerprint_of(encoder: nn.Module) -> str:
    fp = getattr(encoder, "fingerprint", None)
    return fp() if callable(fp) else module_fingerprint(encoder, type(encoder).__name__)


