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

import bisect
from collections import deque
from functools import lru_cache
from typing import Mapping, Sequence

from tranx.evaluation.regex_syntax import (  # noqa: F401 (the syntax half is re-exported: one import for users)
    ANY, CHAR_MAX, MACROS, NLRX_SLOTS, SLOT_BASE, UNIVERSE_MAX, Chars, Complement, Concat, Empty, Epsilon,
    Intersect, Regex, RegexStateLimitError, RegexSyntaxError, Repeat, Union, deep_regex_unprocess, expand_macros,
    parse_regex, slot_symbol)

__all__ = [
    "NLRX_SLOTS", "MACROS", "RegexSyntaxError", "RegexStateLimitError", "DEFAULT_STATE_LIMIT",
    "Empty", "Epsilon", "Chars", "Concat", "Union", "Intersect", "Complement", "Repeat", "Regex",
    "parse_regex", "expand_macros", "deep_regex_unprocess", "slot_symbol",
    "equivalent", "is_empty_language", "matches", "counterexample", "dfa_accuracy",
]

#: Pairs of derivative states explored (or states, for emptiness) before :class:`RegexStateLimitError`.
DEFAULT_STATE_LIMIT = 200_000
#: Most terms a counted repetition may expand to.
_MAX_EXPANSION = 200_000

# --------------------------------------------------------------------------------- hash-consed derivative terms

_CH, _EPS, _CAT, _STAR, _OR, _AND, _NOT = range(7)


class _Node:
    __slots__ = ("k", "a", "uid", "nul", "derivs", "classes")

    def __init__(self, k, a, uid, nul):
        self.k, self.a, self.uid, self.nul = k, a, uid, nul
        self.derivs: dict[int, _Node] = {}
        self.classes = None


