"""The TranX decoder: an LSTM that scores grammar actions, with attention, parent feeding and copy.

One step: the cell reads [previous action embedding; previous attentional vector (input feeding);
frontier field embedding; decoder state at the parent step (parent feeding)], attends over the
intent's word states (Luong "general"), and forms the attentional vector `tanh(W[h; ctx])`. The heads
score, from that vector: ApplyRule over all constructors plus Reduce, GenToken from the primitive
vocabulary, a pointer over intent words, and a 3-way gate (generate / copy / Reduce) for primitive
fields. Masks come from the grammar tables, so invalid actions get no probability mass.

Left out: the encoder, the loss (tranx.model) and any search (tranx.search).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .asdl import Cardinality, Grammar
from .config import ModelConfig

NEG = -1e9  # finite "minus infinity": masked entries get exp(NEG) = 0 without NaN gradients
GEN, COPY, REDUCE = 0, 1, 2


class GrammarTables(nn.Module):
    """Per frontier field: which of [constructors..., Reduce] are valid, and whether Reduce is."""

    def __init__(self, grammar: Grammar):
        super().__init__()
        fields = (*grammar.fields, grammar.root_field)
        num_rules = len(grammar.constructors)
        rule_mask = torch.zeros(len(fields), num_rules + 1, dtype=torch.bool)
        reduce_ok = torch.zeros(len(fields), dtype=torch.bool)
        for f in fields:
            closable = f.cardinality is not Cardinality.SINGLE
            reduce_ok[f.id] = closable
            rule_mask[f.id, num_rules] = closable
            if not f.is_primitive:
                for c in grammar.constructors_of(f.type):
                    rule_mask[f.id, c.id] = True
        self.register_buffer("rule_mask", rule_mask, persistent=False)
        self.register_buffer("reduce_ok", reduce_ok, persistent=False)


@dataclass
class Memory:
    """Encoded intents, repeated per row: values [N, W, H], mask [N, W]."""

    values: torch.Tensor
    mask: torch.Tensor

    def select(self, rows: torch.Tensor) -> "Memory":
        return Memory(self.values.index_select(0, rows), self.mask.index_select(0, rows))


@dataclass
class State:
    h: torch.Tensor  # [N, H]
    c: torch.Tensor  # [N, H]
    att: torch.Tensor  # [N, A] previous attentional vector

    def select(self, rows: torch.Tensor) -> "State":
        return State(self.h.index_select(0, rows), self.c.index_select(0, rows), self.att.index_select(0, rows))


@dataclass
class Scores:
    """Log-probabilities under the grammar mask, for rows (and steps): [..., R+1], [..., 3], [..., V], [..., W]."""

    rule: torch.Tensor
    gate: torch.Tensor
    token: torch.Tensor
    copy: torch.Tensor


class Decoder(nn.Module):
    def __init__(self, config: ModelConfig, grammar: Grammar, num_tokens: int, encoder_size: int,
                 num_words: int = 0):
        super().__init__()
        self.config = config
        self.num_rules = len(grammar.constructors)
        hidden, att = config.hidden_size, config.att_size
        self.tables = GrammarTables(grammar)
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

    def memory(self, word_states: torch.Tensor, word_mask: torch.Tensor) -> Memory:
        return Memory(self.dropout(self.memory_proj(word_states)), word_mask)

    def initial_state(self, word_states: torch.Tensor, word_mask: torch.Tensor) -> State:
        weights = word_mask.unsqueeze(-1).float()
        sentence = (word_states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        h = torch.tanh(self.init_proj(sentence))
        return State(h, torch.zeros_like(h), h.new_zeros(h.size(0), self.config.att_size))

    # --- one step -------------------------------------------------------------------------------
    def step(self, prev_action: torch.Tensor, field: torch.Tensor, parent_h: torch.Tensor | None,
             state: State, memory: Memory) -> State:
        """prev_action, field: [N]; parent_h: [N, H] (zeros at the root). Returns the new state."""
        inputs = [self.action_embed(prev_action), state.att, self.field_embed(field)]
        if self.config.parent_feeding:
            inputs.append(parent_h)
        h, c = self.cell(torch.cat(inputs, dim=-1), (state.h, state.c))
        scores = torch.bmm(memory.values, self.att_score(h).unsqueeze(2)).squeeze(2)  # [N, W]
        alpha = torch.softmax(scores.masked_fill(~memory.mask, NEG), dim=-1)
        context = torch.bmm(alpha.unsqueeze(1), memory.values).squeeze(1)  # [N, H]
        att = self.dropout(torch.tanh(self.att_combine(torch.cat([h, context], dim=-1))))
        return State(h, c, att)

    # --- heads ----------------------------------------------------------------------------------
    def scores(self, att: torch.Tensor, field: torch.Tensor, memory: Memory, *, grammar_mask: bool = True) -> Scores:
        """att: [N, T, A]; field: [N, T]. Log-probabilities of every head, masked."""
        rule_logits = self.rule_head(att)
        gate_logits = self.gate_head(att)
        if grammar_mask:
            rule_logits = rule_logits.masked_fill(~self.tables.rule_mask[field], NEG)
            gate_logits = gate_logits.masked_fill(
                ~self.tables.reduce_ok[field].unsqueeze(-1) & _one_hot(3, REDUCE, att.device), NEG)
        if not self.config.copy:
            gate_logits = gate_logits.masked_fill(_one_hot(3, COPY, att.device), NEG)
        token_logits = self.token_head(att)
        token_logits[..., 0] = NEG  # <pad>
        copy_logits = torch.matmul(self.copy_query(att), memory.values.transpose(1, 2))  # [N, T, W]
        copy_logits = copy_logits.masked_fill(~memory.mask.unsqueeze(1), NEG)
        return Scores(torch.log_softmax(rule_logits, -1), torch.log_softmax(gate_logits, -1),
                      torch.log_softmax(token_logits, -1), torch.log_softmax(copy_logits, -1))


def _one_hot(size: int, index: int, device) -> torch.Tensor:
    mask = torch.zeros(size, dtype=torch.bool, device=device)
    mask[index] = True
    return mask
