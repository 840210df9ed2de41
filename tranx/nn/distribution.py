"""`ActionDistribution`: the decoder's distribution over the next action, batched, under the grammar mask.

One object per decoder step (or per step of a teacher-forced batch: any leading shape) over the action
columns of tranx.data.tables: [ApplyRule... | Reduce | vocabulary tokens | copied words]. A token that can be
both generated and copied is one column (its generation and copy mass added), and a word that occurs
twice in the intent is one column (at its first position), so columns are distinct actions. Invalid
columns hold exactly `NEG` (probability 0 in float32); the loss, beam search, greedy decoding, sampling
and RL all read this object, so what training scores and what search can emit are the same set.

The heads stay factored (rule, 3-way gate, vocabulary, pointer): `log_prob` scores given columns in log
space (the training loss, exact even for tiny probabilities); `log_probs` builds the dense [..., K] table
(search and sampling: one topk or one multinomial for all rows).

Left out: the network that produces the heads (tranx.nn.decoder) and hypotheses (tranx.grammar.transition).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

NEG = -1e9  # finite "minus infinity": exp(NEG) == 0, and 0 * NEG == 0 keeps entropies and gradients finite
VALID = NEG / 2  # log-probabilities above this are valid actions
GEN, COPY, REDUCE = 0, 1, 2


def dense_entropy(log_probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(entropy in nats [...], number of valid actions [...]) of dense log-probabilities [..., K] (invalid: NEG)."""
    valid = log_probs > VALID
    return -(log_probs.exp() * log_probs.masked_fill(~valid, 0.0)).sum(-1), valid.sum(-1)


@dataclass
class Sample:
    """One sampled action per row, with its log-probability under the distribution it was drawn from
    (tempered and filtered) and under the model's own (untempered) distribution, and that one's entropy."""

    columns: torch.Tensor  # [...] long
    log_prob: torch.Tensor  # [...]
    base_log_prob: torch.Tensor  # [...]
    entropy: torch.Tensor  # [...] nats, of the untempered distribution