class _Machine:
    """Terms over one alphabet partition: ``n_atoms`` atoms, a character set is a bit mask of atoms."""

    def __init__(self, n_atoms: int, limit: int):
        self.full = (1 << n_atoms) - 1
        self.limit = limit
        self.table: dict = {}
        self.empty = self._make(_OR, (), False)
        self.eps = self._make(_EPS, None, True)
        self.top = self._make(_NOT, (self.empty,), True)

    def _make(self, k, a, nul):
        key = (k, a if k == _CH else (tuple(c.uid for c in a) if a is not None else None))
        node = self.table.get(key)
        if node is None:
            node = _Node(k, a, len(self.table), nul)
            self.table[key] = node
        return node

    # smart constructors ------------------------------------------------------------------------------------------
    def chars(self, mask: int) -> _Node:
        return self._make(_CH, mask, False) if mask else self.empty

    def cat(self, r: _Node, s: _Node) -> _Node:
        if r is self.empty or s is self.empty:
            return self.empty
        if r is self.eps:
            return s
        if s is self.eps:
            return r
        if r.k == _CAT:  # right-nested
            return self.cat(r.a[0], self.cat(r.a[1], s))
        return self._make(_CAT, (r, s), r.nul and s.nul)

    def star(self, r: _Node) -> _Node:
        if r.k == _STAR or r is self.top:
            return r
        if r is self.eps or r is self.empty:
            return self.eps
        if r.k == _CH and r.a == self.full:
            return self.top
        return self._make(_STAR, (r,), True)

    def or_(self, items) -> _Node:
        flat: dict[int, _Node] = {}
        mask = 0
        for r in items:
            for x in (r.a if r.k == _OR else (r,)):
                if x is self.top:
                    return self.top
                if x.k == _CH:
                    mask |= x.a
                else:
                    flat[x.uid] = x
        if mask:
            x = self.chars(mask)
            flat[x.uid] = x
        if self.eps.uid in flat and any(x.nul for x in flat.values() if x is not self.eps):
            del flat[self.eps.uid]
        if not flat:
            return self.empty
        if len(flat) == 1:
            return next(iter(flat.values()))
        parts = tuple(flat[u] for u in sorted(flat))
        return self._make(_OR, parts, any(x.nul for x in parts))

    def and_(self, items) -> _Node:
        flat: dict[int, _Node] = {}
        mask = -1
        for r in items:
            for x in (r.a if r.k == _AND else (r,)):
                if x is self.empty:
                    return self.empty
                if x is self.top:
                    continue
                if x.k == _CH:
                    mask &= x.a
                else:
                    flat[x.uid] = x
        if mask != -1:
            if mask == 0:
                return self.empty
            if any(x is self.eps for x in flat.values()):
                return self.empty
            x = self.chars(mask)
            flat[x.uid] = x
        if not flat:
            return self.top
        if len(flat) == 1:
            return next(iter(flat.values()))
        parts = tuple(flat[u] for u in sorted(flat))
        return self._make(_AND, parts, all(x.nul for x in parts))

    def not_(self, r: _Node) -> _Node:
        if r.k == _NOT:
            return r.a[0]
        return self._make(_NOT, (r,), not r.nul)

    # derivatives -------------------------------------------------------------------------------------------------
    def deriv(self, r: _Node, atom: int) -> _Node:
        d = r.derivs.get(atom)
        if d is not None:
            return d
        k = r.k
        if k == _CH:
            d = self.eps if (r.a >> atom) & 1 else self.empty
        elif k == _EPS:
            d = self.empty
        elif k == _CAT:
            head, tail = r.a
            d = self.cat(self.deriv(head, atom), tail)
            if head.nul:
                d = self.or_((d, self.deriv(tail, atom)))
        elif k == _STAR:
            d = self.cat(self.deriv(r.a[0], atom), r)
        elif k == _OR:
            d = self.or_([self.deriv(x, atom) for x in r.a])
        elif k == _AND:
            d = self.and_([self.deriv(x, atom) for x in r.a])
        else:
            d = self.not_(self.deriv(r.a[0], atom))
        r.derivs[atom] = d
        return d

    def meet(self, p: tuple, q: tuple) -> tuple:
        if len(p) == 1:
            return q
        if len(q) == 1:
            return p
        return tuple(x & y for x in p for y in q if x & y)

    def classes(self, r: _Node) -> tuple:
        """Atoms grouped so that all atoms of a group give the same derivative (Owens et al.'s C(r))."""
        c = r.classes
        if c is not None:
            return c
        k = r.k
        if k == _CH:
            c = tuple(m for m in (r.a, self.full & ~r.a) if m)
        elif k == _EPS or (k == _OR and not r.a):
            c = (self.full,)
        elif k == _CAT:
            c = self.classes(r.a[0])
            if r.a[0].nul:
                c = self.meet(c, self.classes(r.a[1]))
        elif k in (_STAR, _NOT):
            c = self.classes(r.a[0])
        else:
            c = self.classes(r.a[0])
            for x in r.a[1:]:
                c = self.meet(c, self.classes(x))
        r.classes = c
        return c

    def equivalent(self, r: _Node, s: _Node) -> bool:
        seen = {(r.uid, s.uid)}
        stack = [(r, s)]
        while stack:
            p, q = stack.pop()
            if p.nul != q.nul:
                return False
            if p is q:
                continue
            for m in self.meet(self.classes(p), self.classes(q)):
                atom = (m & -m).bit_length() - 1
                dp, dq = self.deriv(p, atom), self.deriv(q, atom)
                key = (dp.uid, dq.uid)
                if key not in seen:
                    seen.add(key)
                    if len(seen) > self.limit:
                        raise RegexStateLimitError(f"more than {self.limit} pairs of derivative states")
                    stack.append((dp, dq))
        return True

    def is_empty(self, r: _Node) -> bool:
        seen = {r.uid}
        stack = [r]
        while stack:
            p = stack.pop()
            if p.nul:
                return False
            for m in self.classes(p):
                d = self.deriv(p, (m & -m).bit_length() - 1)
                if d.uid not in seen:
                    seen.add(d.uid)
                    if len(seen) > self.limit:
                        raise RegexStateLimitError(f"more than {self.limit} derivative states")
                    stack.append(d)
        return True


def _char_sets(ast, out: set) -> None:
    stack = [ast]
    while stack:
        x = stack.pop()
        if isinstance(x, Chars):
            out.add(x.ranges)
        elif isinstance(x, (Concat, Union, Intersect)):
            stack.extend(x.parts)
        elif isinstance(x, (Complement, Repeat)):
            stack.append(x.inner)


