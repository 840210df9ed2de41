"""The network: a word encoder and the grammar decoder, with the teacher-forced, grammar-masked loss.

`TranxModel.loss(batch)` is the training objective: minus the log-probability of the oracle actions,
each step scored under the grammar mask, GenToken as gate-weighted generation plus copying. The model
also exposes `encode` and `decode_step` for search (tranx.search), and knows nothing of beams.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .asdl import Grammar
from .config import ModelConfig
from .data import ActionIds, Batch
from .decoder import COPY, GEN, NEG, REDUCE, Decoder, Memory, Scores, State
from .vocab import Vocab


def build_encoder(config: ModelConfig, intent_pieces_path: str | None = None) -> nn.Module:
    """The word encoder a config names: a BERT checkpoint, a tiny random BERT, or the BiLSTM."""
    from .encoder import BertWordEncoder, resolve_encoder_path
    if config.encoder == "lstm":
        from .lstm_encoder import LSTMWordEncoder
        if intent_pieces_path is None:
            raise ValueError("the lstm encoder needs the sentencepiece model of the training intents")
        return LSTMWordEncoder(intent_pieces_path, hidden_size=config.lstm_encoder_size, dropout=config.dropout)
    if config.encoder == "tiny-random":
        from transformers import AutoTokenizer, BertConfig
        tokenizer = AutoTokenizer.from_pretrained(resolve_encoder_path("default"), local_files_only=True)
        size = config.tiny_encoder_size
        bert_config = BertConfig(vocab_size=len(tokenizer), hidden_size=size, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=2 * size, max_position_embeddings=512)
        return BertWordEncoder.from_config(bert_config, tokenizer, finetune=config.finetune_encoder)
    return BertWordEncoder.from_pretrained(config.encoder, finetune=config.finetune_encoder)


class TranxModel(nn.Module):
    def __init__(self, config: ModelConfig, grammar: Grammar, tokens: Vocab, encoder: nn.Module,
                 words: Vocab | None = None):
        super().__init__()
        self.config = config
        self.grammar = grammar
        self.tokens = tokens
        self.words = words if config.word_embed_size else None  # the vocabulary of model.word_embed_size
        if config.word_embed_size and words is None:
            raise ValueError("model.word_embed_size > 0 needs a word vocabulary (vocab/words.json)")
        self.ids = ActionIds(grammar, tokens)
        self.encoder = encoder
        self.decoder = Decoder(config, grammar, len(tokens), encoder.hidden_size,
                               num_words=len(self.words) if self.words is not None else 0)

    # --- encoding -------------------------------------------------------------------------------
    def encode(self, words: list[list[str]], encoder=None) -> tuple[Memory, State]:
        """Memory and initial decoder state for a batch of word lists (`encoder`: e.g. a cache)."""
        encoder = encoder or self.encoder
        batch = encoder.batch(words)
        output = encoder(batch)
        word_mask = output.word_mask
        word_states = self.decoder.adapt(output.word_states, word_mask, self.word_ids(batch.words, word_mask.size(1)))
        return self.decoder.memory(word_states, word_mask), self.decoder.initial_state(word_states, word_mask)

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
        """(summed negative log-likelihood per example [B], number of steps per example [B])."""
        scores, memory, _ = self.teacher_forced(batch, encoder)
        batch = _without_impossible_targets(batch, memory.mask, self.tokens.unk_id)
        log_probs = step_log_probs(scores, batch, memory.mask.size(1))
        log_probs = log_probs.masked_fill(~batch.step_mask, 0.0)
        return -log_probs.sum(1), batch.step_mask.sum(1)

    def teacher_forced(self, batch: Batch, encoder=None) -> tuple[Scores, Memory, torch.Tensor]:
        """Scores of every step along the oracle ([B, T, ...]), the memory, and the states h [B, T, H]."""
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
        scores = self.decoder.scores(torch.stack(atts, 1), batch.field, memory,
                                     grammar_mask=self.config.grammar_mask_in_training)
        return scores, memory, history

    # --- search ---------------------------------------------------------------------------------
    def decode_step(self, prev_action: torch.Tensor, field: torch.Tensor, parent_h: torch.Tensor,
                    state: State, memory: Memory) -> tuple[State, Scores]:
        """One step for N rows: new state and the masked log-probabilities of every head ([N, ...]).

        The very distribution the loss scores (`<unk>` included: the search, not the model, refuses to emit it), so
        a hypothesis' summed step scores are its teacher-forced log-likelihood."""
        state = self.decoder.step(prev_action, field, parent_h, state, memory)
        scores = self.decoder.scores(state.att.unsqueeze(1), field.unsqueeze(1), memory)
        return state, Scores(*(s.squeeze(1) for s in (scores.rule, scores.gate, scores.token, scores.copy)))


def step_log_probs(scores: Scores, batch: Batch, num_words: int) -> torch.Tensor:
    """log p(oracle action) at every step [B, T]."""
    rule = scores.rule.gather(-1, batch.rule_target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    generate = scores.gate[..., GEN] + scores.token.gather(
        -1, batch.token_target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    generate = generate.masked_fill(batch.token_target < 0, NEG)
    copy_target = _fit_words(batch.copy_target, num_words)
    copy = scores.gate[..., COPY] + torch.logsumexp(scores.copy.masked_fill(~copy_target, NEG), dim=-1)
    token = torch.logaddexp(generate, copy)
    primitive = torch.where(batch.reduce_target, scores.gate[..., REDUCE], token)
    return torch.where(batch.rule_target >= 0, rule, primitive)


def _without_impossible_targets(batch: Batch, word_mask: torch.Tensor, unk_id: int) -> Batch:
    """A GenToken target only copyable from words the encoder cut off (intents over 512 pieces) would
    have probability 0 (a loss of 1e9): learn it as <unk> instead, like any other unknown token."""
    copyable = (_fit_words(batch.copy_target, word_mask.size(1)) & word_mask.unsqueeze(1)).any(-1)
    token_step = (batch.rule_target < 0) & ~batch.reduce_target & batch.step_mask
    impossible = token_step & (batch.token_target < 0) & ~copyable
    if not impossible.any():
        return batch
    return dataclasses.replace(batch, token_target=batch.token_target.masked_fill(impossible, unk_id))


def _fit_words(copy_target: torch.Tensor, num_words: int) -> torch.Tensor:
    """Pad or cut the word axis of the copy targets to the encoder's word count."""
    have = copy_target.size(-1)
    if have == num_words:
        return copy_target
    if have > num_words:
        return copy_target[..., :num_words]
    pad = copy_target.new_zeros(*copy_target.shape[:-1], num_words - have)
    return torch.cat([copy_target, pad], dim=-1)
