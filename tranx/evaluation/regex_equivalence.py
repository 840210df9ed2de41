"""DFA equivalence of regexes in the NL-RX / KB13 dialect: the official metric of those benchmarks.

The original evaluation (deep-regex, Locascio et al. 2016, commit 096490d) scores a prediction by
``deep-regex-model/beam.lua``, which shells out to ``deep-regex-model/regexDFAEquals.py --gold G --predicted P`` for
every sentence. That script

1. answers 1 at once when the two processed strings are identical;
2. otherwise "unprocesses" both (``unprocess_regex``): the macros ``<VOW> <NUM> <LET> <CAP> <LOW>`` become
   ``AEIOUaeiou 0-9 A-Za-z A-Z a-z``; the slots ``<M0> <M1> <M2> <M3>`` become ``dog truck ring lake`` (for every data
   set, KB13 included: the script is shared); then **every space is deleted**;
3. runs ``java -jar regex_dfa_equals.jar GOLD PRED`` and answers 1 when the output contains ``"\\n1"``; any
   exception (a regex the Java side rejects) answers 0. Under Python 3 ``str(bytes)`` never contains a newline, so
   the script is always 0 there and the metric silently degrades to string match (REFERENCE section 9).

The jar is only a binary in that repository (its source is not published there); it compares the automata of the
dk.brics.automaton library. We take it to do what the kindred evaluator of Robin Jia (``nn-semparse``,
``src/java/Regex.java``) does: ``new RegExp(s).toAutomaton()`` on both strings, i.e. the constructor with the syntax
flags ``ALL``, and ``Automaton.equals`` (language equality). With ``ALL``, dk.brics ``RegExp`` reads:

* ``|`` union, ``&`` intersection, concatenation, ``~`` complement, ``? * + {n} {n,} {n,m}``;
  ``{n,m}`` with n > m is the empty language, ``x{0}`` is the empty string;
* **``~`` binds tighter than the postfix operators**: ``repeatexp ::= complexp (postfix)*`` and ``complexp ::= ~
  complexp | charclassexp``, so ``~a*`` is ``(~a)*``. (The Lark grammar nests them the other way round; we re-associate,
  see below. No target of the data sets puts a postfix operator right after a complemented atom, all are ``~(...)``.);
* ``[...]`` a class of characters and ranges ``a-z`` (a range with from > to is empty, a ``-`` just before ``]`` is a
  literal), ``[^...]`` is ``. & ~[...]`` (any one character not listed; KB13 uses it), ``\\x`` is the character x
  also inside a class; ``[]`` and ``[^]`` are errors;
* ``.`` any one character (Java ``char``: U+0000..U+FFFF), ``()`` the empty string, ``#`` the empty language, ``@``
  any string, ``"..."`` a literal string, ``<identifier>`` a named automaton and ``<n-m>`` a numeric interval;
* ``\\x`` is always the literal character x: ``\\b`` is the letter b, not a word boundary. Hence the generator's
  ``\\b...\\b`` "words" make ~15% of the NL-RX test regexes denote the empty language, e.g.
  ``\\b([A-Z])&([AEIOUaeiou])\\b`` (``b`` followed by a capital, intersected with a vowel followed by ``b``).
* matching is of whole strings.

API
---
:func:`equivalent` (the metric for one pair), :func:`dfa_accuracy` (percent over a corpus), :func:`is_empty_language`,
:func:`counterexample` (a shortest string told apart), :func:`matches` (whole-string membership), :func:`parse_regex`
(-> our AST), :data:`NLRX_SLOTS`, :func:`expand_macros`, :func:`deep_regex_unprocess`; errors
:class:`RegexSyntaxError` (a ``ValueError``) and :class:`RegexStateLimitError`. On the 2,500 NL-RX-Turk test golds
against 2,500 other regexes, :func:`dfa_accuracy` takes about 1.5 s cold (parsing included) on one core.

What this module does
---------------------
Parsing goes through the project's Lark grammar ``grammars/regex.lark`` (plain ``lark.Lark(text, parser="lalr")``)
after a small textual pre-pass, and the Lark tree becomes a small AST of our own (:class:`Chars`, :class:`Concat`,
...). Equivalence is decided with Brzozowski derivatives (Owens, Reppy & Turon 2009): terms are hash-consed and kept
in a normal form (``|`` and ``&`` flattened, deduplicated and sorted, ``~~r = r``, ``(r*)* = r*``, unit and zero
laws), the alphabet is cut into the atoms of the character sets that occur in the two regexes (plus the "any other
character" atom), each state only splits the atoms along its own derivative classes, and the pairs of derivatives of
the two regexes are explored until a pair disagrees on accepting the empty string (not equivalent) or no new pair
appears (equivalent). ``&`` and ``~`` are handled exactly. A state limit raises :class:`RegexStateLimitError`.

How the dialect is read (slots, spaces, parse failures): tranx.evaluation.regex_syntax.
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache
from typing import Mapping, Sequence

from tranx.evaluation.regex_syntax import (  # noqa: F401 (the syntax half is re-exported: one import for users)
    ANY, CHAR_MAX, MACROS, NLRX_SLOTS, SLOT_BASE, UNIVERSE_MAX, Chars, Complement, Concat, Empty, Epsilon,
    Intersect, Regex, RegexStateLimitError, RegexSyntaxError, Repeat, Union, deep_regex_unprocess, expand_macros,
    parse_regex, slot_symbol)
from tranx.evaluation.regex_derivatives import compile_regexes

__all__ = [
    "NLRX_SLOTS", "MACROS", "RegexSyntaxError", "RegexStateLimitError", "DEFAULT_STATE_LIMIT",
    "Empty", "Epsilon", "Chars", "Concat", "Union", "Intersect", "Complement", "Repeat", "Regex",
    "parse_regex", "expand_macros", "deep_regex_unprocess", "slot_symbol",
    "equivalent", "is_empty_language", "matches", "counterexample", "dfa_accuracy",
]

#: Pairs of derivative states explored (or states, for emptiness) before :class:`RegexStateLimitError`.
DEFAULT_STATE_LIMIT = 200_000

# --------------------------------------------------------------------------------------------------------- the API

def _ast(regex, slots):
    return regex if not isinstance(regex, str) else parse_regex(regex, slots)


def equivalent(a: str | Regex, b: str | Regex, slots: Mapping[str, str] | None = None, *,
               state_limit: int = DEFAULT_STATE_LIMIT) -> bool:
    """Whether ``a`` and ``b`` denote the same language (dk.brics ``Automaton.equals``). A string that does not
    parse is equivalent to nothing (False, never raised). Raises :class:`RegexStateLimitError` past the limit."""
    try:
        x, y = _ast(a, slots), _ast(b, slots)
    except RegexSyntaxError:
        return False
    if x == y:
        return True
    machine, (r, s), _, _ = compile_regexes((x, y), state_limit)
    if r is s:
        return True
    try:
        return machine.equivalent(r, s)
    except RecursionError:
        raise RegexStateLimitError("derivatives nested too deeply") from None


def is_empty_language(a: str | Regex, slots: Mapping[str, str] | None = None, *,
                      state_limit: int = DEFAULT_STATE_LIMIT) -> bool:
    """Whether ``a`` matches no string at all. Raises :class:`RegexSyntaxError` when it does not parse."""
    x = _ast(a, slots)
    machine, (r,), _, _ = compile_regexes((x,), state_limit)
    try:
        return machine.is_empty(r)
    except RecursionError:
        raise RegexStateLimitError("derivatives nested too deeply") from None


def counterexample(a: str | Regex, b: str | Regex, slots: Mapping[str, str] | None = None, *,
                   state_limit: int = DEFAULT_STATE_LIMIT) -> str | None:
    """A shortest string that one of ``a``, ``b`` matches and the other does not (None when they are equivalent);
    an unmapped slot's letter is written as its name ``<Mk>``. Raises :class:`RegexSyntaxError` on a parse error."""
    x, y = _ast(a, slots), _ast(b, slots)
    machine, (r, s), _, sample = compile_regexes((x, y), state_limit)
    parent: dict = {(r.uid, s.uid): None}
    queue = deque([(r, s)])
    try:
        while queue:
            p, q = queue.popleft()
            if p.nul != q.nul:
                letters, key = [], (p.uid, q.uid)
                while parent[key] is not None:
                    key, letter = parent[key]
                    letters.append(letter)
                return "".join(chr(c) if c <= CHAR_MAX else f"<M{c - SLOT_BASE}>" for c in reversed(letters))
            if p is q:
                continue
            for atom, dp, dq in machine.pair_steps(p, q):
                key = (dp.uid, dq.uid)
                if key not in parent:
                    parent[key] = ((p.uid, q.uid), sample(atom))
                    if len(parent) > state_limit:
                        raise RegexStateLimitError(f"more than {state_limit} pairs of derivative states")
                    queue.append((dp, dq))
    except RecursionError:
        raise RegexStateLimitError("derivatives nested too deeply") from None
    return None


