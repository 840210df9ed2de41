"""The NL-RX / KB13 regex dialect as a small AST of our own: parsing (through `grammars/regex.lark`), slots, macros,
and the character-set atoms the derivatives of tranx.evaluation.regex_equivalence work on.

Why apart: equivalence (derivatives, bisimulation) and syntax (dk.brics's reading of the dialect) change for
different reasons; dk.brics's semantics, which both follow, are in tranx.evaluation.regex_equivalence's docstring.

Choices (places where we had to decide)
---------------------------------------
* **Slots.** A slot ``<Mk>`` listed in ``slots`` is substituted *textually*, as deep-regex's ``unprocess_regex`` did,
  with its characters escaped (so a value's ``.`` stays a literal): ``<M0>*`` is ``dog*`` (the star binds to the
  ``g``), ``~<M0>`` is ``(~d)og``, and ``\\<M0>`` (12 KB13 targets) is ``\\dog`` = ``dog``. Only 1 NL-RX/KB13 split
  target puts a quantifier right after a slot. A slot *not* in ``slots`` is a fresh letter of the alphabet of its
  own (the same letter for the same name in both regexes, distinct from every character and other slot); ``.``,
  ``[^...]``, ``@`` and ``~`` range over those letters too, so ``.*`` = ``@`` = ``~#`` still holds; ``\\<Mk>`` is the
  slot. Inside ``[...]`` or ``"..."`` an unmapped slot is read as its characters, as dk.brics would.
  deep-regex maps ``<M0>..<M3>`` to ``dog truck ring lake`` for KB13 too: pass :data:`NLRX_SLOTS` to reproduce it.
* **Spaces.** In the dialect a space is a literal character (KB13 has 17 such targets). deep-regex deleted every space
  of the space-tokenised split strings before comparing (so ``.*<M1> <M0>.*`` was ``.*truckdog.*``);
  :func:`deep_regex_unprocess` reproduces that unprocessing byte for byte for callers that hold split-file strings.
* **Parse failures.** A string the Lark grammar rejects is equivalent to nothing (deep-regex's Java side returned 0
  for what dk.brics rejects). Two differences from dk.brics remain, and neither occurs in the data nor in
  grammar-constrained predictions: (1) dk.brics reads a reserved character where an operand is expected as a literal
  (``a||b`` = ``a|(\\|b)``, ``)a``, ``*a``, ``a]``, ``{a``), which Lark rejects; (2) ``<identifier>`` / ``<n-m>`` (other
  than slots) raise :class:`RegexSyntaxError` here: a named automaton made the Java side throw (so 0, as here), a
  numeric interval would have been valid there. A class ending in an unpaired ``\\`` (``[a\\]``) is an error here;
  dk.brics would read ``\\]`` as a member. deep-regex's identical-string shortcut makes an identical pair 1 even when
  dk.brics would reject it; every NL-RX/KB13 target parses, so a prediction identical to the gold is equivalent here
  too.
* The empty string as a whole regex is dk.brics's ``RegExp("")``: the language {""}.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

from preprocess.datasets import REGEX_MACROS
from preprocess.tasks import NLRX_SLOTS as _NLRX_SLOT_PAIRS

#: What deep-regex's ``unprocess_regex`` puts back for the slots (the NL-RX quoted words, in order of first use).
NLRX_SLOTS: dict[str, str] = dict(_NLRX_SLOT_PAIRS)
#: The macros of the processed split files (they appear inside ``[ ]``).
MACROS: dict[str, str] = dict(REGEX_MACROS)

CHAR_MAX = 0x10FFFF  # characters are code points 0..CHAR_MAX
SLOT_BASE = 0x110000  # unmapped slot <Mk> is the letter SLOT_BASE + k
UNIVERSE_MAX = 0x1FFFFF  # `.` is every letter 0..UNIVERSE_MAX

_SLOT_RE = re.compile(r"<M([0-9]+)>")


class RegexSyntaxError(ValueError):
    """A string that is not a regex of the dialect; the message names the regex and the (0-based) position."""

    def __init__(self, regex: str, position: int, reason: str):
        self.regex, self.position, self.reason = regex, position, reason
        super().__init__(f"invalid regex {regex!r} at position {position}: {reason}")


class RegexStateLimitError(RuntimeError):
    """The derivative automaton grew past the state limit (or a counted repetition is too large to expand)."""


# --------------------------------------------------------------------------------------------------------- the AST

@dataclass(frozen=True)
class Empty:
    """The empty language (dk.brics ``#``)."""


@dataclass(frozen=True)
class Epsilon:
    """The language of the empty string (``()``)."""


@dataclass(frozen=True)
class Chars:
    """One letter out of a set: sorted, disjoint, non-adjacent inclusive ranges of letters (code points, or
    ``SLOT_BASE + k`` for an unmapped slot)."""
    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Concat:
    parts: tuple


@dataclass(frozen=True)
class Union:
    parts: tuple


@dataclass(frozen=True)
class Intersect:
    parts: tuple


@dataclass(frozen=True)
class Complement:
    inner: object


@dataclass(frozen=True)
class Repeat:
    """``inner{lo,hi}``; ``hi`` None is unbounded (``*`` = 0,None; ``+`` = 1,None; ``?`` = 0,1)."""
    inner: object
    lo: int
    hi: int | None


Regex = Empty | Epsilon | Chars | Concat | Union | Intersect | Complement | Repeat

ANY = Chars(((0, UNIVERSE_MAX),))


def _normalize_ranges(ranges) -> tuple[tuple[int, int], ...]:
    out: list[list[int]] = []
    for lo, hi in sorted(r for r in ranges if r[0] <= r[1]):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((lo, hi) for lo, hi in out)


def _char(c: str) -> Chars:
    return Chars(((ord(c), ord(c)),))


def slot_symbol(name: str) -> Chars:
    """The fresh letter an unmapped slot ``<Mk>`` stands for."""
    m = _SLOT_RE.fullmatch(name)
    if not m:
        raise ValueError(f"not a slot name: {name!r}")
    k = SLOT_BASE + int(m.group(1))
    if k > UNIVERSE_MAX:
        raise ValueError(f"slot index too large: {name!r}")
    return Chars(((k, k),))


# ------------------------------------------------------------------------------------------------------ the parser

def expand_macros(text: str) -> str:
    """``<VOW>`` -> ``AEIOUaeiou`` etc. (the macros of the processed split files; slots stay)."""
    for name, value in MACROS.items():
        text = text.replace(name, value)
    return text


def deep_regex_unprocess(split_line: str) -> str:
    """deep-regex's ``unprocess_regex`` (``deep-regex-model/regexDFAEquals.py``), as it ran: a space-tokenised
    split-file regex -> the string given to the Java checker (macros expanded, ``<M0>..<M3>`` -> dog, truck, ring,
    lake, then *every* space deleted, literal spaces included)."""
    for name, value in list(MACROS.items()) + list(NLRX_SLOTS.items()):
        split_line = split_line.replace(name, " ".join(value))
    return split_line.replace(" ", "")


_LARK = None


def _lark():
    global _LARK
    if _LARK is None:
        import lark
        from importlib import resources
        from pathlib import Path
        try:
            text = (resources.files("tranx.grammars") / "regex.lark").read_text(encoding="utf-8")
        except (ModuleNotFoundError, FileNotFoundError):
            text = (Path(__file__).resolve().parents[2] / "grammars" / "regex.lark").read_text(encoding="utf-8")
        _LARK = lark.Lark(text, parser="lalr")
    return _LARK


def _escaped_value(value: str) -> str:
    return "".join("\\" + c for c in value)


def _prepass(text: str, slots: Mapping[str, str]) -> tuple[str, list[int]]:
    """Rewrite the dk.brics constructs the Lark grammar has no rule for into ones it has: mapped slots -> their
    escaped characters; ``\\<Mk>`` -> ``<Mk>``; ``"..."`` -> ``(\\.\\.\\.)``; a ``<`` that is no slot -> error.
    Returns the new text and, for each of its characters (and its end), the position in ``text``."""
    out: list[str] = []
    pos: list[int] = []

    def emit(s: str, at: int) -> None:
        out.append(s)
        pos.extend([at] * len(s))

    def substitute(segment: str) -> str:  # mapped slots inside [...]: their escaped characters
        return _SLOT_RE.sub(lambda m: _escaped_value(slots[m.group(0)]) if m.group(0) in slots else m.group(0),
                            segment)

    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            m = _SLOT_RE.match(text, i + 1)
            if m:
                name = m.group(0)
                emit(_escaped_value(slots[name]) if name in slots else name, i)
                i = m.end()
            else:
                emit(text[i:i + 2], i)
                i += 2
        elif c == "[":
            j = text.find("]", i + 1)
            if j < 0:
                emit(text[i:], i)
                break
            emit("[" + substitute(text[i + 1:j]) + "]", i)
            i = j + 1
        elif c == '"':
            j = text.find('"', i + 1)
            if j < 0:
                raise RegexSyntaxError(text, n, "expected '\"' (a dk.brics quoted string)")
            content = text[i + 1:j]
            content = _SLOT_RE.sub(lambda m: slots.get(m.group(0), m.group(0)), content)
            emit("(" + _escaped_value(content) + ")", i)
            i = j + 1
        elif c == "<":
            m = _SLOT_RE.match(text, i)
            if not m:
                raise RegexSyntaxError(text, i, "'<' starts a dk.brics named automaton or numeric interval "
                                                "(unsupported; slots are <M0>, <M1>, ...)")
            name = m.group(0)
            emit(_escaped_value(slots[name]) if name in slots else name, i)
            i = m.end()
        else:
            emit(c, i)
            i += 1
    pos.append(n)
    return "".join(out), pos


def _parse_class(content: str, where: int, text: str) -> Chars:
    """The inside of ``[...]`` read the dk.brics way."""
    i, n = 0, len(content)
    negate = content.startswith("^")
    if negate:
        i = 1
    if i >= n:
        raise RegexSyntaxError(text, where, "empty character class")

    def charexp(i: int) -> tuple[int, int]:
        if content[i] == "\\":
            i += 1
            if i >= n:
                raise RegexSyntaxError(text, where, "character class ends in an unpaired '\\'")
        return ord(content[i]), i + 1

    ranges = []
    while i < n:
        c, i = charexp(i)
        if i < n and content[i] == "-":
            if i + 1 == n:  # '-' right before ']' is a literal
                ranges += [(c, c), (ord("-"), ord("-"))]
                i += 1
            else:
                d, i = charexp(i + 1)
                ranges.append((c, d))  # from > to: empty (dk.brics makeCharRange)
        else:
            ranges.append((c, c))
    chars = _normalize_ranges(ranges)
    if negate:
        holes, lo = [], 0
        for a, b in chars:
            if a > lo:
                holes.append((lo, a - 1))
            lo = b + 1
        if lo <= UNIVERSE_MAX:
            holes.append((lo, UNIVERSE_MAX))
        chars = tuple(holes)
    return Chars(chars)


def _parse_quant(q: str) -> tuple[int, int | None]:
    if q == "*":
        return 0, None
    if q == "+":
        return 1, None
    if q == "?":
        return 0, 1
    body = q[1:-1]
    if "," not in body:
        return int(body), int(body)
    lo, hi = body.split(",")
    return int(lo), (int(hi) if hi else None)


def _convert(tree, text: str, posmap: list[int]):
    import lark

    def at(node) -> int:
        meta_pos = None
        for tok in node.scan_values(lambda v: isinstance(v, lark.Token)):
            meta_pos = tok.start_pos
            break
        return posmap[meta_pos] if meta_pos is not None and meta_pos < len(posmap) else 0

    def conv(t):
        kind = t.data
        if kind == "union":
            return Union(tuple(conv(c) for c in t.children))
        if kind == "intersect":
            return Intersect(tuple(conv(c) for c in t.children))
        if kind == "concat":
            return Concat(tuple(conv(c) for c in t.children))
        if kind == "complement":
            inner, quants = peel(t.children[0])
            node = Complement(inner)
            for q in quants:  # dk.brics: ~ binds tighter than the postfix operators
                node = Repeat(node, *_parse_quant(q))
            return node
        if kind == "quantified":
            return Repeat(conv(t.children[0]), *_parse_quant(str(t.children[1])))
        if kind == "group":
            return conv(t.children[0])
        if kind == "empty":
            return Epsilon()
        if kind == "any":
            return ANY
        if kind == "char_class":
            tok = t.children[0]
            return _parse_class(str(tok)[1:-1], posmap[tok.start_pos], text)
        if kind == "slot":
            return slot_symbol(str(t.children[0]))
        if kind == "escaped":
            return _char(str(t.children[0])[1])
        if kind == "char":
            c = str(t.children[0])
            if c == "#":
                return Empty()
            if c == "@":
                return Complement(Empty())
            return _char(c)
        raise RegexSyntaxError(text, at(t), f"unexpected node {kind!r}")

    def peel(t):
        """(the operand of a `~`, the postfix operators the Lark tree put inside it), innermost first."""
        if t.data == "quantified":
            inner, quants = peel(t.children[0])
            return inner, quants + [str(t.children[1])]
        if t.data == "complement":
            inner, quants = peel(t.children[0])
            return Complement(inner), quants
        return conv(t), []

    return conv(tree)


@lru_cache(maxsize=65536)
def _parse_cached(text: str, slot_items: tuple[tuple[str, str], ...]):
    import lark
    if text == "":
        return Epsilon()
    slots = dict(slot_items)
    rewritten, posmap = _prepass(text, slots)
    try:
        tree = _lark().parse(rewritten)
    except lark.exceptions.UnexpectedInput as exc:
        p = getattr(exc, "pos_in_stream", None)
        token = getattr(exc, "token", None)
        if p is None or p < 0 or getattr(token, "type", None) == "$END":
            p = len(rewritten)
        reason = "unexpected end of regex" if isinstance(exc, lark.exceptions.UnexpectedEOF) or p >= len(rewritten) \
            else f"unexpected {rewritten[p]!r}"
        raise RegexSyntaxError(text, posmap[min(p, len(posmap) - 1)], reason) from None
    except lark.exceptions.LarkError as exc:
        raise RegexSyntaxError(text, 0, str(exc).splitlines()[0]) from None
    return _convert(tree, text, posmap)


def parse_regex(text: str, slots: Mapping[str, str] | None = None) -> Regex:
    """The AST of a dialect regex. Slots in ``slots`` become their literal strings (textually, see the module
    notes); any other ``<Mk>`` is a fresh letter (:func:`slot_symbol`). Raises :class:`RegexSyntaxError`."""
    if not isinstance(text, str):
        raise TypeError(f"regex must be a str, not {type(text).__name__}")
    items = tuple(sorted((slots or {}).items()))
    for name, _ in items:
        if not _SLOT_RE.fullmatch(name):
            raise ValueError(f"slot names look like <M0>: {name!r}")
    return _parse_cached(text, items)


