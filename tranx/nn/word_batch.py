"""What every word encoder reads and returns: an intent as words, a padded batch of them, and word states.

* ``as_words(item)``: an intent given as a text, word strings or ``Word`` units -> ``(text, words)``.
* ``WordBatch``: padded tensors of a batch of intents (pieces, attention mask, piece -> word map, word mask) plus
  the words themselves (for copy targets). Built by an encoder's ``batch(items)``.
* ``pool_pieces``: word states as the mean of their pieces' states.
* ``EncoderOutput``: ``(word_states [B, W, H], word_mask [B, W])``, with ``sentence_state`` [B, H].
* ``WordEncoder``: the protocol the decoder needs (BERT, BiLSTM, the encoding cache).

Left out: any encoder (tranx.nn.encoder, tranx.nn.lstm_encoder, tranx.nn.encoding_cache).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, Sequence, runtime_checkable

import torch

from preprocess.words import Word, split_words

from tranx.errors import TranxError

__all__ = ["EncoderOutput", "WordBatch", "WordEncoder", "as_words", "pool_pieces"]


def as_words(item: str | Sequence[str] | Sequence[Word]) -> tuple[str, list[Word]]:
    """``(text, words)`` of one intent given as a text (split with ``split_words``), a list of word strings (joined
    with single spaces) or a list of ``Word`` units (re-placed at their offsets, gaps filled with spaces)."""
    if isinstance(item, str):
        return item, split_words(item)
    item = list(item)
    if all(isinstance(w, Word) for w in item):
        chars = [" "] * (item[-1].end if item else 0)
        for w in item:
            chars[w.start:w.end] = w.text
        text = "".join(chars)
        return text, [Word(w.text, w.start, w.end) for w in item]
    if all(isinstance(w, str) for w in item):
        words, pos = [], 0
        for w in item:
            if not w or any(c.isspace() for c in w):
                raise TranxError(f"word {w!r} is empty or contains whitespace")
            words.append(Word(w, pos, pos + len(w)))
            pos += len(w) + 1
        return " ".join(item), words
    raise TypeError("an intent must be a str, a list of str or a list of preprocess.words.Word")


@dataclass
class WordBatch:
    """A padded batch of intents. ``P`` = pieces per example (specials included), ``W`` = words per example.

    ``input_ids`` [B, P] long; ``attention_mask`` [B, P] long (1 = real piece); ``piece_to_word`` [B, P] long
    (word index, -1 for specials and padding); ``word_mask`` [B, W] bool (True = a word with a state: False for
    padding and for words that truncation left without a piece). ``words`` / ``texts``: the word strings and the
    text of each example (the cache key); ``dropped_words`` / ``partial_words``: truncation report per example."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    piece_to_word: torch.Tensor
    word_mask: torch.Tensor
    words: list[list[str]]
    texts: list[str]
    dropped_words: list[tuple[int, ...]] = field(default_factory=list)
    partial_words: list[tuple[int, ...]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def num_words(self) -> int:
        """W, the padded number of words."""
        return self.word_mask.shape[1]

    def to(self, device: torch.device | str) -> "WordBatch":
        return WordBatch(self.input_ids.to(device), self.attention_mask.to(device), self.piece_to_word.to(device),
                         self.word_mask.to(device), self.words, self.texts, self.dropped_words, self.partial_words)

    @classmethod
    def from_pieces(cls, examples: Sequence[tuple[str, list[Word], list[int], list[int]]], pad_id: int,
                    dropped: Sequence[tuple[int, ...]] = (), partial: Sequence[tuple[int, ...]] = ()) -> "WordBatch":
        """Pad ``(text, words, piece_ids, piece_to_word)`` examples into a batch."""
        if not examples:
            raise TranxError("cannot batch no intents")
        dropped = list(dropped) or [()] * len(examples)
        partial = list(partial) or [()] * len(examples)
        B = len(examples)
        P = max(len(ids) for _, _, ids, _ in examples)
        W = max(len(words) for _, words, _, _ in examples)
        input_ids = torch.full((B, P), pad_id, dtype=torch.long)
        attention = torch.zeros((B, P), dtype=torch.long)
        p2w = torch.full((B, P), -1, dtype=torch.long)
        word_mask = torch.zeros((B, W), dtype=torch.bool)
        for b, (text, words, ids, idx) in enumerate(examples):
            if not words:
                raise TranxError(f"intent {text!r} has no words")
            n = len(ids)
            input_ids[b, :n] = torch.tensor(ids, dtype=torch.long)
            attention[b, :n] = 1
            p2w[b, :n] = torch.tensor(idx, dtype=torch.long)
            word_mask[b, :len(words)] = True
            for j in dropped[b]:
                word_mask[b, j] = False
        return cls(input_ids, attention, p2w, word_mask, [[w.text for w in words] for _, words, _, _ in examples],
                   [text for text, _, _, _ in examples], [tuple(d) for d in dropped], [tuple(p) for p in partial])


def pool_pieces(piece_states: torch.Tensor, piece_to_word: torch.Tensor, num_words: int) -> torch.Tensor:
    """Mean of the piece states of each word: [B, P, H] x [B, P] -> [B, W, H].

    Pieces whose word index is -1 (specials, padding) are ignored; a word with no piece gets zeros. Done as one
    batched matrix product with a [B, W, P] averaging matrix (deterministic, unlike scatter-adds on GPUs)."""
    words = torch.arange(num_words, device=piece_to_word.device)
    member = (piece_to_word.unsqueeze(1) == words.view(1, -1, 1)).to(piece_states.dtype)  # [B, W, P]
    weights = member / member.sum(-1, keepdim=True).clamp(min=1.0)
    return torch.bmm(weights, piece_states)


class EncoderOutput(NamedTuple):
    """What every encoder returns: unpacks as ``(word_states, word_mask)``."""

    word_states: torch.Tensor  # [B, W, H], zeros where word_mask is False
    word_mask: torch.Tensor  # [B, W] bool

    @property
    def sentence_state(self) -> torch.Tensor:
        """[B, H]: the mean of the real word states (the pooling all-MiniLM-L6-v2 was trained with)."""
        m = self.word_mask.to(self.word_states.dtype).unsqueeze(-1)
        return (self.word_states * m).sum(1) / m.sum(1).clamp(min=1.0)


@runtime_checkable
class WordEncoder(Protocol):
    """What the decoder needs from an encoder (``BertWordEncoder``, ``LSTMWordEncoder``, ``EncodingCache``)."""

    hidden_size: int

    def batch(self, items: Sequence[str | Sequence[str] | Sequence[Word]]) -> WordBatch: ...

    def __call__(self, batch: WordBatch) -> EncoderOutput: ...

    def lengths(self, items: Sequence[str | Sequence[str] | Sequence[Word]]) -> list[int]:
        """How many units (pieces) the encoder reads for each item: batches of similar lengths pad least."""
        ...
