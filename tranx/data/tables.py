"""The grammar constraint as tensors: the one mask source of the loss, beam search, sampling and RL.

Derived once from the transition system's `valid_for_state` (so the symbolic check in
`Hypothesis.apply` and these tensors cannot disagree), the primitive vocabulary and the language's
token check. Rows are indexed by frontier *state* (`Frontier.state`: a field id, or a piece-type
field's literal state):

* `rule_mask[state]`: which of [ApplyRule(constructor)..., Reduce] the frontier state allows;
* `field_type[state]`: the field's primitive type index, -1 for a composite field;
* `state_field[state]`: the field of the state (what the decoder embeds);
* `type_tokens[type]`: the vocabulary tokens a primitive type may hold: those the type's own
  vocabulary kept (`Vocab.types`) and the language accepts, never `<pad>` or `<unk>`;
* `copy_view(words)`: per intent and type, which word positions may be copied, and into which
  column of the merged token space each one goes (a word the type's vocabulary holds merges with
  generating it; any other word is its first occurrence).

Action columns, shared by every distribution: [0, R) ApplyRule, R Reduce, R+1+j vocabulary token j,
R+1+V+p the word at position p copied.

Left out: scores (tranx.nn.distribution) and the symbolic hypothesis (tranx.grammar.transition).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from tranx.grammar.actions import PIECES_END, ApplyRule, GenToken
from tranx.grammar.asdl import Grammar
from tranx.grammar.transition import TransitionSystem
from tranx.data.vocab import Vocab

TokenCheck = Callable[[str, str], bool]  # (primitive type, token) -> may a field of that type hold it?


class ActionIds:
    """The decoder's input embedding ids: 0 = start, 1 + constructor id = ApplyRule, 1 + R = Reduce,
    2 + R + token id = GenToken (a token outside the vocabulary, copied, is fed as `<unk>`)."""

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


class GrammarTables(nn.Module):
    """Validity tables of one grammar and primitive vocabulary (buffers: they follow the model's device)."""

    def __init__(self, system: TransitionSystem, tokens: Vocab, token_ok: TokenCheck | None = None):
        super().__init__()
        grammar: Grammar = system.grammar
        self.grammar, self.tokens, self.token_ok = grammar, tokens, token_ok
        self.num_rules = len(grammar.constructors)
        self.reduce_column = self.num_rules
        self.token_offset = self.num_rules + 1
        self.num_tokens = len(tokens)
        self.ids = ActionIds(grammar, tokens)
        fields = (*grammar.fields, grammar.root_field)
        self.type_names = tuple(sorted({f.type for f in fields if f.is_primitive}))
        self._type_index = {name: i for i, name in enumerate(self.type_names)}
        rows = 2 * system.num_fields if grammar.piece_types else system.num_fields
        rule_mask = torch.zeros(rows, self.num_rules + 1, dtype=torch.bool)
        field_type = torch.full((rows,), -1, dtype=torch.long)
        state_field = torch.arange(rows) % system.num_fields
        for state, f in system.states:
            valid = system.valid_for_state(state)
            rule_mask[state, list(valid.constructor_ids)] = True
            rule_mask[state, self.reduce_column] = valid.reduce
            if valid.token:
                field_type[state] = self._type_index[f.type]
        type_tokens = torch.zeros(max(1, len(self.type_names)), self.num_tokens, dtype=torch.bool)
        specials = {i for i in (tokens.pad_id, tokens.unk_id) if i is not None}
        for t, name in enumerate(self.type_names):
            allowed = tokens.types.get(name, ()) if tokens.types is not None else range(self.num_tokens)
            for i in allowed:
                if i not in specials and self.may_hold(name, tokens.token(i)):
                    type_tokens[t, i] = True
        self.register_buffer("rule_mask", rule_mask, persistent=False)
        self.register_buffer("field_type", field_type, persistent=False)
        self.register_buffer("state_field", state_field, persistent=False)
        self.register_buffer("type_tokens", type_tokens, persistent=False)
        self._checked: dict[tuple[int, str], bool] = {}
        self._type_token_rows: list[list[bool]] | None = None

    @property
    def num_types(self) -> int:
        return len(self.type_names)

    def type_index(self, name: str) -> int:
        return self._type_index[name]

    def may_hold(self, type_name: str, token: str) -> bool:
        if token == PIECES_END:  # closes a value of a piece type; never a value of its own
            return type_name in self.grammar.piece_types
        return self.token_ok is None or self.token_ok(type_name, token)

    def _word_ok(self, type_index: int, word: str) -> bool:
        key = (type_index, word)
        found = self._checked.get(key)
        if found is None:
            found = self._checked[key] = self.may_hold(self.type_names[type_index], word)
        return found

    def token_column(self, type_index: int, token: str) -> int | None:
        """The vocabulary column of `token` when the type's vocabulary may generate it, else None."""
        index = self.tokens._ids.get(token)
        if self._type_token_rows is None:  # Python lists: this runs per intent word, a tensor lookup costs more
            self._type_token_rows = self.type_tokens.tolist()
        if index is None or not self._type_token_rows[type_index][index]:
            return None
        return self.token_offset + index

    def copy_view(self, words: list[list[str]], width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(ok [B, P, W] bool, slot [B, P, W] long): whether the word at each position may be copied into a
        field of each primitive type, and its merged token column minus `token_offset`."""
        width = width if width is not None else max((len(w) for w in words), default=0)
        types = max(1, self.num_types)
        ok = [[[False] * width for _ in range(types)] for _ in words]  # filled as lists, then one tensor each
        slot = [[[0] * width for _ in range(types)] for _ in words]
        for b, units in enumerate(words):
            first: dict[str, int] = {}
            for p, word in enumerate(units[:width]):
                first.setdefault(word, p)
            for t in range(self.num_types):
                for p, word in enumerate(units[:width]):
                    if not self._word_ok(t, word):
                        slot[b][t][p] = self.num_tokens + p
                        continue
                    ok[b][t][p] = True
                    column = self.token_column(t, word)
                    slot[b][t][p] = column - self.token_offset if column is not None else self.num_tokens + first[word]
        shape = (len(words), types, width)  # torch.tensor of an empty batch would lose the inner sizes
        return (torch.tensor(ok, dtype=torch.bool).reshape(shape), torch.tensor(slot, dtype=torch.long).reshape(shape))
