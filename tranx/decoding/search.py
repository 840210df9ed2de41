"""Search over the decoder, outside the model: batched beam search, greedy decoding and sampling.

All three share `_Rows`, the live hypotheses of many intents as one batch. Each step runs every row
through `TranxModel.decode_step` (every member of an ensemble, their `ActionDistribution`s mixed), then
chooses columns with one tensor operation for all rows (a `topk` over each intent's beam, an `argmax`,
or one draw), so only valid actions of the grammar tables are ever chosen; the chosen columns then
extend the symbolic hypotheses (`Hypothesis.apply`, which checks them once more). Parent feeding reads
a preallocated pool of decoder states through each row's list of its ancestors' rows: no per-step history copy.

Left out: turning trees into code and checking that it parses (tranx.translator does that).
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Sequence

import torch

from tranx.grammar.actions import REDUCE, Action, GenToken
from tranx.nn.distribution import VALID, ActionDistribution
from tranx.nn.decoder import Memory
from tranx.nn.model import TranxModel
from tranx.grammar.transition import Hypothesis


@dataclass
class Trace:
    """Per-step record of a sampled program ([L] each): the chosen columns, their log-probabilities under the model
    (with gradient when sampled with `grad=True`) and under the distribution drawn from, the entropy of the model's
    step distribution (nats) and its number of valid actions."""

    columns: torch.Tensor
    log_probs: torch.Tensor
    sampled_log_probs: torch.Tensor
    entropies: torch.Tensor
    num_valid: torch.Tensor


@dataclass
class Result:
    hypothesis: Hypothesis
    log_prob: float  # summed log-probabilities of the actions under the model
    score: float  # beam search: log_prob / number of actions ** length_penalty; else log_prob
    complete: bool = True  # False: the step limit came first (the hypothesis is a prefix)
    trace: Trace | None = None


class _Member:
    """One model's side of the rows: its encodings, decoder state and pool of past decoder states."""

    def __init__(self, model: TranxModel, words: list[list[str]], encoder, capacity: int, max_steps: int):
        self.model = model
        self.memory, self.state = model.encode(words, encoder)
        self.capacity = capacity
        # Entry t * capacity + r: row r's state at step t; the last entry is zeros (the root's "parent"). Not zeroed
        # otherwise: a row reads only entries of its own past steps.
        self.pool = self.state.h.new_empty(max_steps * capacity + 1, model.config.hidden_size)
        self.pool[-1] = 0.0
        self.rows_memory: Memory | None = None  # the memory repeated per row (`select_memory`)

    def select_memory(self, example: torch.Tensor) -> None:
        self.rows_memory = self.memory.select(example)

    def step(self, t: int, prev: torch.Tensor, fields: torch.Tensor, parents: torch.Tensor) -> ActionDistribution:
        """`parents`: the pool entry of each row's parent step (`_Rows.step` finds them)."""
        parent_h = self.pool.index_select(0, parents)
        self.state, distribution = self.model.decode_step(prev, fields, parent_h, self.state, self.rows_memory)
        self.pool[t * self.capacity:t * self.capacity + len(prev)] = self.state.h
        return distribution

    def keep(self, index: torch.Tensor) -> None:
        self.state = self.state.select(index)


