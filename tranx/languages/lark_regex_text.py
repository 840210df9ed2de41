"""The shortest text a regular expression matches in full: how tranx.languages.lark_grammar writes a filtered regular
expression terminal (`_VBAR: _NL? "|"` in lark's own grammar gives "|"), whose text the tree does not keep.

Read with Python's own regex parser (`re._parser`). Each repeat takes its minimum count, each alternation its shortest
branch, each character class its first literal or range start (else the first printable character it admits),
each anchor and lookaround no text; the result is checked with `re.fullmatch`, so a lookaround that rejects it gives
None.

Left out (None): backreferences and conditional groups.
"""

from __future__ import annotations

import re
import string

try:
    from re import _constants as C, _parser as sre_parse  # Python 3.11+
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as C
    import sre_parse

_CANDIDATES = string.ascii_letters + string.digits + string.punctuation + " \t\n"
_CATEGORIES = {C.CATEGORY_DIGIT: r"\d", C.CATEGORY_NOT_DIGIT: r"\D", C.CATEGORY_SPACE: r"\s",
               C.CATEGORY_NOT_SPACE: r"\S", C.CATEGORY_WORD: r"\w", C.CATEGORY_NOT_WORD: r"\W"}


class _Unsupported(Exception):
    pass


def shortest_text(regexp: str) -> str | None:
    """The shortest text `regexp` matches in full (see the module docstring), or None when none is found."""
    try:
        text = _sequence(sre_parse.parse(regexp))
    except (_Unsupported, re.error, RecursionError):
        return None
    return text if re.fullmatch(regexp, text) else None


def _sequence(items) -> str:
    return "".join(_item(op, arg) for op, arg in items)


def _item(op, arg) -> str:
    if op is C.LITERAL:
        return chr(arg)
    if op is C.NOT_LITERAL:
        return next(c for c in _CANDIDATES if ord(c) != arg)
    if op is C.ANY:
        return _CANDIDATES[0]
    if op is C.IN:
        return _member(arg)
    if op is C.BRANCH:
        return min((_sequence(branch) for branch in arg[1]), key=len)
    if op is C.SUBPATTERN:
        return _sequence(arg[-1])
    if op in (C.MAX_REPEAT, C.MIN_REPEAT) or op is getattr(C, "POSSESSIVE_REPEAT", None):
        low, _, inner = arg
        return _sequence(inner) * low
    if op is getattr(C, "ATOMIC_GROUP", None):
        return _sequence(arg)
    if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
        return ""  # no text of their own; shortest_text checks the whole match
    raise _Unsupported(op)


def _member(items) -> str:
    """A character of the class `items`: its first literal or range start, else the first candidate it admits."""
    negate = bool(items) and items[0][0] is C.NEGATE
    body = items[1:] if negate else items
    listed = [] if negate else [chr(arg if op is C.LITERAL else arg[0])
                                for op, arg in body if op in (C.LITERAL, C.RANGE)]
    for c in listed + list(_CANDIDATES):
        if _in_class(c, body) != negate:
            return c
    raise _Unsupported("an empty character class")


def _in_class(c: str, items) -> bool:
    for op, arg in items:
        if (op is C.LITERAL and ord(c) == arg) or (op is C.RANGE and arg[0] <= ord(c) <= arg[1]):
            return True
        if op is C.CATEGORY:
            if arg not in _CATEGORIES:
                raise _Unsupported(arg)
            if re.fullmatch(_CATEGORIES[arg], c):
                return True
    return False
