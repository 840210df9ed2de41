"""Quoted spans of an intent, and the decoding of their values.

An intent (a rewritten CoNaLa intent, a Django annotation) quotes literals and names:
```x```, ``'abc'``, ``"abc"``, ``''abc''``, ``u'abc'``.  This module finds those spans
(``find_quoted_spans``) and decodes Python escapes in a quoted value
(``decode_escapes``).  ``preprocess.substitution`` turns the spans into slots.

Left out on purpose: slot kinds and names, anything about code.

Quote detection (``find_quoted_spans``), scanning left to right; a found span is
never rescanned (so ```('1', '2')``` is one backtick span):

* a backtick opens a span closed by the next backtick (no apostrophe problem:
  backticks are not used in English).  An unmatched backtick is plain text.
* ``'`` and ``"`` open a span only at a word boundary: at the start of the text
  or after a character that is not a letter, digit or ``_``.  ``don't``,
  ``user's``, ``0's`` therefore never open a quote.  A Python string prefix
  (``u``, ``b``, ``r``, ``f``, ``rb``, ...) standing alone right before the
  quote (``u'm\\xfas'``) is swallowed into the span.
* the closing quote is the first same quote followed by the end of the text or
  by a non-word character; so the apostrophe in ``'user's name'`` (followed by
  ``s``) does not close it.  An opener without a closer is plain text.
* ``''x''`` (doubled single quotes, used in some intents as a quote) is a span
  when the ``''`` is directly followed by a non-space character and a closing
  ``''`` exists; otherwise ``''`` is the empty string literal.

Values: identifier values are stripped (```date_stngs ``` -> ``date_stngs``);
other values are kept verbatim except that Python backslash escapes are decoded
when the value contains a backslash (``'a\\n b'`` in the intent means a
newline, as in the code ``'a\\n b'``); unknown escapes such as ``\\d`` stay as
they are (like Python does), so regex values keep matching.  No decoding
after a raw prefix (``r'...'``) or after the words "raw string" (Django
annotations say ``raw string '\\d+'``).  Measured on quoted non-identifier
values containing a backslash: the decoded value is a constant of the code in
74 CoNaLa train cases vs 1 for the raw text (Django, before the "raw
string" rule: 99 vs 29).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["QuotedSpan", "decode_escapes", "find_quoted_spans", "is_word_char", "STRING_PREFIXES"]

#: Python string prefixes that may stand right before a quote (``u'..'``, ``rb'..'``).
STRING_PREFIXES = frozenset({"u", "b", "r", "f", "br", "rb", "fr", "rf"})


@dataclass(frozen=True)
class QuotedSpan:
    """A quoted span of an intent: ``text[start:end]`` includes quotes and prefix."""

    start: int
    end: int
    quote: str  # opening quote text, prefix included
    content: str  # raw text between the quotes


def is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _closer(text: str, pos: int, quote: str) -> int:
    """Index of the first ``quote`` at or after ``pos`` followed by end/non-word, or -1."""
    n = len(text)
    j = text.find(quote, pos)
    while j != -1:
        after = j + len(quote)
        if after >= n or not is_word_char(text[after]):
            return j
        j = text.find(quote, j + 1)
    return -1


def find_quoted_spans(text: str) -> list[QuotedSpan]:
    """Quoted spans of ``text`` (rules in the module docstring), left to right."""
    spans: list[QuotedSpan] = []
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        if ch == "`":
            j = text.find("`", i + 1)
            if j == -1:
                i += 1
                continue
            spans.append(QuotedSpan(i, j + 1, "`", text[i + 1 : j]))
            i = j + 1
            continue
        if ch in "'\"":
            # optional string prefix standing alone before the quote: u'..', b'..', rb'..'
            start = i
            k = i
            while k > 0 and text[k - 1].isalpha() and i - (k - 1) <= 2:
                k -= 1
            prefix = text[k:i]
            if prefix and prefix.lower() in STRING_PREFIXES and (k == 0 or not is_word_char(text[k - 1])):
                start = k
            elif i > 0 and is_word_char(text[i - 1]):
                i += 1  # apostrophe inside a word: don't, user's
                continue
            else:
                prefix = ""
            if ch == "'" and text.startswith("''", i) and i + 2 < n and not text[i + 2].isspace() and text[i + 2] != "'":
                j = _closer(text, i + 2, "''")
                if j != -1:
                    spans.append(QuotedSpan(start, j + 2, prefix + "''", text[i + 2 : j]))
                    i = j + 2
                    continue
            j = _closer(text, i + 1, ch)
            if j == -1:
                i += 1
                continue
            spans.append(QuotedSpan(start, j + 1, prefix + ch, text[i + 1 : j]))
            i = j + 1
            continue
        i += 1
    return spans


_SIMPLE_ESCAPES = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\n": "",
}
_ESCAPE_RE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3}|.)", re.DOTALL)


def decode_escapes(s: str) -> str:
    """Decode Python string escapes like a non-raw literal; unknown escapes stay."""
    if "\\" not in s:
        return s

    def rep(m: re.Match[str]) -> str:
        e = m.group(1)
        if e in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[e]
        if e[0] in "xuU" and len(e) > 1:
            cp = int(e[1:], 16)
            return chr(cp) if cp <= 0x10FFFF else m.group(0)
        if e[0] in "01234567":
            return chr(int(e, 8))
        return m.group(0)

    return _ESCAPE_RE.sub(rep, s)