class _Rows:
    """Live rows: hypotheses, the intent of each, and each model's decoder side (one model, or the members of an
    ensemble, whose step distributions are mixed)."""

    def __init__(self, models: list[TranxModel], words: list[list[str]], example: list[int], encoder,
                 max_steps: int, capacity: int):
        """`example`: the intent of each initial row; `capacity`: the most rows there will ever be."""
        if encoder is not None and len(models) > 1:
            raise ValueError("an encoding cache serves one model, not an ensemble")
        self.model, self.words = models[0], words  # members share grammar, tables and tokens
        self.system = self.model.system
        self.members = [_Member(model, words, encoder, capacity, max_steps) for model in models]
        self.example = list(example)
        index = torch.tensor(self.example, dtype=torch.long)
        for member in self.members:
            member.keep(index)
        self.hypotheses = [self.system.initial() for _ in example]
        self.prev = torch.zeros(len(example), dtype=torch.long)
        self.capacity = capacity
        self.ancestors: list[list[int]] = [[] for _ in example]  # per row: its row index at every past step
        self.t = 0
        self._memory_rows: list[int] | None = None  # the intent of each row when the members last selected memory
        tables = self.model.tables
        self._copied = tables.token_offset + tables.num_tokens  # first column of a copied word

    def __len__(self) -> int:
        return len(self.example)

    def step(self) -> ActionDistribution:
        """Run the decoder one step for every row; returns their distribution ([N, ...])."""
        frontiers = [h.frontier for h in self.hypotheses]
        fields = torch.tensor([f.state for f in frontiers])
        root = len(self.members[0].pool) - 1
        parents = torch.tensor([root if f.parent_step < 0 else f.parent_step * self.capacity + past[f.parent_step]
                                for f, past in zip(frontiers, self.ancestors)])
        if self.example != self._memory_rows:  # rows of the same intents in the same order (most beam steps): reuse
            example = torch.tensor(self.example)
            for member in self.members:
                member.select_memory(example)
            self._memory_rows = list(self.example)
        distributions = [m.step(self.t, self.prev, fields, parents) for m in self.members]
        self.t += 1
        return ActionDistribution.mixture(distributions)

    def action(self, row: int, column: int) -> Action:
        tables = self.model.tables
        if column < tables.reduce_column:
            return self.system.rule(self.system.grammar.constructors[column])
        if column == tables.reduce_column:
            return REDUCE
        if column < self._copied:
            return GenToken(self.model.tokens.token(column - tables.token_offset))
        return GenToken(self.words[self.example[row]][column - self._copied])

    def advance(self, rows: list[int], columns: list[int]) -> tuple[list[tuple[int, Hypothesis]], list[int]]:
        """Extend row `rows[i]` by column `columns[i]` for every i. Returns (the completed ones as (i, hypothesis),
        the i of each new live row, in order); the live rows become exactly those."""
        done, kept, hypotheses, prev = [], [], [], []
        input_id = self.model.ids.of
        for i, (row, column) in enumerate(zip(rows, columns)):
            action = self.action(row, column)
            hypothesis = self.hypotheses[row].apply(action)
            if hypothesis.is_complete:
                done.append((i, hypothesis))
            else:
                kept.append(i)
                hypotheses.append(hypothesis)
                prev.append(input_id(action))  # as in training: a copied word the vocabulary holds is fed as itself
        source = torch.tensor([rows[i] for i in kept], dtype=torch.long)
        self.prev = torch.tensor(prev, dtype=torch.long)
        self.ancestors = [self.ancestors[rows[i]] + [rows[i]] for i in kept]  # the step just taken: its source row
        self.example = [self.example[rows[i]] for i in kept]
        self.hypotheses = hypotheses
        for member in self.members:
            member.keep(source)
        return done, kept


Models = TranxModel | Sequence[TranxModel]  # one model, or the members of an ensemble (same grammar and tokens)


def _as_list(model: Models) -> list[TranxModel]:
    models = [model] if isinstance(model, TranxModel) else list(model)
    if not models:
        raise ValueError("no model to search with")
    return models


@contextmanager
def _evaluating(models: list[TranxModel]):
    training = [m for m in models if m.training]  # eval() walks every submodule: only where needed
    for m in training:
        m.eval()
    try:
        yield
    finally:
        for m in training:
            m.train()


