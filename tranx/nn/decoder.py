"""The TranX decoder: an LSTM that scores grammar actions, with attention, parent feeding and copy.

One step: the cell reads [previous action embedding; previous attentional vector (input feeding);
frontier field embedding; decoder state at the parent step (parent feeding)], attends over the
intent's word states (Luong "general"), and forms the attentional vector `tanh(W[h; ctx])`. The heads
score, from that vector: ApplyRule over all constructors plus Reduce, GenToken from the primitive
vocabulary, a pointer over intent words, and a 3-way gate (generate / copy / Reduce) for primitive
fields. Masks come from the grammar tables (tranx.data.tables) only, and the heads become one
`ActionDistribution` (tranx.nn.distribution), so invalid actions get exactly no probability mass.

Left out: the encoder, the loss (tranx.nn.model) and any search (tranx.decoding.search).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from tranx.config import ModelConfig
from tranx.errors import TranxError
from tranx.nn.distribution import NEG, ActionDistribution
from tranx.nn.precision import quantized_int8
from tranx.data.tables import GrammarTables


@dataclass
class Memory:
    """Encoded intents, repeated per row: values [N, W, H], mask [N, W]; per primitive type, which words may be
    copied and their merged token columns (`GrammarTables.copy_view`): copy_ok, slot [N, P, W]."""

    values: torch.Tensor
    mask: torch.Tensor
    copy_ok: torch.Tensor
    slot: torch.Tensor

    def select(self, rows: torch.Tensor) -> "Memory":
        return Memory(*(t.index_select(0, rows) for t in (self.values, self.mask, self.copy_ok, self.slot)))


@dataclass
class State:
    h: torch.Tensor  # [N, H]
    c: torch.Tensor  # [N, H]
    att: torch.Tensor  # [N, A] previous attentional vector

    def select(self, rows: torch.Tensor) -> "State":
        return State(self.h.index_select(0, rows), self.c.index_select(0, rows), self.att.index_select(0, rows))


class Decoder(nn.Module):
    def __init__(self, config: ModelConfig, tables: GrammarTables, encoder_size: int, num_words: int = 0):
        super().__init__()
        self.config = config
        self.tables = tables
        grammar, num_tokens = tables.grammar, tables.num_tokens
        self.num_rules = len(grammar.constructors)
        hidden, att = config.hidden_size, config.att_size
        self.word_embed = None
        if config.word_embed_size:
            if num_words < 2:
                raise ValueError("model.word_embed_size needs a word vocabulary")
            self.word_embed = nn.Embedding(num_words, config.word_embed_size, padding_idx=0)
            encoder_size += config.word_embed_size
        self.word_lstm = None
        if config.word_lstm:
            self.word_lstm = nn.LSTM(encoder_size, hidden // 2, batch_first=True, bidirectional=True)
            encoder_size = 2 * (hidden // 2)
        self.action_embed = nn.Embedding(2 + self.num_rules + num_tokens, config.action_embed_size)
        self.field_embed = nn.Embedding(len(grammar.fields) + 1, config.field_embed_size)
        parent = hidden if config.parent_feeding else 0
        self.cell = nn.LSTMCell(config.action_embed_size + att + config.field_embed_size + parent, hidden)
        self.memory_proj = nn.Linear(encoder_size, hidden)
        self.init_proj = nn.Linear(encoder_size, hidden)
        self.att_score = nn.Linear(hidden, hidden, bias=False)
        self.att_combine = nn.Linear(2 * hidden, att, bias=False)
        self.rule_head = nn.Linear(att, self.num_rules + 1)
        self.token_head = nn.Linear(att, num_tokens)
        self.copy_query = nn.Linear(att, hidden, bias=False)
        self.gate_head = nn.Linear(att, 3)
        self.dropout = nn.Dropout(config.dropout)
        self._fast_cell: Callable | None = None  # set_precision: the cell in bf16 / int8 (fp32 weights kept)

    def set_precision(self, precision: str) -> None:
        """"bf16" or "int8": the LSTM cell, the largest product of a search step, in bfloat16 or with int8 weights
        (tranx.nn.precision), its two products fused into one. Inference only; at beam width the product takes a
        half (bf16) or a fifth (int8) of its fp32 time, and the states, heads and probabilities stay float32. (The
        heads in int8 were no faster over whole decodes in a one-off comparison.) The low-precision copy is taken
        now (set the precision after loading the weights); the fp32 cell is kept, so "fp32" goes back to it and the
        state dict never changes."""
        products = {"bf16": _bf16_product, "int8": quantized_int8}
        self._fast_cell = _fused_cell(self.cell, products[precision]) if precision in products else None

    def train(self, mode: bool = True) -> "Decoder":
        if mode and self._fast_cell is not None:
            raise TranxError("the decoder runs in reduced precision for inference only: load it again to train")
        return super().train(mode)

    def _cell(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (self._fast_cell or self.cell)(x, (h, c))

    # --- encoder side ---------------------------------------------------------------------------
    def adapt(self, word_states: torch.Tensor, word_mask: torch.Tensor,
              word_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The optional learned word embeddings (word_ids [B, W], joined to the states), then the optional
        BiLSTM over the word states (padding packed away, so it never leaks in)."""
        if self.word_embed is not None:
            if word_ids is None:
                raise ValueError("this decoder has word embeddings: adapt() needs word_ids")
            embedded = self.dropout(self.word_embed(word_ids.to(word_states.device)))
            word_states = torch.cat([word_states, embedded * word_mask.unsqueeze(-1)], dim=-1)
        if self.word_lstm is None:
            return word_states
        lengths = word_mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(word_states, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.word_lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=word_states.size(1))
        return out

    def memory(self, word_states: torch.Tensor, word_mask: torch.Tensor, words: list[list[str]]) -> Memory:
        copy_ok, slot = self.tables.copy_view(words, word_mask.size(1))
        copy_ok = copy_ok.to(word_mask.device) & word_mask.unsqueeze(1)
        return Memory(self.dropout(self.memory_proj(word_states)), word_mask, copy_ok, slot.to(word_mask.device))

    def initial_state(self, word_states: torch.Tensor, word_mask: torch.Tensor) -> State:
        weights = word_mask.unsqueeze(-1).float()
        sentence = (word_states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        h = torch.tanh(self.init_proj(sentence))
        return State(h, torch.zeros_like(h), h.new_zeros(h.size(0), self.config.att_size))

    # --- one step -------------------------------------------------------------------------------
    def step(self, prev_action: torch.Tensor, field: torch.Tensor, parent_h: torch.Tensor | None,
             state: State, memory: Memory) -> State:
        """prev_action, field: [N] (frontier states, tranx.data.tables); parent_h: [N, H] (zeros at the root).
        Returns the new state."""
        inputs = [self.action_embed(prev_action), state.att, self.field_embed(self.tables.state_field[field])]
        if self.config.parent_feeding:
            inputs.append(parent_h)
        h, c = self._cell(torch.cat(inputs, dim=-1), state.h, state.c)
        scores = torch.bmm(memory.values, self.att_score(h).unsqueeze(2)).squeeze(2)  # [N, W]
        alpha = torch.softmax(scores.masked_fill(~memory.mask, NEG), dim=-1)
        context = torch.bmm(alpha.unsqueeze(1), memory.values).squeeze(1)  # [N, H]
        att = self.dropout(torch.tanh(self.att_combine(torch.cat([h, context], dim=-1))))
        return State(h, c, att)

    # --- heads ----------------------------------------------------------------------------------
    def distribution(self, att: torch.Tensor, field: torch.Tensor, memory: Memory, *,
                     grammar_mask: bool = True) -> ActionDistribution:
        """att: [N, ..., A]; field: [N, ...] (one step of N rows, or N rows of T steps). The action distribution
        of every row and step, under the grammar tables: rules and Reduce by frontier field, tokens by the field's
        primitive type (never <pad> or <unk>), words the type may hold. `grammar_mask=False` (an ablation) leaves
        rules, Reduce and token types unmasked."""
        tables = self.tables
        lead, rows, words = field.shape, field.size(0), memory.values.size(1)
        field_type = tables.field_type[field]
        primitive = field_type >= 0
        rule_mask = tables.rule_mask[field] if grammar_mask else tables.rule_mask.new_ones(*lead, self.num_rules + 1)
        # A search step whose rows all expand composite fields (most steps), or all primitive ones, skips the heads
        # no row reads: they would come out NEG throughout (an unread head carries no gradient either).
        any_primitive = bool(primitive.any())
        if any_primitive and bool(primitive.all()):
            rule = att.new_full((*lead, self.num_rules + 1), NEG)
        else:
            rule = _masked_log_softmax(self.rule_head(att).masked_fill(~rule_mask, NEG), rule_mask)
        if not any_primitive:
            slot = memory.slot[:, 0].reshape(rows, *[1] * (len(lead) - 1), words).expand(*lead, words)  # never read
            nothing = att.new_full((*lead, 3 + tables.num_tokens + words), NEG)
            gate, token, copy = nothing.split([3, tables.num_tokens, words], dim=-1)
            return ActionDistribution(rule, gate, token, copy, slot, primitive)
        types = field_type.clamp(min=0).reshape(rows, -1, 1)

        def by_type(table: torch.Tensor) -> torch.Tensor:  # [N, P, W] -> [*lead, W]: each row's own field type
            return table.gather(1, types.expand(-1, -1, words)).reshape(*lead, words)
        copy_ok, slot = by_type(memory.copy_ok), by_type(memory.slot)
        if grammar_mask:
            token_ok = tables.type_tokens[field_type.clamp(min=0)]  # [*lead, V]
            reduce_ok = rule_mask[..., tables.reduce_column]
        else:
            token_ok = tables.type_tokens.any(0).expand(*lead, -1)
            reduce_ok = torch.ones_like(primitive)
            copy_ok = memory.mask.reshape(rows, *[1] * (len(lead) - 1), words).expand(*lead, words)
        if not self.config.copy:
            copy_ok = torch.zeros_like(copy_ok)
        gate_ok = torch.stack([token_ok.any(-1), copy_ok.any(-1), reduce_ok], dim=-1) & primitive.unsqueeze(-1)
        gate = _masked_log_softmax(self.gate_head(att).masked_fill(~gate_ok, NEG), gate_ok)
        token = _masked_log_softmax(self.token_head(att).masked_fill(~token_ok, NEG), token_ok)
        query = self.copy_query(att).reshape(rows, -1, memory.values.size(-1))
        copy_logits = torch.bmm(query, memory.values.transpose(1, 2)).reshape(*lead, words)
        copy = _masked_log_softmax(copy_logits.masked_fill(~copy_ok, NEG), copy_ok)
        return ActionDistribution(rule, gate, token, copy, slot, primitive)


def _fused_cell(cell: nn.LSTMCell, make_product: Callable[[nn.Linear], Callable]) -> Callable:
    """nn.LSTMCell's step with its two products fused into one, [x; h] x [W_ih | W_hh] + (b_ih + b_hh), run by
    `make_product(that linear layer)`; the gates and states in float32."""
    fused = nn.Linear(cell.input_size + cell.hidden_size, 4 * cell.hidden_size)
    with torch.no_grad():
        fused.weight.copy_(torch.cat([cell.weight_ih, cell.weight_hh], 1))
        fused.bias.copy_(cell.bias_ih + cell.bias_hh)
    product = make_product(fused)
    size = cell.hidden_size

    def step(x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        gates = product(torch.cat([x, h], dim=-1))
        i, f, _, o = torch.sigmoid(gates).chunk(4, dim=-1)  # nn.LSTMCell's gate order; one sigmoid for all four
        c = torch.addcmul(f * c, i, torch.tanh(gates[:, 2 * size:3 * size]))
        return o * torch.tanh(c), c
    return step


def _bf16_product(linear: nn.Linear) -> Callable[[torch.Tensor], torch.Tensor]:
    weight, bias = linear.weight.detach().t().contiguous().to(torch.bfloat16), linear.bias.detach()
    return lambda x: torch.mm(x.to(torch.bfloat16), weight).float() + bias


def _masked_log_softmax(logits: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
    """log_softmax with masked entries exactly NEG (also in rows where nothing is valid, whose gate is masked)."""
    return torch.log_softmax(logits, -1).masked_fill(~ok, NEG)
