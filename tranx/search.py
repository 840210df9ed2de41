"""Search over the decoder, outside the model: batched beam search, greedy decoding and sampling.

All three share `_Rows`, the live hypotheses of many intents as one batch: each step feeds every row
through `TranxModel.decode_step` (of every member of an ensemble, their distributions averaged), then
expands rows with the grammar's valid actions only (the `Hypothesis` of tranx.transition checks each one). GenToken candidates merge generation and copying
into one probability per distinct token, so a token that is both in the vocabulary and in the intent is
one candidate. Tokens a primitive type cannot hold (an `int` field given `abc`) are never proposed.

Left out: turning trees into code and checking that it parses (tranx.translator does that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from .actions import REDUCE, Action, GenToken
from .decoder import COPY, GEN, NEG, Scores
from .decoder import REDUCE as REDUCE_GATE
from .model import TranxModel
from .transition import Hypothesis, TransitionSystem


@dataclass
class Result:
    hypothesis: Hypothesis
    log_prob: float
    score: float  # log_prob, length-normalised when asked


TokenCheck = Callable[[str, str], bool]  # (primitive type, token) -> may this field hold it?


class _Member:
    """One model's side of the rows: its encodings, decoder state and parent-feeding history."""

    def __init__(self, model: TranxModel, words: list[list[str]], encoder=None):
        self.model = model
        self.base_memory, self.state = model.encode(words, encoder)
        self.history = self.state.h.new_zeros(len(words), 0, model.config.hidden_size)

    def step(self, prev: torch.Tensor, fields: torch.Tensor, parents: torch.Tensor, example: torch.Tensor):
        if self.history.size(1):
            parent_h = self.history[torch.arange(len(parents)), parents.clamp(min=0)]
            parent_h = parent_h * (parents >= 0).unsqueeze(-1)
        else:
            parent_h = self.state.h.new_zeros(self.state.h.shape)
        self.state, scores = self.model.decode_step(prev, fields, parent_h, self.state, self.base_memory.select(example))
        self.history = torch.cat([self.history, self.state.h.unsqueeze(1)], dim=1)
        return scores

    def keep(self, index: torch.Tensor) -> None:
        self.state = self.state.select(index)
        self.history = self.history.index_select(0, index)


class _Rows:
    """Live rows: hypotheses, their log-probabilities, and each model's decoder side (one model, or the
    members of an ensemble, whose step distributions are averaged)."""

    def __init__(self, models: list[TranxModel], system: TransitionSystem, words: list[list[str]], encoder=None):
        if encoder is not None and len(models) > 1:
            raise ValueError("an encoding cache serves one model, not an ensemble")
        self.model, self.system, self.words = models[0], system, words  # members share ids and tokens
        self.members = [_Member(model, words, encoder) for model in models]
        self.example = list(range(len(words)))
        self.hypotheses = [system.initial() for _ in words]
        self.log_probs = [0.0] * len(words)

    def __len__(self) -> int:
        return len(self.example)

    def step(self) -> Scores:
        """Run the decoder one step for every row; returns the Scores ([N, ...])."""
        ids = self.model.ids
        prev = torch.tensor([ids.of(h._actions[0]) if h._actions is not None else 0 for h in self.hypotheses])
        fields = torch.tensor([h.frontier.field.id for h in self.hypotheses])
        parents = torch.tensor([h.frontier.parent_step for h in self.hypotheses])
        example = torch.tensor(self.example)
        return mixture([member.step(prev, fields, parents, example) for member in self.members])

    def advance(self, chosen: list[tuple[int, Action, float]]) -> list[tuple[int, Hypothesis, float]]:
        """Apply each chosen (row, action, new log-prob); unfinished hypotheses become the new rows, the
        finished ones are returned as (example, hypothesis, log-prob)."""
        rows, hypotheses, log_probs, done = [], [], [], []
        for row, action, total in chosen:
            hypothesis = self.hypotheses[row].apply(action)
            if hypothesis.is_complete:
                done.append((self.example[row], hypothesis, total))
            else:
                rows.append(row)
                hypotheses.append(hypothesis)
                log_probs.append(total)
        index = torch.tensor(rows, dtype=torch.long)
        self.example = [self.example[r] for r in rows]
        self.hypotheses, self.log_probs = hypotheses, log_probs
        for member in self.members:
            member.keep(index)
        return done