def _compile(asts: Sequence, limit: int):
    """A machine over the atoms of every character set in ``asts`` (they partition all letters, so every letter has
    an atom), the asts' terms in it, a function letter -> atom index, and a sample letter of each atom."""
    sets: set = set()
    for a in asts:
        _char_sets(a, sets)
    sets = sorted(sets)
    points = {0, UNIVERSE_MAX + 1}
    for rs in sets:
        for lo, hi in rs:
            points.add(lo)
            points.add(hi + 1)
    bounds = sorted(points)  # elementary segments [bounds[j], bounds[j+1])
    seg_index = {b: j for j, b in enumerate(bounds)}
    signature = [0] * (len(bounds) - 1)
    for s, rs in enumerate(sets):
        for lo, hi in rs:
            for j in range(seg_index[lo], seg_index[hi + 1]):
                signature[j] |= 1 << s
    atom_of_sig: dict[int, int] = {}
    seg_atom = [atom_of_sig.setdefault(sig, len(atom_of_sig)) for sig in signature]
    set_mask = {}
    for rs in sets:
        m = 0
        for lo, hi in rs:
            for j in range(seg_index[lo], seg_index[hi + 1]):
                m |= 1 << seg_atom[j]
        set_mask[rs] = m
    machine = _Machine(len(atom_of_sig), limit)
    budget = [_MAX_EXPANSION]

    def spend(n: int) -> None:
        budget[0] -= n
        if budget[0] < 0:
            raise RegexStateLimitError(f"counted repetitions expand to more than {_MAX_EXPANSION} terms")

    memo: dict = {}

    def build(x) -> _Node:
        node = memo.get(id(x))
        if node is not None:
            return node
        if isinstance(x, Chars):
            node = machine.chars(set_mask[x.ranges])
        elif isinstance(x, Epsilon):
            node = machine.eps
        elif isinstance(x, Empty):
            node = machine.empty
        elif isinstance(x, Concat):
            node = machine.eps
            for part in reversed(x.parts):
                node = machine.cat(build(part), node)
        elif isinstance(x, Union):
            node = machine.or_([build(p) for p in x.parts])
        elif isinstance(x, Intersect):
            node = machine.and_([build(p) for p in x.parts])
        elif isinstance(x, Complement):
            node = machine.not_(build(x.inner))
        elif isinstance(x, Repeat):
            r = build(x.inner)
            lo, hi = x.lo, x.hi
            if hi is None:
                spend(lo + 1)
                node = machine.star(r)
                for _ in range(lo):
                    node = machine.cat(r, node)
            elif lo > hi:
                node = machine.empty
            else:
                spend(hi + 1)
                node = machine.eps
                for _ in range(hi - lo):  # (eps | r (eps | r (...)))
                    node = machine.or_((machine.eps, machine.cat(r, node)))
                for _ in range(lo):
                    node = machine.cat(r, node)
        else:
            raise TypeError(f"not a regex AST node: {x!r}")
        memo[id(x)] = node
        return node

    def atom_of(letter: int) -> int:
        return seg_atom[bisect.bisect_right(bounds, letter) - 1]

    def sample(atom: int) -> int:  # a printable ASCII letter if the atom has one, else a character, else a slot
        segments = [(bounds[j], bounds[j + 1] - 1) for j, a in enumerate(seg_atom) if a == atom]
        for lo, hi in segments:
            if lo <= 0x7E and hi >= 0x20:
                return max(lo, 0x20)
        return min(segments)[0]

    try:
        nodes = [build(a) for a in asts]
    except RecursionError:
        raise RegexStateLimitError("regex nested too deeply") from None
    return machine, nodes, atom_of, sample


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
    machine, (r, s), _, _ = _compile((x, y), state_limit)
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
    machine, (r,), _, _ = _compile((x,), state_limit)
    try:
        return machine.is_empty(r)
    except RecursionError:
        raise RegexStateLimitError("derivatives nested too deeply") from None


def counterexample(a: str | Regex, b: str | Regex, slots: Mapping[str, str] | None = None, *,
                   state_limit: int = DEFAULT_STATE_LIMIT) -> str | None:
    """A shortest string that one of ``a``, ``b`` matches and the other does not (None when they are equivalent);
    an unmapped slot's letter is written as its name ``<Mk>``. Raises :class:`RegexSyntaxError` on a parse error."""
    x, y = _ast(a, slots), _ast(b, slots)
    machine, (r, s), _, sample = _compile((x, y), state_limit)
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
            for m in machine.meet(machine.classes(p), machine.classes(q)):
                atom = (m & -m).bit_length() - 1
                dp, dq = machine.deriv(p, atom), machine.deriv(q, atom)
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
    machine, (r,), atom_of, _ = _compile((ast,), DEFAULT_STATE_LIMIT)
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
