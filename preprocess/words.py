"""Intent word units that keep case and character offsets, and their alignment
to the word pieces of a Hugging Face fast tokenizer.

The encoder (e.g. all-MiniLM-L6-v2, uncased) sees word pieces (``my_list`` ->
``my _ list``, ``MaxVal`` -> ``max ##val``); the copy mechanism must copy the
*original* units (``MaxVal``, ``my_list``, ``data.txt``, ``str_0``).  So the
intent is split into :class:`Word` units here, the pieces are mapped back to the
words, and the encoder pools the pieces of each word into one vector.

Word rules (``split_words``)
----------------------------
The text is first cut at whitespace (``str.isspace``); inside each chunk, units
are taken left to right, longest first:

1. *word-like unit*: an optional prefix of ``-``, ``/``, ``~``, ``.`` or ``\\``
   characters, then a run of word characters (letters, digits, ``_``, combining
   marks), then any number of ``<connectors><word characters>`` where a
   connector run is made of ``.``, ``/``, ``\\``, ``-``, ``:`` and ``'``, then
   an optional trailing ``/``.  So ``my_list``, ``MaxVal``, ``str_0``,
   ``os.path.join``, ``data.txt``, ``1.5``, ``-1``, ``--verbose``, ``.txt``,
   ``/the/dir/``, ``C:\\dir\\f.py``, ``http://x.com/a``, ``utf-8``,
   ``YYYY-MM-DD``, ``10:30``, ``don't``, ``user's``, ``__init__`` are single
   units.  A connector must be followed by a word character to be inside the
   unit, hence trailing ``.``, ``:``, ``'`` are split off (``list.`` ->
   ``list``, ``.``; ``e.g.`` -> ``e.g``, ``.``).
2. *anything else* (not whitespace): one unit per character.  Brackets, commas,
   quotes, ``?``, ``=``, ``%``, ``*``, ``+``, ``(``, ``)``... are their own
   units (``os.path.join()`` -> ``os.path.join``, ``(``, ``)``; ``x[0]`` ->
   ``x``, ``[``, ``0``, ``]``; ``a=b`` -> ``a``, ``=``, ``b``).

Nothing but whitespace is dropped: the units cover every non-space character,
and ``text[w.start:w.end] == w.text`` always holds.

Alignment (``align_word_pieces``)
---------------------------------
The full text is tokenised once (``return_offsets_mapping=True``, no special
tokens); each piece belongs to the word containing its first character (-1 if
none, which cannot happen for pieces of non-space text).  A word that receives
no piece (the tokenizer deletes some characters, e.g. control / zero-width
chars) gets one ``[UNK]`` piece at its position, so every word has at least one
piece.  The sequence is ``[CLS] pieces [SEP]`` with ``word_index`` -1 for the
specials.

Truncation: at most ``max_length`` ids are returned (default: the tokenizer's
``model_max_length``, capped at 512).  The pieces after the first
``max_length - 2`` are cut, ``[SEP]`` is kept.  Truncation is never silent:
the result carries ``dropped_words`` (words with no piece left) and
``partial_words`` (words with some pieces cut), and, by default
(``on_truncation="warn"``) a :class:`WordTruncationWarning` is issued;
``"error"`` raises ``ValueError``; ``"ignore"`` only fills the attributes.
"""

from __future__ import annotations

import bisect
import re
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

__all__ = ["model_words", 
    "Word",
    "WordAlignment",
    "WordTruncationWarning",
    "align_word_pieces",
    "split_words",
]


@dataclass(frozen=True, slots=True)
class Word:
    """A unit the pointer copies: ``text == source[start:end]``."""

    text: str
    start: int
    end: int


# word characters: \w plus combining marks (so accented letters in NFD stay whole)
_WC = r"[\w\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
_UNIT_RE = re.compile(
    rf"[-/~.\\]*{_WC}+(?:[./\\\-:']+{_WC}+)*/?"  # word-like unit
    r"|\S",  # any other non-space character, alone
)


def split_words(text: str) -> list[Word]:
    """Split ``text`` into :class:`Word` units (rules in the module docstring)."""
    if not isinstance(text, str):
        raise TypeError("text must be a str")
    words: list[Word] = []
    for m in _UNIT_RE.finditer(text):
        s = m.group(0)
        if s.isspace():  # pragma: no cover - \S never matches space
            continue
        words.append(Word(s, m.start(), m.end()))
    return words


_DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def model_words(words: list[str], dotted: bool) -> list[str]:
    """The word units the model reads and copies: the intent's units, dotted names split when asked."""
    return split_dotted(words) if dotted else words


def split_dotted(words: list[str]) -> list[str]:
    """Split dotted names into their parts and dots (`self.foo` -> `self`, `.`, `foo`), so that the
    pointer can copy `foo` for `Attribute(self, foo)`; numbers such as `1.5` stay whole."""
    out: list[str] = []
    for word in words:
        if _DOTTED_NAME.fullmatch(word):
            for i, part in enumerate(word.split(".")):
                out += [".", part] if i else [part]
        else:
            out.append(word)
    return out


class WordTruncationWarning(UserWarning):
    """Some intent words lost word pieces to the encoder's length limit."""