def mixture(scores: list[Scores]) -> Scores:
    """The members' step distributions averaged in probability space, as one Scores.

    Every action's probability is linear in the heads (a token's is gate_gen * p_vocab + gate_copy * pointer mass),
    so averaging each head's gate-weighted mass gives the average of the action probabilities exactly."""
    if len(scores) == 1:
        return scores[0]
    log_m = math.log(len(scores))

    def mean(parts: list[torch.Tensor]) -> torch.Tensor:
        return torch.logsumexp(torch.stack(parts), dim=0) - log_m

    gate = mean([s.gate for s in scores])
    token = mean([s.gate[:, GEN:GEN + 1] + s.token for s in scores]) - gate[:, GEN:GEN + 1]
    copy = mean([s.gate[:, COPY:COPY + 1] + s.copy for s in scores]) - gate[:, COPY:COPY + 1]
    return Scores(mean([s.rule for s in scores]), gate, token, copy)


def _candidates(rows: _Rows, scores, row: int, k: int, check: TokenCheck | None) -> list[tuple[float, Action]]:
    """The k best valid continuations of one row, as (log-probability, action)."""
    hypothesis = rows.hypotheses[row]
    field = hypothesis.frontier.field
    system = rows.system
    if not field.is_primitive:
        log_probs = scores.rule[row]
        top = torch.topk(log_probs, min(k, log_probs.numel()))
        out = []
        for value, index in zip(top.values.tolist(), top.indices.tolist()):
            if value < NEG / 2:
                break
            action = REDUCE if index == rows.model.ids.num_rules else system.rule(system.grammar.constructors[index])
            out.append((value, action))
        return out
    return _token_candidates(rows, scores, row, k, field.type, check)


def _token_candidates(rows: _Rows, scores, row: int, k: int, type_name: str,
                      check: TokenCheck | None) -> list[tuple[float, Action]]:
    gate = scores.gate[row].exp().tolist()
    probs: dict[str, float] = {}
    vocab = rows.model.tokens
    token_log_probs = scores.token[row]
    unk = vocab.unk_id  # the model gives <unk> mass (it is a training target); search never emits it
    top = torch.topk(token_log_probs, min(4 * k + 1, token_log_probs.numel()))
    for value, index in zip(top.values.tolist(), top.indices.tolist()):
        if index != unk:
            probs[vocab.token(index)] = gate[GEN] * math.exp(value)
    if gate[COPY] > 0:
        words = rows.words[rows.example[row]]
        for position, p in enumerate(scores.copy[row, :len(words)].exp().tolist()):
            token = words[position]
            if token not in probs and token in vocab and vocab.id(token) != unk:  # generable: add that mass once
                probs[token] = gate[GEN] * math.exp(token_log_probs[vocab.id(token)].item())
            probs[token] = probs.get(token, 0.0) + gate[COPY] * p
    out = [(math.log(p), GenToken(t)) for t, p in probs.items()
           if p > 0 and (check is None or check(type_name, t))]
    if rows.hypotheses[row].frontier.field.cardinality.value and gate[REDUCE_GATE] > 0:
        out.append((math.log(gate[REDUCE_GATE]), REDUCE))
    out.sort(key=lambda c: -c[0])
    return out[:k]


Models = TranxModel | Sequence[TranxModel]  # one model, or the members of an ensemble (same grammar and tokens)


def _as_list(model: Models) -> list[TranxModel]:
    models = [model] if isinstance(model, TranxModel) else list(model)
    if not models:
        raise ValueError("no model to search with")
    return models


