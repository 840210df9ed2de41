"""The network: a word encoder and the grammar decoder, with the teacher-forced, grammar-masked loss.

`TranxModel.loss(batch)` is the training objective: minus the log-probability of the oracle actions, each
step's `ActionDistribution` (the one search and sampling read) normalised over the valid actions only. The
model also exposes `encode` and `decode_step` for search (tranx.decoding.search), and knows nothing of beams.
"""

from __future__ import annotations

import torch
from torch import nn

from tranx.grammar.asdl import Grammar
from tranx.config import ModelConfig
from tranx.data.examples import Batch
from tranx.nn.decoder import Decoder, Memory, State
from tranx.nn.distribution import VALID, ActionDistribution
from tranx.nn.encoders import build_encoder  # noqa: F401 (re-exported: the model config names its encoder)
from tranx.data.tables import GrammarTables, TokenCheck
from tranx.grammar.transition import TransitionSystem
from tranx.data.vocab import Vocab

class TranxModel(nn.Module):
    def __init__(self, config: ModelConfig, grammar: Grammar, tokens: Vocab, encoder: nn.Module,
                 words: Vocab | None = None, token_ok: TokenCheck | None = None):
        """`token_ok`: the target language's check of a token for a primitive type (part of the grammar tables)."""
        super().__init__()
        self.config = config
        self.grammar = grammar
        self.tokens = tokens
        self.retrieval = None  # a tranx.data.retrieval.RetrievalIndex when train.retrieve is on (data, not weights)
        self.words = words if config.word_embed_size else None  # the vocabulary of model.word_embed_size
        if config.word_embed_size and words is None:
            raise ValueError("model.word_embed_size > 0 needs a word vocabulary (vocab/words.json)")
        self.system = TransitionSystem(grammar)
        self.tables = GrammarTables(self.system, tokens, token_ok)
        self.ids = self.tables.ids
        self.encoder = encoder
        self.decoder = Decoder(config, self.tables, encoder.hidden_size,
                               num_words=len(self.words) if self.words is not None else 0)

    # --- encoding -------------------------------------------------------------------------------
    def encode(self, words: list[list[str]], encoder=None) -> tuple[Memory, State]:
        """Memory and initial decoder state for a batch of word lists (`encoder`: e.g. a cache)."""
        encoder = encoder or self.encoder
        batch = encoder.batch(words)
        output = encoder(batch)
        word_mask = output.word_mask
        word_states = self.decoder.adapt(output.word_states, word_mask, self.word_ids(batch.words, word_mask.size(1)))
        return (self.decoder.memory(word_states, word_mask, batch.words),
                self.decoder.initial_state(word_states, word_mask))

    def word_ids(self, words: list[list[str]], width: int) -> torch.Tensor | None:
        """[B, width] ids of the word units (the texts the encoder batched) in the word vocabulary (<pad> = 0 past
        the end), or None without word embeddings."""
        if self.words is None:
            return None
        ids = torch.zeros(len(words), width, dtype=torch.long)
        for b, units in enumerate(words):
            row = self.words.encode(units[:width])
            ids[b, :len(row)] = torch.tensor(row, dtype=torch.long)
        return ids

    # --- training -------------------------------------------------------------------------------
    def loss(self, batch: Batch, encoder=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed negative log-likelihood per example [B], number of scored steps per example [B]).

        A step whose target has no valid column (a token neither in its type's vocabulary nor copyable, or only
        copyable from words the encoder cut off) is left out: it has probability 0 under the grammar tables."""
        distribution, _, _ = self.teacher_forced(batch, encoder)
        log_probs = distribution.log_prob(batch.target.clamp(min=0))
        scored = batch.step_mask & (batch.target >= 0) & (log_probs > VALID)
        return -log_probs.masked_fill(~scored, 0.0).sum(1), scored.sum(1)

    def teacher_forced(self, batch: Batch, encoder=None) -> tuple[ActionDistribution, Memory, torch.Tensor]:
        """The distribution of every step along the oracle ([B, T, ...]), the memory, and the states h [B, T, H]."""
        memory, state = self.encode(batch.words, encoder)
        steps = batch.field.size(1)
        size = batch.field.size(0)
        rows = torch.arange(size)
        history = memory.values.new_zeros(size, steps, self.config.hidden_size)
        atts = []
        for t in range(steps):
            parent = batch.parent[:, t]
            parent_h = history[rows, parent.clamp(min=0)] * (parent >= 0).unsqueeze(-1)
            state = self.decoder.step(batch.prev_action[:, t], batch.field[:, t], parent_h, state, memory)
            history[:, t] = state.h  # read later by the children of this step (parent feeding)
            atts.append(state.att)
        distribution = self.decoder.distribution(torch.stack(atts, 1), batch.field, memory,
                                                 grammar_mask=self.config.grammar_mask_in_training)
        return distribution, memory, history

    # --- search ---------------------------------------------------------------------------------
    def decode_step(self, prev_action: torch.Tensor, field: torch.Tensor, parent_h: torch.Tensor,
                    state: State, memory: Memory) -> tuple[State, ActionDistribution]:
        """One step for N rows: the new state and the action distribution of each row ([N, ...]), the very one the
        loss scores, so a hypothesis' summed step scores are its teacher-forced log-likelihood."""
        state = self.decoder.step(prev_action, field, parent_h, state, memory)
        return state, self.decoder.distribution(state.att, field, memory)
