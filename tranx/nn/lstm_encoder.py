"""The non-BERT encoder of the input-representation ablation: a BiLSTM over sentencepiece pieces, pooled into words.

Same interface as ``tranx.nn.encoder.BertWordEncoder`` -- ``batch(items) -> WordBatch``, ``forward(batch) ->
EncoderOutput(word_states [B, W, H], word_mask [B, W])``, ``hidden_size``, ``parameter_groups``,
``save_pretrained`` / ``from_pretrained`` -- so the decoder does not care which encoder it has.

Pieces: each word unit of ``preprocess.words.split_words`` is encoded on its own with the intent sentencepiece model
(``tranx.data.vocab.IntentPieces``, a ``SentencePieceProcessor``, a ``.model`` file or its bytes), so every piece belongs
to exactly one word (the sentencepiece Python package gives piece offsets only through protobuf, which we do not
need). A bare word-start piece ``▁`` in front of other pieces is dropped: it carries no information when every word
has one. The BiLSTM runs over the concatenated pieces of the intent (packed, so padding never reaches it); a word
state is the mean of its pieces' outputs. No [CLS]/[SEP], no length limit.

Left out: pretrained embeddings, character models, training of the sentencepiece model (``tranx.data.vocab``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from preprocess.words import Word

from tranx.nn.encoder import module_fingerprint, read_settings, write_settings
from tranx.nn.word_batch import EncoderOutput, WordBatch, as_words, pool_pieces
from tranx.errors import TranxError

__all__ = ["LSTMWordEncoder", "load_sentencepiece"]

PIECES_FILE, WEIGHTS_FILE = "pieces.model", "model.safetensors"
_WORD_START = "\u2581"


def load_sentencepiece(pieces: Any) -> tuple[Any, bytes]:
    """``(SentencePieceProcessor, model bytes)`` from a processor, an object with ``model_bytes`` (``IntentPieces``),
    the bytes of a model or the path of a ``.model`` file."""
    import sentencepiece as spm

    if isinstance(pieces, spm.SentencePieceProcessor):
        return pieces, pieces.serialized_model_proto()
    data = getattr(pieces, "model_bytes", None)
    if data is None:
        if isinstance(pieces, (bytes, bytearray)):
            data = bytes(pieces)
        elif isinstance(pieces, (str, os.PathLike)):
            try:
                data = Path(pieces).read_bytes()
            except OSError as exc:
                raise TranxError(f"cannot read sentencepiece model {pieces}: {exc}") from None
        else:
            raise TypeError("pieces must be a SentencePieceProcessor, IntentPieces, model bytes or a .model path")
    try:
        return spm.SentencePieceProcessor(model_proto=data), data
    except (RuntimeError, OSError) as exc:
        raise TranxError(f"not a sentencepiece model: {exc}") from None


class LSTMWordEncoder(nn.Module):
    """Embeddings of sentencepiece pieces -> BiLSTM -> mean over each word's pieces. ``hidden_size`` is the output
    size (both directions together), so it must be even."""

    kind = "lstm"

    def __init__(self, pieces: Any, *, embed_size: int = 128, hidden_size: int = 256, num_layers: int = 1,
                 dropout: float = 0.0):
        super().__init__()
        if hidden_size % 2:
            raise TranxError("hidden_size of a BiLSTM encoder must be even (two directions)")
        self.sp, self._model_bytes = load_sentencepiece(pieces)
        n = self.sp.get_piece_size()
        pad = self.sp.pad_id()
        self.pad_id: int = pad if pad >= 0 else n  # an extra row when the model has no <pad>
        self.unk_id: int = self.sp.unk_id()
        self._bare_start = self.sp.piece_to_id(_WORD_START)
        if self.sp.id_to_piece(self._bare_start) != _WORD_START:
            self._bare_start = -1
        self.embed_size, self.hidden_size, self.num_layers, self.dropout_p = embed_size, hidden_size, num_layers, dropout
        self.embedding = nn.Embedding(n + (pad < 0), embed_size, padding_idx=self.pad_id)
        self.lstm = nn.LSTM(embed_size, hidden_size // 2, num_layers=num_layers, batch_first=True,
                            bidirectional=True, dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)

    # -------------------------------------------------------------- encoding
    def word_pieces(self, words: Sequence[str]) -> list[list[int]]:
        """Piece ids of each word (at least one: ``<unk>`` for a word the model yields nothing for)."""
        out = []
        for ids in self.sp.encode(list(words), out_type=int):
            if len(ids) > 1 and ids[0] == self._bare_start:
                ids = ids[1:]
            out.append(list(ids) or [self.unk_id])
        return out

    def lengths(self, items: Sequence[str | Sequence[str] | Sequence[Word]]) -> list[int]:
        return [sum(map(len, self.word_pieces([w.text for w in as_words(item)[1]]))) for item in items]

    def batch(self, items: Sequence[str | Sequence[str] | Sequence[Word]]) -> WordBatch:
        examples = []
        for item in items:
            text, words = as_words(item)
            if not words:
                raise TranxError(f"intent {text!r} has no words")
            ids, idx = [], []
            for j, pieces in enumerate(self.word_pieces([w.text for w in words])):
                ids.extend(pieces)
                idx.extend([j] * len(pieces))
            examples.append((text, words, ids, idx))
        return WordBatch.from_pieces(examples, self.pad_id)

    def forward(self, batch: WordBatch) -> EncoderOutput:
        device = self.embedding.weight.device
        ids = batch.input_ids.to(device)
        lengths = batch.attention_mask.sum(1).to("cpu")
        x = self.dropout(self.embedding(ids))  # [B, P, E]
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])  # [B, P, H]
        out = self.dropout(out)
        words = pool_pieces(out, batch.piece_to_word.to(device), batch.num_words)
        return EncoderOutput(words, batch.word_mask.to(device))

    def encode(self, items: Sequence[str | Sequence[str] | Sequence[Word]]) -> EncoderOutput:
        return self(self.batch(items))

    def parameter_groups(self, lr: float) -> list[dict]:
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": lr, "name": "encoder"}]

    # -------------------------------------------------------------- saving
    def settings(self) -> dict:
        return {"embed_size": self.embed_size, "hidden_size": self.hidden_size, "num_layers": self.num_layers,
                "dropout": self.dropout_p}

    def fingerprint(self) -> str:
        return module_fingerprint(self, json.dumps([self.kind, self.settings(), len(self._model_bytes)]))

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        """``encoder.json`` (kind and sizes), ``pieces.model`` (sentencepiece's own format), ``model.safetensors``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / PIECES_FILE).write_bytes(self._model_bytes)
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()},
                  os.fspath(folder / WEIGHTS_FILE), metadata={"format": "pt"})
        write_settings(folder, self.kind, self.settings())

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> "LSTMWordEncoder":
        from safetensors.torch import load_file

        folder = Path(folder)
        meta = read_settings(folder)
        if meta is None or meta.get("kind") != cls.kind:
            raise TranxError(f"{folder} does not hold a saved LSTM encoder")
        enc = cls(folder / PIECES_FILE, embed_size=meta["embed_size"], hidden_size=meta["hidden_size"],
                  num_layers=meta["num_layers"], dropout=meta["dropout"])
        try:
            enc.load_state_dict(load_file(os.fspath(folder / WEIGHTS_FILE)))
        except (OSError, RuntimeError) as exc:
            raise TranxError(f"cannot load LSTM encoder weights from {folder}: {exc}") from None
        return enc.eval()
