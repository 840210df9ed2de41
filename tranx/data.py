"""Training examples as tensors: decoder inputs, targets and copy targets for teacher forcing.

Each preprocessed example (`preprocess.pipeline.Example`) becomes a `TensorExample` once; `collate`
pads a batch. Action ids share one embedding table: 0 = start, 1 + constructor id = ApplyRule,
1 + R = Reduce, 2 + R + token id = GenToken (R = number of constructors).

Left out: the encoder side (the encoder batches the words itself) and any model code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .actions import ApplyRule, GenToken, action_from_json
from .asdl import Grammar
from .transition import TransitionSystem
from .vocab import Vocab


class ActionIds:
    """The shared action-id scheme of the decoder's input embedding."""

    def __init__(self, grammar: Grammar, tokens: Vocab):
        self.num_rules = len(grammar.constructors)
        self.reduce = 1 + self.num_rules
        self.token_offset = 2 + self.num_rules
        self.size = self.token_offset + len(tokens)
        self.tokens = tokens

    def of(self, action) -> int:
        if isinstance(action, ApplyRule):
            return 1 + action.constructor.id
        if isinstance(action, GenToken):
            return self.token_offset + self.tokens.id(action.value)  # unknown tokens -> <unk>
        return self.reduce


@dataclass
class TensorExample:
    words: list[str]
    prev_action: list[int]  # action id fed at each step
    field: list[int]  # frontier field id (root = len(grammar.fields))
    parent: list[int]  # step whose ApplyRule opened the frontier field (-1: root)
    rule_target: list[int]  # constructor id, R for Reduce, -1 on primitive steps
    token_target: list[int]  # vocabulary id of a GenToken target when it can be generated, else -1
    copy_target: list[list[int]]  # word positions equal to the GenToken value (may be empty)
    reduce_target: list[bool]  # Reduce on a primitive field

    @property
    def length(self) -> int:
        return len(self.field)


def tensorize(words: list[str], actions: list, system: TransitionSystem, ids: ActionIds,
              copy: bool = True) -> TensorExample:
    """Replay `actions` (JSON lists or Action objects) and record the decoder's view of each step."""
    grammar = system.grammar
    positions: dict[str, list[int]] = {}
    for i, word in enumerate(words):
        positions.setdefault(word, []).append(i)
    unk = ids.tokens.unk_id
    out = TensorExample(list(words), [], [], [], [], [], [], [])
    hypothesis = system.initial()
    previous = 0
    for item in actions:
        action = item if not isinstance(item, list) else action_from_json(grammar, item)
        frontier = hypothesis.frontier
        out.prev_action.append(previous)
        out.field.append(frontier.field.id)
        out.parent.append(frontier.parent_step)
        copies = positions.get(action.value, []) if isinstance(action, GenToken) and copy else []
        if frontier.field.is_primitive:
            out.rule_target.append(-1)
            out.reduce_target.append(not isinstance(action, GenToken))
            if isinstance(action, GenToken):
                token = ids.tokens.id(action.value)
                # an unknown token is learnt as <unk> only when it cannot be copied either
                out.token_target.append(token if token != unk or not copies else -1)
            else:
                out.token_target.append(-1)
        else:
            out.rule_target.append(action.constructor.id if isinstance(action, ApplyRule) else ids.num_rules)
            out.token_target.append(-1)
            out.reduce_target.append(False)
        out.copy_target.append(copies)
        previous = ids.of(action)
        hypothesis = hypothesis.apply(action)
    return out


@dataclass
class Batch:
    words: list[list[str]]
    prev_action: torch.Tensor  # [B, T] long
    field: torch.Tensor  # [B, T] long
    parent: torch.Tensor  # [B, T] long, -1 for the root
    rule_target: torch.Tensor  # [B, T] long, -1 where none
    token_target: torch.Tensor  # [B, T] long, -1 where none
    copy_target: torch.Tensor  # [B, T, W] bool
    reduce_target: torch.Tensor  # [B, T] bool
    step_mask: torch.Tensor  # [B, T] bool, real steps


def collate(examples: list[TensorExample]) -> Batch:
    size = len(examples)
    steps = max(e.length for e in examples)
    num_words = max(max(len(e.words), 1) for e in examples)

    def pad(name: str, value) -> torch.Tensor:
        dtype = torch.bool if isinstance(value, bool) else torch.long
        tensor = torch.full((size, steps), value, dtype=dtype)
        for i, e in enumerate(examples):
            tensor[i, :e.length] = torch.tensor(getattr(e, name), dtype=dtype)
        return tensor

    copy_target = torch.zeros(size, steps, num_words, dtype=torch.bool)
    step_mask = torch.zeros(size, steps, dtype=torch.bool)
    for i, e in enumerate(examples):
        step_mask[i, :e.length] = True
        for t, positions in enumerate(e.copy_target):
            if positions:
                copy_target[i, t, positions] = True
    return Batch([e.words for e in examples], pad("prev_action", 0), pad("field", 0), pad("parent", -1),
                 pad("rule_target", -1), pad("token_target", -1), copy_target, pad("reduce_target", False),
                 step_mask)