@lru_cache(maxsize=1024)
def _matcher(ast):
    machine, (r,), atom_of, _ = compile_regexes((ast,), DEFAULT_STATE_LIMIT)
    return machine, r, atom_of


def matches(a: str | Regex, text: str, slots: Mapping[str, str] | None = None) -> bool:
    """Whether ``a`` matches the whole of ``text`` (derivative by derivative; the derivatives are cached per regex).
    Raises :class:`RegexSyntaxError` on a parse error."""
    machine, r, atom_of = _matcher(_ast(a, slots))
    for c in text:
        r = machine.deriv(r, atom_of(ord(c)))
        if r is machine.empty:
            return False
    return r.nul


def dfa_accuracy(predictions: Sequence[str], references: Sequence[str],
                 slots: Mapping[str, str] | None = None, *, state_limit: int = DEFAULT_STATE_LIMIT,
                 on_limit: str = "raise") -> float:
    """Percentage of predictions equivalent to their reference. ``on_limit``: what a pair past the state limit
    does: ``"raise"`` (:class:`RegexStateLimitError`) or ``"false"`` (counted as not equivalent)."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if on_limit not in ("raise", "false"):
        raise ValueError(f"on_limit must be 'raise' or 'false', not {on_limit!r}")
    if not references:
        return 0.0
    good = 0
    for p, r in zip(predictions, references):
        try:
            good += equivalent(p, r, slots, state_limit=state_limit)
        except RegexStateLimitError:
            if on_limit == "raise":
                raise
    return 100.0 * good / len(references)