@torch.inference_mode()
def beam_search(model: Models, system: TransitionSystem, words: list[list[str]], *, beam_size: int = 5,
                max_steps: int = 150, length_norm: bool = True, token_check: TokenCheck | None = None,
                encoder=None) -> list[list[Result]]:
    """Complete hypotheses for each intent (at most `beam_size`), best first."""
    models = _as_list(model)
    was_training = [m.training for m in models]
    for m in models:
        m.eval()
    rows = _Rows(models, system, words, encoder)
    finished: list[list[Result]] = [[] for _ in words]
    for _ in range(max_steps):
        if not len(rows):
            break
        scores = rows.step()
        by_example: dict[int, list[tuple[float, int, Action]]] = {}
        for row in range(len(rows)):
            example = rows.example[row]
            room = beam_size - len(finished[example])
            for log_prob, action in _candidates(rows, scores, row, room, token_check):
                by_example.setdefault(example, []).append((rows.log_probs[row] + log_prob, row, action))
        chosen = []
        for example, candidates in by_example.items():
            candidates.sort(key=lambda c: -c[0])
            room = beam_size - len(finished[example])
            chosen += [(row, action, total) for total, row, action in candidates[:room]]
        for example, hypothesis, total in rows.advance(chosen):
            score = total / hypothesis.length if length_norm else total
            finished[example].append(Result(hypothesis, total, score))
    for m, training in zip(models, was_training):
        m.train(training)
    return [sorted(results, key=lambda r: -r.score) for results in finished]


def greedy_search(model: Models, system: TransitionSystem, words: list[list[str]], *, max_steps: int = 150,
                  token_check: TokenCheck | None = None, encoder=None) -> list[Result | None]:
    """The most probable valid action at each step (None where the step limit is hit)."""
    out = _walk(model, system, words, lambda candidates: 0, 1, 1, max_steps, token_check, encoder)
    return [results[0] if results else None for results in out]


def sample(model: Models, system: TransitionSystem, words: list[list[str]], *, num_samples: int = 1,
           max_steps: int = 150, token_check: TokenCheck | None = None, generator: torch.Generator | None = None,
           encoder=None, top_k: int | None = None, temperature: float = 1.0) -> list[list[Result]]:
    """Ancestral sampling from the grammar-masked distribution; up to `num_samples` per intent (samples
    that hit the step limit are dropped). `top_k` keeps the k most probable actions per step (None: all;
    with a large token vocabulary all is slow), `temperature` divides the log-probabilities."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")

    def choose(candidates):
        best = candidates[0][0]  # candidates are sorted, best first: subtract it for stable exponentials
        weights = torch.tensor([math.exp((lp - best) / temperature) for lp, _ in candidates])
        return int(torch.multinomial(weights, 1, generator=generator))
    return _walk(model, system, words, choose, num_samples, top_k, max_steps, token_check, encoder)


def _walk(model, system, words, choose, copies: int, k: int | None, max_steps: int, token_check,
          encoder) -> list[list[Result]]:
    """Extend every row by one chosen action per step among its `k` best (None: all) candidates."""
    models = _as_list(model)
    was_training = [m.training for m in models]
    for m in models:
        m.eval()
    out: list[list[Result]] = [[] for _ in words]
    k = k or 10**9
    with torch.inference_mode():
        rows = _Rows(models, system, [w for w in words for _ in range(copies)], encoder)
        for _ in range(max_steps):
            if not len(rows):
                break
            scores = rows.step()
            chosen = []
            for row in range(len(rows)):
                candidates = _candidates(rows, scores, row, k, token_check)
                if candidates:
                    log_prob, action = candidates[choose(candidates)]
                    chosen.append((row, action, rows.log_probs[row] + log_prob))
            for example, hypothesis, total in rows.advance(chosen):
                out[example // copies].append(Result(hypothesis, total, total))
    for m, training in zip(models, was_training):
        m.train(training)
    return out
