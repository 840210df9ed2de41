"""Brzozowski derivatives of regexes with `&` and `~`, over character-set atoms: the automaton behind
tranx.evaluation.regex_equivalence (its docstring says what the dialect means and how equivalence is decided).

Terms are hash-consed and kept in a normal form (`|` and `&` flattened, deduplicated and sorted, `~~r = r`,
`(r*)* = r*`, unit and zero laws); `compile_regexes` builds a machine over the atoms of the character sets of the
regexes it is given, so that each state only splits the atoms along its own derivative classes.
"""

from __future__ import annotations

import bisect
from typing import Sequence

from tranx.evaluation.regex_syntax import (
    UNIVERSE_MAX, Chars, Complement, Concat, Empty, Epsilon, Intersect, RegexStateLimitError, Repeat, Union)

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

    def pair_steps(self, p: _Node, q: _Node):
        """(atom, derivative of p, derivative of q) for one atom of each class both split the letters into."""
        for m in self.meet(self.classes(p), self.classes(q)):
            atom = (m & -m).bit_length() - 1
            yield atom, self.deriv(p, atom), self.deriv(q, atom)

    def equivalent(self, r: _Node, s: _Node) -> bool:
        seen = {(r.uid, s.uid)}
        stack = [(r, s)]
        while stack:
            p, q = stack.pop()
            if p.nul != q.nul:
                return False
            if p is q:
                continue
            for _, dp, dq in self.pair_steps(p, q):
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


def compile_regexes(asts: Sequence, limit: int):
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