class ActionDistribution:
    """Heads (log-probabilities, NEG where masked): rule [..., R+1] (Reduce last, for composite fields), gate
    [..., 3] (generate / copy / Reduce, for primitive fields), token [..., V], copy [..., W]; slot [..., W] is
    each word position's merged token column (minus R+1); primitive [...] marks primitive frontier fields."""

    def __init__(self, rule: torch.Tensor, gate: torch.Tensor, token: torch.Tensor, copy: torch.Tensor,
                 slot: torch.Tensor, primitive: torch.Tensor):
        self.rule, self.gate, self.token, self.copy = rule, gate, token, copy
        self.slot, self.primitive = slot, primitive
        self.num_rules = rule.size(-1) - 1
        self.num_tokens = token.size(-1)
        self.num_words = copy.size(-1)
        self._dense: torch.Tensor | None = None

    @property
    def reduce_column(self) -> int:
        return self.num_rules

    @property
    def token_offset(self) -> int:
        return self.num_rules + 1

    @property
    def num_columns(self) -> int:
        return self.num_rules + 1 + self.num_tokens + self.num_words

    def map(self, fn) -> "ActionDistribution":
        """The same distribution with `fn` applied to every tensor (index rows, squeeze a step axis...)."""
        return ActionDistribution(fn(self.rule), fn(self.gate), fn(self.token), fn(self.copy), fn(self.slot),
                                  fn(self.primitive))

    # --- scoring given actions ------------------------------------------------------------------
    def log_prob(self, columns: torch.Tensor) -> torch.Tensor:
        """log p(column) [...], exact in log space (NEG or below for an invalid column)."""
        columns = columns.long()
        rule = self.rule.gather(-1, columns.clamp(0, self.num_rules).unsqueeze(-1)).squeeze(-1)
        j = columns - self.token_offset
        in_vocab = (j >= 0) & (j < self.num_tokens)
        generate = self.gate[..., GEN] + self.token.gather(-1, j.clamp(0, self.num_tokens - 1).unsqueeze(-1)).squeeze(-1)
        generate = generate.masked_fill(~in_vocab, NEG)
        pointer = self.copy.masked_fill(self.slot != j.unsqueeze(-1), NEG)
        copy = self.gate[..., COPY] + torch.logsumexp(pointer, dim=-1)
        token = torch.logaddexp(generate, copy).masked_fill(j < 0, NEG)
        primitive = torch.where(columns == self.reduce_column, self.gate[..., REDUCE], token)
        composite = rule.masked_fill(j >= 0, NEG)
        return torch.where(self.primitive, primitive, composite).clamp(min=NEG)

    # --- the dense table --------------------------------------------------------------------------
    def log_probs(self) -> torch.Tensor:
        """[..., K] log-probabilities of every column; invalid columns are exactly NEG."""
        if self._dense is None:
            self._dense = self._build_dense()
        return self._dense

    def _build_dense(self) -> torch.Tensor:
        lead = self.token.shape[:-1]
        merged = self.num_tokens + self.num_words
        if not self.primitive.any():  # every row expands a composite field: the token columns are all invalid
            dense = torch.cat([self.rule, self.rule.new_full((*lead, merged), NEG)], dim=-1)
            return dense.masked_fill(dense <= VALID, NEG)
        generate = F.pad(self.gate[..., GEN:GEN + 1] + self.token, (0, self.num_words), value=NEG)
        pointer = self.gate[..., COPY:COPY + 1] + self.copy
        copy_ok = pointer > VALID
        top = pointer.max(dim=-1, keepdim=True).values.clamp(min=VALID)  # stable exponentials
        mass = pointer.new_zeros(*lead, merged).scatter_add(-1, self.slot, (pointer - top).exp() * copy_ok)
        hit = pointer.new_zeros(*lead, merged).scatter_add(-1, self.slot, copy_ok.to(pointer.dtype)) > 0
        copied = mass.clamp(min=1e-30).log() + top  # clamp: no log(0) in the graph (its gradient is NaN)
        tokens = torch.logaddexp(generate, copied.masked_fill(~hit, NEG))  # neither: about NEG, made NEG below
        reduce = self.gate[..., REDUCE:REDUCE + 1]
        primitive = torch.cat([reduce.new_full((*lead, self.num_rules), NEG), reduce, tokens], dim=-1)
        composite = torch.cat([self.rule, self.rule.new_full((*lead, merged), NEG)], dim=-1)
        dense = torch.where(self.primitive.unsqueeze(-1), primitive, composite)
        return dense.masked_fill(dense <= VALID, NEG)

    def valid(self) -> torch.Tensor:
        """[..., K] bool: the grammar allows the column (and the model gives it non-zero probability)."""
        return self.log_probs() > VALID

    def entropy(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(entropy in nats [...], number of valid actions [...]) over the distinct valid actions;
        divide by log(count) for an entropy normalised to [0, 1]."""
        return dense_entropy(self.log_probs())

    def topk(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(log-probabilities, columns) of the k most probable columns; may include invalid ones (<= VALID)."""
        log_probs = self.log_probs()
        return torch.topk(log_probs, min(k, log_probs.size(-1)), dim=-1)

    def argmax(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.log_probs().max(dim=-1)

    def sample(self, *, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
               generator: torch.Generator | None = None) -> Sample:
        """Draw one column per row from the tempered, top-k / nucleus-filtered distribution (rows: every leading
        position). Gradients flow to both log-probabilities when the heads carry them (RL)."""
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        if top_p is not None and not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        base = self.log_probs()
        valid = base > VALID
        logits = base / temperature
        if top_k is not None and top_k < logits.size(-1):
            kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
            valid = valid & (logits >= kth)
        if top_p is not None and top_p < 1:
            ordered, order = torch.sort(logits.masked_fill(~valid, NEG), dim=-1, descending=True)
            probs = torch.softmax(ordered, dim=-1)
            before = probs.cumsum(-1) - probs  # mass of the strictly more probable columns
            keep_sorted = before < top_p
            valid = valid & torch.zeros_like(valid).scatter(-1, order, keep_sorted)
        drawn = torch.log_softmax(logits.masked_fill(~valid, NEG), dim=-1)
        flat = drawn.detach().reshape(-1, drawn.size(-1)).exp()
        columns = torch.multinomial(flat, 1, generator=generator).reshape(drawn.shape[:-1])
        pick = columns.unsqueeze(-1)
        entropy, _ = self.entropy()
        return Sample(columns, drawn.gather(-1, pick).squeeze(-1), base.gather(-1, pick).squeeze(-1), entropy)

    # --- ensembles --------------------------------------------------------------------------------
    @staticmethod
    def mixture(members: list["ActionDistribution"]) -> "ActionDistribution":
        """The members' distributions averaged in probability space (members share grammar, vocabulary and words).

        Every action's probability is linear in the heads (a token's is p_gen * p_vocab + p_copy * pointer mass), so
        averaging each head's gate-weighted mass gives the average of the action probabilities exactly."""
        if len(members) == 1:
            return members[0]
        log_m = math.log(len(members))

        def mean(parts: list[torch.Tensor]) -> torch.Tensor:
            return torch.logsumexp(torch.stack(parts), dim=0) - log_m

        gate = mean([d.gate for d in members])
        token = mean([d.gate[..., GEN:GEN + 1] + d.token for d in members]) - gate[..., GEN:GEN + 1]
        copy = mean([d.gate[..., COPY:COPY + 1] + d.copy for d in members]) - gate[..., COPY:COPY + 1]
        first = members[0]
        return ActionDistribution(mean([d.rule for d in members]), gate, token.clamp(min=NEG), copy.clamp(min=NEG),
                                  first.slot, first.primitive)