class WordAlignment(tuple):
    """``(input_ids, word_index)`` -- unpacks as a pair -- with the truncation
    report as attributes: ``dropped_words`` (indices of words with no piece
    left), ``partial_words`` (words with some pieces cut) and ``truncated``."""

    input_ids: list[int]
    word_index: list[int]
    dropped_words: tuple[int, ...]
    partial_words: tuple[int, ...]

    def __new__(
        cls,
        input_ids: list[int],
        word_index: list[int],
        dropped_words: Sequence[int] = (),
        partial_words: Sequence[int] = (),
    ) -> WordAlignment:
        if len(input_ids) != len(word_index):
            raise ValueError("input_ids and word_index must have the same length")
        self = super().__new__(cls, (input_ids, word_index))
        self.input_ids = input_ids
        self.word_index = word_index
        self.dropped_words = tuple(dropped_words)
        self.partial_words = tuple(partial_words)
        return self

    def __getnewargs__(self) -> tuple[Any, ...]:  # copy / pickle support
        return (self.input_ids, self.word_index, self.dropped_words, self.partial_words)

    @property
    def truncated(self) -> bool:
        return bool(self.dropped_words or self.partial_words)


def _special_ids(tokenizer: Any) -> tuple[int, int, int]:
    cls_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    sep_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    unk_id = tokenizer.unk_token_id
    if cls_id is None or sep_id is None or unk_id is None:
        raise ValueError("tokenizer needs CLS/BOS, SEP/EOS and UNK tokens")
    return int(cls_id), int(sep_id), int(unk_id)


def align_word_pieces(
    words: Sequence[Word],
    tokenizer: Any,
    text: str,
    *,
    max_length: int | None = None,
    on_truncation: str = "warn",
) -> WordAlignment:
    """Word pieces of ``text`` and, for each piece, the index of its word.

    ``words`` must be units of ``text`` in order (as from ``split_words(text)``);
    ``tokenizer`` a Hugging Face *fast* tokenizer.  Returns a
    :class:`WordAlignment` that unpacks as ``(input_ids, word_index)``, both of
    the same length, ``[CLS] ... [SEP]`` included (``word_index`` -1 there).
    Every word of the kept prefix has at least one piece.  See the module
    docstring for truncation.
    """
    if on_truncation not in ("warn", "error", "ignore"):
        raise ValueError("on_truncation must be 'warn', 'error' or 'ignore'")
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError("align_word_pieces needs a fast tokenizer (offset mapping)")
    prev_end = 0
    for i, w in enumerate(words):
        if text[w.start : w.end] != w.text or w.start < prev_end or w.end <= w.start:
            raise ValueError(f"word {i} {w!r} is not an ordered unit of the text")
        prev_end = w.end
    if max_length is None:
        mml = getattr(tokenizer, "model_max_length", 512) or 512
        max_length = min(int(mml), 512)
    if max_length < 3:
        raise ValueError("max_length must be at least 3 ([CLS] piece [SEP])")
    cls_id, sep_id, unk_id = _special_ids(tokenizer)

    enc = tokenizer(
        text,
        add_special_tokens=False,
        return_offsets_mapping=True,
        truncation=False,
        verbose=False,
    )
    piece_ids: list[int] = list(enc["input_ids"])
    offsets: list[tuple[int, int]] = [tuple(o) for o in enc["offset_mapping"]]

    # word of each piece: the word containing the piece's first character
    starts = [w.start for w in words]
    ids: list[int] = []
    idx: list[int] = []
    has_piece = [False] * len(words)
    next_word = 0  # first word not yet known to have been emitted/filled

    def fill_until(j: int) -> None:
        # give an [UNK] to words before j that got no piece
        nonlocal next_word
        while next_word < j:
            if not has_piece[next_word]:
                ids.append(unk_id)
                idx.append(next_word)
                has_piece[next_word] = True
            next_word += 1

    for pid, (s, e) in zip(piece_ids, offsets):
        if e <= s:
            continue  # zero-width piece (should not happen without specials)
        j = bisect.bisect_right(starts, s) - 1
        if j >= 0 and s < words[j].end:
            fill_until(j)
            ids.append(pid)
            idx.append(j)
            has_piece[j] = True
        else:
            ids.append(pid)
            idx.append(-1)
    fill_until(len(words))

    # truncation
    budget = max_length - 2
    dropped: tuple[int, ...] = ()
    partial: tuple[int, ...] = ()
    if len(ids) > budget:
        kept_words = {j for j in idx[:budget] if j >= 0}
        cut_words = {j for j in idx[budget:] if j >= 0}
        dropped = tuple(sorted(cut_words - kept_words))
        partial = tuple(sorted(cut_words & kept_words))
        ids, idx = ids[:budget], idx[:budget]
        msg = (
            f"intent truncated to {max_length} pieces: {len(dropped)} of {len(words)} words dropped"
            f" (first: {words[dropped[0]].text!r})" if dropped else
            f"intent truncated to {max_length} pieces: {len(partial)} word(s) partially cut"
        )
        if on_truncation == "error":
            raise ValueError(msg)
        if on_truncation == "warn":
            warnings.warn(msg, WordTruncationWarning, stacklevel=2)
    return WordAlignment([cls_id, *ids, sep_id], [-1, *idx, -1], dropped, partial)
