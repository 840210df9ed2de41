"""Configuration: dataclasses serialised to JSON, with type-checked `key=value` overrides.

A config file has two sections, `model` (what the network is) and `train` (how it is trained and
on what). `load_config(path, ["train.lr=3e-4", "model.copy=false"])` applies overrides; an unknown
key or a value of the wrong type is an error naming it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from preprocess.tasks import DEFAULT_TASK
from tranx.errors import TranxError

CONFIG_VERSION = 1


@dataclass
class ModelConfig:
    encoder: str = "all-MiniLM-L6-v2"  # a BERT checkpoint name or folder, "lstm", or "tiny-random"
    finetune_encoder: bool = True
    tiny_encoder_size: int = 32  # hidden size of the random BERT of "tiny-random" (tests, smoke runs)
    lstm_encoder_size: int = 256  # for encoder = "lstm" (the input-representation ablation)
    word_lstm: bool = False  # a trainable BiLSTM over the encoder's word states (order-aware copy features)
    # learned embeddings of the intent's word units (cased, from the training split), joined to the encoder's word
    # states: exact word identity that a frozen, uncased encoder blurs. 0 = off.
    word_embed_size: int = 0
    word_vocab_cutoff: int = 3
    hidden_size: int = 256
    action_embed_size: int = 128
    field_embed_size: int = 64
    att_size: int = 256
    dropout: float = 0.3
    copy: bool = True
    parent_feeding: bool = True
    grammar_mask_in_training: bool = True


#: how a beam's candidates may be ordered (tranx.decoding.rerank)
RERANKERS = ("none", "coverage", "equivalence")


@dataclass
class TrainConfig:
    dataset: str = DEFAULT_TASK
    data_root: str | None = None
    substitution: bool = True
    # the code of the k nearest training pairs (BM25 over intents) appended to each intent (tranx.data.retrieval)
    retrieve: int = 0
    # the language the model writes (default None: the task's); "tokens:python" writes Python as a flat token
    # sequence with no grammar (the grammar-free ablation, tranx.languages.python_tokens)
    language: str | None = None
    split_dotted_words: bool = False  # copy units `self`, `.`, `foo` instead of `self.foo`
    token_cutoff: int | None = None  # None: the task's default (preprocess.tasks)
    train_limit: int | None = None  # use only the first N training examples (smoke runs)
    dev_limit: int | None = None
    batch_size: int = 32
    max_epochs: int = 30
    lr: float = 1e-3
    encoder_lr: float = 3e-5
    weight_decay: float = 0.01
    warmup_steps: int = 100
    clip_norm: float = 5.0
    patience: int = 6  # epochs without dev improvement before stopping
    eval_every: int = 1
    eval_beam_size: int = 5
    beam_size: int = 15
    # the order of a beam's candidates for users and test decoding (tranx.decoding.rerank): "none", "coverage" or
    # "equivalence" (for tasks that tell when two programs mean the same: regexes)
    rerank: str = "none"
    # candidates ordered by log-probability / actions ** length_penalty (0: the sum; 1: the mean per action)
    length_penalty: float = 1.0
    max_decode_steps: int = 150
    seed: int = 1
    threads: int | None = None  # torch threads (default: all cores)
    # decay of an exponential moving average of the weights, used for dev evaluation and best/ (0 = off)
    weight_average: float = 0.0
    max_minutes: float | None = None  # stop training after this long (model selection still by dev)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    version: int = CONFIG_VERSION

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict, *, source: str = "config") -> "Config":
        if not isinstance(obj, dict):
            raise TranxError(f"{source}: a config is a JSON object")
        version = obj.get("version", CONFIG_VERSION)
        if version != CONFIG_VERSION:
            raise TranxError(f"{source}: config version {version} is not supported (expected {CONFIG_VERSION})")
        unknown = set(obj) - {"model", "train", "version"}
        if unknown:
            raise TranxError(f"{source}: unknown config section(s): {', '.join(sorted(unknown))}")
        config = cls()
        for section in ("model", "train"):
            values = obj.get(section, {})
            if not isinstance(values, dict):
                raise TranxError(f"{source}: section '{section}' must be an object")
            for key, value in values.items():
                _set(config, f"{section}.{key}", value, source)
        return config

    def override(self, assignments: list[str]) -> "Config":
        for assignment in assignments:
            if "=" not in assignment:
                raise TranxError(f"override {assignment!r} is not KEY=VALUE (e.g. train.lr=3e-4)")
            key, text = assignment.split("=", 1)
            key = key.strip()
            if "." not in key:  # a bare key is looked up in both sections
                matches = [s for s in ("model", "train") if key in _field_names(getattr(self, s))]
                if len(matches) != 1:
                    raise TranxError(f"unknown config key '{key}'")
                key = f"{matches[0]}.{key}"
            _set(self, key, _parse_value(text), "override")
        return self


def _field_names(obj) -> set[str]:
    return {f.name for f in fields(obj)}


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # a bare string such as encoder=lstm


def _set(config: Config, key: str, value: Any, source: str) -> None:
    section_name, _, name = key.partition(".")
    if section_name not in ("model", "train") or not name:
        raise TranxError(f"{source}: unknown config key '{key}'")
    section = getattr(config, section_name)
    if name not in _field_names(section):
        raise TranxError(f"{source}: unknown config key '{key}'")
    hint = get_type_hints(type(section))[name]
    value = _check_type(key, value, hint, source)
    if key == "train.rerank" and value not in RERANKERS:
        raise TranxError(f"{source}: '{key}': unknown reranker {value!r}; known: {', '.join(RERANKERS)}")
    if key == "train.retrieve" and value < 0:
        raise TranxError(f"{source}: '{key}' must be at least 0 (0: off), got {value}")
    if key == "train.length_penalty" and not value >= 0:
        raise TranxError(f"{source}: '{key}' must be at least 0, got {value}")
    setattr(section, name, value)


def _check_type(key: str, value: Any, hint, source: str) -> Any:
    allowed = getattr(hint, "__args__", None) or (hint,)
    if value is None and type(None) in allowed:
        return None
    for kind in allowed:
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind in (bool, str) and isinstance(value, kind):
            return value
    names = " or ".join(getattr(k, "__name__", str(k)) for k in allowed)
    raise TranxError(f"{source}: '{key}' must be {names}, got {value!r}")


def read_config_file(path: str | os.PathLike, what: str = "config") -> dict:
    """The JSON object of a config file; a missing file or bad JSON is a TranxError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise TranxError(f"{what} file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TranxError(f"{path}: not valid JSON: {exc}") from None


def load_config(path: str | os.PathLike, overrides: list[str] = ()) -> Config:
    return Config.from_json(read_config_file(path), source=str(path)).override(list(overrides))
