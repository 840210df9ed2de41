"""Rollouts: k samples per problem from the policy, turned into code and into teacher-forced training rows.

Sampling runs without gradients (fast, one draw for all rows per step, tranx.decoding.search.sample); each sample's
actions are then replayed (tranx.data.examples.tensorize) so that one teacher-forced pass of the policy (with
gradients) and one of the reference (without) give every step's full distribution: the log-probability of the
sampled action at the training temperature, and the exact KL over all valid actions. The replayed targets are the
sampled columns (checked by the tests), so what is scored is exactly what was drawn.

Left out: rewards (tranx.rl.rewards) and the loss (tranx.rl.objective).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import torch

from tranx.data.examples import TensorExample, tensorize
from tranx.decoding.search import sample
from tranx.execution.unit_tests import Problem
from tranx.grammar.actions import REDUCE, GenToken


@dataclass
class Rollout:
    problems: list[Problem]
    codes: list[list[str]]  # [P][k]: "" where the sample did not become code (step limit, no parse, lost slot)
    examples: list[TensorExample]  # P * k, problem-major: the samples as teacher-forcing rows
    complete: list[bool]  # P * k


def prepare(translator, problems: Sequence[Problem]) -> tuple[list[list[str]], list]:
    """(word units, slot map) of each problem's intent, as the translator reads it."""
    prepared = [translator.prepare(p.intent) for p in problems]
    return [w for w, _ in prepared], [s for _, s in prepared]


def roll_out(translator, problems: Sequence[Problem], *, samples: int, temperature: float, max_steps: int,
             generator: torch.Generator, encoder=None) -> Rollout:
    model = translator.model
    words, slots = prepare(translator, problems)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # word-piece truncation of very long intents
        drawn = sample(model, words, num_samples=samples, max_steps=max_steps, generator=generator,
                       encoder=encoder, temperature=temperature)
    codes, examples, complete = [], [], []
    for units, slot_map, results in zip(words, slots, drawn):
        row = []
        for result in results:
            code = translator.to_code(result.hypothesis.tree(), slot_map) if result.complete else None
            row.append(code or "")
            complete.append(result.complete)
            examples.append(tensorize(units, list(result.hypothesis.actions), model.system, model.tables,
                                      copy=model.config.copy))
        codes.append(row)
    return Rollout(list(problems), codes, examples, complete)


def actions_from_columns(model, words: list[str], columns: Sequence[int]) -> list:
    """The actions of action columns (tranx.data.tables) for an intent's word units."""
    tables, system = model.tables, model.system
    copied = tables.token_offset + tables.num_tokens
    out = []
    for column in columns:
        if column < tables.reduce_column:
            out.append(system.rule(system.grammar.constructors[column]))
        elif column == tables.reduce_column:
            out.append(REDUCE)
        elif column < copied:
            out.append(GenToken(model.tokens.token(column - tables.token_offset)))
        else:
            out.append(GenToken(words[column - copied]))
    return out


def leave_one_out(rewards: torch.Tensor) -> torch.Tensor:
    """RLOO advantages [P, k]: each sample's reward minus the mean of the other k - 1 samples of its problem."""
    k = rewards.size(1)
    if k < 2:
        raise ValueError("the leave-one-out baseline needs at least 2 samples per problem")
    return rewards - (rewards.sum(1, keepdim=True) - rewards) / (k - 1)
