"""Training examples as tensors: decoder inputs, targets and copy targets for teacher forcing.

Each preprocessed example (`tranx.data.pipeline.Example`) becomes a `TensorExample` once; `collate`
pads a batch. Inputs are action ids (tranx.data.tables.ActionIds); each target is the action's column in
the grammar tables (the column search would emit), or -1 when the grammar tables give it no column.

Left out: the encoder side (the encoder batches the words itself) and any model code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tranx.grammar.actions import ApplyRule, GenToken, action_from_json
from tranx.data.tables import GrammarTables
from tranx.grammar.transition import TransitionSystem


@dataclass
class TensorExample:
    words: list[str]
    prev_action: list[int]  # action id fed at each step
    field: list[int]  # frontier state (tranx.data.tables: the field id, or its literal state)
    parent: list[int]  # step whose ApplyRule opened the frontier field (-1: root)
    target: list[int]  # the action's column in the grammar tables, -1 when it has none (left out of the loss)

    @property
    def length(self) -> int:
        return len(self.field)

    @property
    def unscorable(self) -> int:
        return sum(1 for t in self.target if t < 0)


def tensorize(words: list[str], actions: list, system: TransitionSystem, tables: GrammarTables,
              copy: bool = True) -> TensorExample:
    """Replay `actions` (JSON lists or Action objects) and record the decoder's view of each step."""
    grammar = system.grammar
    first: dict[str, int] = {}
    for i, word in enumerate(words):
        first.setdefault(word, i)
    out = TensorExample(list(words), [], [], [], [])
    hypothesis = system.initial()
    previous = 0
    for item in actions:
        action = item if not isinstance(item, list) else action_from_json(grammar, item)
        frontier = hypothesis.frontier
        out.prev_action.append(previous)
        out.field.append(frontier.state)
        out.parent.append(frontier.parent_step)
        if isinstance(action, ApplyRule):
            out.target.append(action.constructor.id)
        elif isinstance(action, GenToken):
            out.target.append(_token_target(tables, frontier.field.type, action.value, first, copy))
        else:
            out.target.append(tables.reduce_column)
        previous = tables.ids.of(action)
        hypothesis = hypothesis.apply(action)
    return out


def _token_target(tables: GrammarTables, type_name: str, token: str, first: dict[str, int], copy: bool) -> int:
    """The column of GenToken(token): the type's vocabulary column (which copying the same word adds to), else the
    token's first position in the intent, else -1."""
    type_index = tables.type_index(type_name)
    column = tables.token_column(type_index, token)
    if column is not None:
        return column
    if copy and token in first and tables.may_hold(type_name, token):
        return tables.token_offset + tables.num_tokens + first[token]
    return -1


@dataclass
class Batch:
    words: list[list[str]]
    prev_action: torch.Tensor  # [B, T] long
    field: torch.Tensor  # [B, T] long
    parent: torch.Tensor  # [B, T] long, -1 for the root
    target: torch.Tensor  # [B, T] long column, -1 where none
    step_mask: torch.Tensor  # [B, T] bool, real steps


def collate(examples: list[TensorExample]) -> Batch:
    size = len(examples)
    steps = max(e.length for e in examples)

    def pad(name: str, value: int) -> torch.Tensor:
        tensor = torch.full((size, steps), value, dtype=torch.long)
        for i, e in enumerate(examples):
            tensor[i, :e.length] = torch.tensor(getattr(e, name), dtype=torch.long)
        return tensor

    step_mask = torch.zeros(size, steps, dtype=torch.bool)
    for i, e in enumerate(examples):
        step_mask[i, :e.length] = True
    return Batch([e.words for e in examples], pad("prev_action", 0), pad("field", 0), pad("parent", -1),
                 pad("target", -1), step_mask)
