"""Which word encoder: build one from a model config, or reopen a saved one by the kind it recorded.

The registry above the encoders (tranx.nn.encoder: BERT; tranx.nn.lstm_encoder: the BiLSTM), so that neither
encoder module imports the other.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from tranx.config import ModelConfig
from tranx.nn.encoder import BertWordEncoder, read_settings, resolve_encoder_path
from tranx.errors import TranxError
from tranx.nn.lstm_encoder import LSTMWordEncoder


def build_encoder(config: ModelConfig, intent_pieces_path: str | None = None) -> nn.Module:
    """The word encoder a config names: a BERT checkpoint, a tiny random BERT, or the BiLSTM."""
    if config.encoder == "lstm":
        if intent_pieces_path is None:
            raise ValueError("the lstm encoder needs the sentencepiece model of the training intents")
        return LSTMWordEncoder(intent_pieces_path, hidden_size=config.lstm_encoder_size, dropout=config.dropout)
    if config.encoder == "tiny-random":
        from transformers import AutoTokenizer, BertConfig
        tokenizer = AutoTokenizer.from_pretrained(resolve_encoder_path("default"), local_files_only=True)
        size = config.tiny_encoder_size
        bert_config = BertConfig(vocab_size=len(tokenizer), hidden_size=size, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=2 * size, max_position_embeddings=512)
        return BertWordEncoder.from_config(bert_config, tokenizer, finetune=config.finetune_encoder)
    return BertWordEncoder.from_pretrained(config.encoder, finetune=config.finetune_encoder)


def load_word_encoder(folder: str | os.PathLike, **kwargs: Any) -> nn.Module:
    """Reopen an encoder saved with ``save_pretrained``: BERT or LSTM, as ``encoder.json`` says (a plain Hugging
    Face folder or a name is loaded as BERT)."""
    meta = None
    if Path(folder).is_dir():
        meta = read_settings(folder)
    if meta is not None and meta.get("kind") == "lstm":
        return LSTMWordEncoder.from_pretrained(folder, **kwargs)
    if meta is not None and meta.get("kind") != BertWordEncoder.kind:
        raise TranxError(f"{folder}: unknown encoder kind {meta.get('kind')!r}")
    return BertWordEncoder.from_pretrained(folder, **kwargs)