def beam_search(model: Models, words: list[list[str]], *, beam_size: int = 5, max_steps: int = 150,
                length_penalty: float = 1.0, encoder=None) -> list[list[Result]]:
    """Complete hypotheses for each intent (at most `beam_size`), best first by score: the summed log-probability
    divided by the number of actions to the power `length_penalty` (0: the sum itself; 1: the mean per action;
    above 1 favours longer programs). The beam is pruned by the sum; the penalty only orders finished ones."""
    models = _as_list(model)
    finished: list[list[Result]] = [[] for _ in words]
    with _evaluating(models), torch.inference_mode():
        rows = _Rows(models, words, list(range(len(words))), encoder, max_steps, len(words) * beam_size)
        totals = torch.zeros(len(words))
        for _ in range(max_steps):
            if not len(rows):
                break
            candidates = totals.unsqueeze(1) + rows.step().log_probs()  # [N, K]
            width = candidates.size(1)
            live = sorted(set(rows.example))
            if len(live) == 1:  # one intent's rows (a single intent, or the last one left): no grid needed
                cell = list(range(len(rows)))
                grid = candidates
            else:
                group = {e: i for i, e in enumerate(live)}
                filled = [0] * len(live)
                cell = []  # row -> its cell in the [intents, beam] grid
                for e in rows.example:
                    cell.append(group[e] * beam_size + filled[group[e]])
                    filled[group[e]] += 1
                grid = candidates.new_full((len(live) * beam_size, width), VALID * 2)
                grid[torch.tensor(cell)] = candidates
            room = [beam_size - len(finished[e]) for e in live]
            values, flat = grid.reshape(len(live), -1).topk(min(max(room), grid.numel() // len(live)), dim=1)
            row_of_cell = {c: r for r, c in enumerate(cell)}
            picked_rows, picked_columns, picked_totals = [], [], []
            for i, (vs, fs) in enumerate(zip(values.tolist(), flat.tolist())):
                for value, index in zip(vs[:room[i]], fs[:room[i]]):
                    if value <= VALID:
                        break
                    picked_rows.append(row_of_cell[i * beam_size + index // width])
                    picked_columns.append(index % width)
                    picked_totals.append(value)
            picked_examples = [rows.example[r] for r in picked_rows]
            done, kept = rows.advance(picked_rows, picked_columns)
            for i, hypothesis in done:
                total = picked_totals[i]
                finished[picked_examples[i]].append(
                    Result(hypothesis, total, total / hypothesis.length ** length_penalty))
            totals = torch.tensor([picked_totals[i] for i in kept])
    return [sorted(results, key=lambda r: -r.score) for results in finished]


def greedy_search(model: Models, words: list[list[str]], *, max_steps: int = 150, encoder=None,
                  prefixes: Sequence[Sequence[int]] | None = None, trace: bool = False) -> list[Result]:
    """The most probable valid action at each step; a Result with `complete=False` where the step limit came first.
    `prefixes[i]`: action columns forced on intent i's first steps before greedy completion (a forced column the
    grammar does not allow there ends that row with log_prob -inf); `trace`: keep per-step tensors."""
    def choose(distribution: ActionDistribution):
        log_prob, columns = distribution.argmax()
        return columns, log_prob, None
    return [results[0] for results in _walk(_as_list(model), words, 1, choose, max_steps, encoder, trace, False,
                                            forced=prefixes)]


def sample(model: Models, words: list[list[str]], *, num_samples: int = 1, max_steps: int = 150,
           generator: torch.Generator | None = None, encoder=None, top_k: int | None = None,
           top_p: float | None = None, temperature: float = 1.0, trace: bool = False,
           grad: bool = False) -> list[list[Result]]:
    """Ancestral sampling: exactly `num_samples` Results per intent, in drawing order (`complete=False` for one that
    hit the step limit). Each step draws from the model's distribution divided by `temperature` and cut to its
    `top_k` most probable actions and to the `top_p` nucleus (None: no cut); `Result.log_prob` is under the model's
    own distribution. `trace`: keep per-step tensors (Result.trace); `grad`: with gradients (RL), else no-grad."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")

    def choose(distribution: ActionDistribution):
        drawn = distribution.sample(temperature=temperature, top_k=top_k, top_p=top_p, generator=generator)
        return drawn.columns, drawn.base_log_prob, drawn
    return _walk(_as_list(model), words, num_samples, choose, max_steps, encoder, trace or grad, grad)


def _walk(models: list[TranxModel], words, copies: int, choose, max_steps: int, encoder, keep_trace: bool,
          grad: bool, forced: Sequence[Sequence[int]] | None = None) -> list[list[Result]]:
    """Extend every row by one chosen action per step; `copies` rows per intent; `forced[s]`: the columns of sample
    s's first steps, taken instead of the chosen ones."""
    total_rows = len(words) * copies
    results: list[Result | None] = [None] * total_rows
    steps: list[tuple] = []  # per step: (sample id of each row, columns, log-probs, drawn log-probs, entropy, valid)
    with _evaluating(models), (nullcontext() if grad else torch.inference_mode()):
        rows = _Rows(models, words, [e for e in range(len(words)) for _ in range(copies)], encoder, max_steps,
                     total_rows)
        sample_of = list(range(total_rows))
        totals = torch.zeros(total_rows)
        for t in range(max_steps):
            if not len(rows):
                break
            distribution = rows.step()
            columns, log_probs, drawn = choose(distribution)
            if forced is not None:
                columns, log_probs = _force(distribution, columns, log_probs, [forced[s] for s in sample_of], t)
            if keep_trace:
                entropy, valid = distribution.entropy()
                steps.append((torch.tensor(sample_of), columns, log_probs,
                              drawn.log_prob if drawn is not None else log_probs, entropy, valid))
            ok = (log_probs > VALID).tolist()
            new_totals = totals + log_probs.detach()
            live = [r for r in range(len(rows)) if ok[r]]
            for r in range(len(rows)):
                if not ok[r]:  # no valid action (a field no vocabulary token or intent word may fill): failed
                    results[sample_of[r]] = Result(rows.hypotheses[r], float("-inf"), float("-inf"), False)
            column_list = columns.tolist()
            done, kept = rows.advance(live, [column_list[r] for r in live])
            for i, hypothesis in done:
                total = float(new_totals[live[i]])
                results[sample_of[live[i]]] = Result(hypothesis, total, total)
            sample_of = [sample_of[live[i]] for i in kept]
            totals = new_totals[torch.tensor([live[i] for i in kept], dtype=torch.long)]
        for r, hypothesis in enumerate(rows.hypotheses):
            total = float(totals[r])
            results[sample_of[r]] = Result(hypothesis, total, total, complete=False)
        if keep_trace:
            _attach_traces(results, steps)
    return [results[e * copies:(e + 1) * copies] for e in range(len(words))]


def _force(distribution: ActionDistribution, columns: torch.Tensor, log_probs: torch.Tensor,
           prefixes: list[Sequence[int]], t: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace each row's chosen column by its prefix's column at step t (rows whose prefix is that long)."""
    rows = [r for r, prefix in enumerate(prefixes) if t < len(prefix)]
    if not rows:
        return columns, log_probs
    index = torch.tensor(rows, dtype=torch.long)
    columns = columns.clone()
    columns[index] = torch.tensor([prefixes[r][t] for r in rows], dtype=columns.dtype)
    log_probs = log_probs.clone()
    log_probs[index] = distribution.log_prob(columns)[index]
    return columns, log_probs


def _attach_traces(results: list[Result], steps: list[tuple]) -> None:
    """Regroup the per-step tensors by sample (time order kept) into each Result's Trace."""
    if not steps:
        return
    fields = [torch.cat([step[k] for step in steps]) for k in range(6)]
    order = torch.sort(fields[0], stable=True).indices  # by sample id; stable keeps steps in time order
    counts = torch.bincount(fields[0], minlength=len(results)).tolist()
    parts = [f.index_select(0, order).split(counts) for f in fields[1:]]
    for i, result in enumerate(results):
        result.trace = Trace(*(p[i] for p in parts))
