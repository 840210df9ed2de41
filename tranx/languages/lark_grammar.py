"""An ASDL action grammar derived from any Lark grammar (the conversion half of tranx.languages.lark_language).

Why: retraining on a new language should need only its Lark grammar, not a hand-written ASDL file and adapter.

`lark_to_asdl(text)` reads the grammar as lark does (`Lark(...).grammar.rule_defs`, EBNF) and derives:
- per rule (after collapsing, below) an ASDL type; per alternative a constructor, named by its `-> alias`, else `rule`
  (a rule of one alternative) or `rule_<i>` (its i-th); a name already taken gets `_2`, `_3`, ...;
- per named part of an alternative a field, named after the lower-cased rule or terminal (`sum`, `sum2`, ...): a rule
  (its type) or a terminal that carries content (a regular expression: NUMBER, NAME, CHAR), each such terminal its own
  primitive type (one vocabulary each). `x?`/`[x]` give `type? x`, `x*` gives `type* x`, and `x+` gives `type* x`
  listed in `nonempty` (unparse rejects it empty); an optional or repeated group `("," x)*` is the field of its one
  named part, its literals written around each value. Any other optional part (`[","]`, `[x ("," x)*]`, `("+" |
  "-")?`, `[OP | "~" N [".." N]]`) is expanded as lark expands it: one alternative per alternative of the part, and
  one without it. Any other repeated group of one sequence with one named part (an inlined `_rule`, `x?`, `x*`:
  `(_item? _NL)*`) is a field over a helper rule and type `<rule>__<symbol>` (`start__item`), one constructor per
  alternative of the group, made once per group;
- no field for anonymous literals ("(", "|", keywords), named terminals of one fixed string (`PLUS: "+"`) and filtered
  terminals (`_NL`, written as the first of "\\n", " ", "" it matches, else as the shortest text its pattern matches,
  tranx.languages.lark_regex_text: `_VBAR: _NL? "|"` gives "|"): they stay in the constructor's template. A `!rule`
  keeps its literals in lark's tree; their text is fixed per constructor, so the derived grammar drops the `!` and
  they stay in the template too, except that a `!?rule` alternative with a literal is a node, not a unit (as in lark).
Collapsing, so that trees stay small:
- a `_rule` is inlined as lark inlines it: its body replaces each reference; a body of several alternatives (like an
  inner group `(a | b)`) multiplies the alternatives of the rule that uses it;
- in a `?rule`, an alternative with no alias whose one named part is a rule (`?sum: product`, `?atom: "(" sum ")"`) is
  a *unit*: it builds no node, and the two rules share one ASDL type (named after the one defined first) holding the
  constructors of both. The unit's literals are not in the tree: where a field expects rule R and a node belongs to
  rule O, unparse writes the chain of units from R to O with the fewest literals, which puts back exactly the
  parentheses a precedence ladder needs. A merged type may hold a constructor that no chain reaches from some field:
  unparse raises ConversionError for such a tree. Other alternatives of a `?rule` are nodes like any.

Left out, a GrammarError naming the rule (line and column of the construct, else of the rule): template rules, regular
expressions and ranges written inside rules (name them as terminals), `x ~ n`, a repeated part that is not one
sequence with one named part (`(a | b)*`, `(k ":" v)+`, `(",")*`: make it a rule, or a `_rule`), a filtered terminal
with a backreference, `%declare`d terminals, and two constructors of one type that read alike (the parser could not
tell them apart). Also left out: piece types (a content token is one GenToken), a compile check, an entry in
`tranx.languages.LANGUAGES`.

Not tuned to tranx's grammars: lark's own grammar of Lark grammars (`lark/grammars/lark.lark`) converts, and the
grammars shipped with lark round-trip through it (tests/test_lark_own_grammar.py).
"""

from __future__ import annotations

import ast
import heapq
import itertools
import re
from dataclasses import dataclass, field as dataclass_field

import lark
from lark.grammar import NonTerminal, RuleOptions, Terminal
from lark.lexer import PatternStr

from tranx.errors import GrammarError
from tranx.grammar.asdl import Grammar, parse_asdl
from tranx.languages.lark_regex_text import shortest_text

_ASDL_OP = {"": "", "?": "?", "*": "*", "+": "*"}


@dataclass(frozen=True)
class Part:
    """A piece of a constructor's concrete syntax: a literal `text` (`kept` = 1 when lark keeps it as a child: a named
    terminal), or the values of field `field`, written as `symbol` with EBNF operator `op`, each between the literals
    `before` and `after` ((text, kept) pairs)."""

    text: str = ""
    kept: int = 0
    field: int = -1
    symbol: str = ""
    op: str = ""
    before: tuple = ()
    after: tuple = ()


@dataclass(frozen=True)
class Unit:
    """A unit alternative `rule: before inner after` of a `?rule`: it builds no node."""

    before: tuple[str, ...]
    inner: str
    after: tuple[str, ...]


@dataclass
class LarkConversion:
    """What `lark_to_asdl` derives: the ASDL grammar, and what parsing and unparsing its trees need."""

    asdl_text: str
    grammar: Grammar
    lark_text: str  # the grammar the parser uses: the original plus %override lines
    start: str
    templates: dict[str, tuple[Part, ...]]  # constructor -> its concrete syntax
    owners: dict[str, str]  # constructor -> the rule it is an alternative of
    units: dict[str, tuple[Unit, ...]]  # rule -> its unit alternatives
    terminals: dict[str, str]  # content terminal (a primitive type) -> its regular expression
    separator: str
    nonempty: frozenset[tuple[str, str]]  # (constructor, field) of the `x+` parts
    _chains: dict = dataclass_field(default_factory=dict, repr=False)

    def chain(self, rule: str, owner: str) -> tuple[Unit, ...] | None:
        """The unit alternatives that lead from `rule` to `owner`, fewest literal tokens first, then fewest steps."""
        if (rule, owner) not in self._chains:
            tie = itertools.count()
            heap, best, found = [(0, 0, next(tie), rule, ())], {rule: (0, 0)}, None
            while heap:
                cost, steps, _, here, path = heapq.heappop(heap)
                if here == owner:
                    found = path
                    break
                for unit in self.units.get(here, ()):
                    key = (cost + len(unit.before) + len(unit.after), steps + 1)
                    if key < best.get(unit.inner, (float("inf"), 0)):
                        best[unit.inner] = key
                        heapq.heappush(heap, (*key, next(tie), unit.inner, path + (unit,)))
            self._chains[rule, owner] = found
        return self._chains[rule, owner]


def lark_to_asdl(grammar_text: str, *, start: str = "start", name: str = "lark") -> LarkConversion:
    """Derive an action grammar (and what unparse needs) from a Lark grammar; see the module docstring."""
    return _Converter(grammar_text, start, name).convert()


class _Converter:
    def __init__(self, text: str, start: str, name: str):
        self.text, self.start, self.name, self.file = text, start, name, f"<{name}.lark>"
        self.group_rules: dict[str, list] = {}  # helper rule of a repeated group -> its alternatives
        try:
            self.lark = lark.Lark(text, start=start, parser="earley")
        except lark.exceptions.LarkError as exc:
            where = re.search(r"line (\d+),? col(?:umn)? (\d+)", str(exc))
            raise self._at(f"lark rejects the grammar: {error_summary(exc)}",
                           *(map(int, where.groups()) if where else (0, 0))) from None
        self.defs = {}
        for rule, params, tree, options in self.lark.grammar.rule_defs:
            if params:
                raise self._error(rule, "template rules are not supported")
            self.defs[rule] = (tree, options)
        self.order = {rule: i for i, rule in enumerate(self.defs)}
        self.terminals: dict[str, str] = {}
        self._inlining: set[str] = set()
        self._group_of: dict[int, tuple[str, object]] = {}  # id of a group's EBNF tree -> (helper rule, the tree)
        self.lark_names = set(self.defs)  # rule names the derived Lark grammar uses

    # --- errors ---------------------------------------------------------------------------------
    def _at(self, message: str, line: int, column: int) -> GrammarError:
        lines = self.text.splitlines()
        source = lines[line - 1] if 0 < line <= len(lines) else ""
        return GrammarError(message, file=self.file, line=line, column=column, source_line=source)

    def _error(self, rule: str, message: str, tree=None) -> GrammarError:
        """An error in `rule`, at the first grammar token of `tree` with a position, else at the rule's definition
        (a repeated group's helper rule: at the group)."""
        if tree is None and rule in self.group_rules:
            tree = self.defs[rule][0]
        tokens = [] if not isinstance(tree, lark.Tree) else [
            t for t in tree.scan_values(lambda v: isinstance(v, lark.Token)) if getattr(t, "line", None)]
        if tokens:
            return self._at(f"rule '{rule}': {message}", tokens[0].line, tokens[0].column)
        match = re.search(rf"^[ \t]*[?!]*({re.escape(rule)})\b", self.text, re.M)
        line = self.text.count("\n", 0, match.start(1)) + 1 if match else 0
        column = match.start(1) - self.text.rfind("\n", 0, match.start(1)) if match else 0
        return self._at(f"rule '{rule}': {message}", line, column)

    # --- EBNF -> alternatives of items: ("lit", text, kept, source), ("sym", name), ("group", items, op) ---
    def alternatives(self, rule: str) -> list[tuple[str | None, list]]:
        if rule in self.group_rules:
            return [(None, items) for items in self.group_rules[rule]]
        return self._alts(self.defs[rule][0], rule)

    def _alts(self, tree, rule: str) -> list[tuple[str | None, list]]:
        if tree.data == "expansions":
            return [alt for child in tree.children for alt in self._alts(child, rule)]
        if tree.data == "alias":
            expansion, alias = tree.children
            return [(alias.name, items) for _, items in self._alts(expansion, rule)]
        sequences = [[]]
        for part in tree.children:  # an expansion: the cross product of its parts' alternatives
            sequences = [s + option for s in sequences for option in self._part(part, rule)]
        return [(None, s) for s in sequences]

    def _part(self, part, rule: str) -> list[list]:
        if part.data == "expansions":
            return [items for _, items in self._alts(part, rule)]
        if part.data in ("maybe", "expr"):
            if part.data == "expr" and (len(part.children) != 2 or part.children[1] not in ("?", "*", "+")):
                raise self._error(rule, "bounded repetition (x ~ n) is not supported", part)
            op = "?" if part.data == "maybe" else str(part.children[1])
            pieces = _sequence(part.children[0])
            options = [self._part(piece, rule) for piece in pieces] if pieces else [self._part(part.children[0], rule)]
            inner = [[item for option in combo for item in option] for combo in itertools.product(*options)]
            named = [item for item in inner[0] if item[0] != "lit"] if len(inner) == 1 else []
            if len(named) == 1 and named[0][0] == "sym":
                return [[("group", tuple(inner[0]), op)]]
            if op == "?":  # as lark's own EBNF -> BNF: the alternatives with the part, and one without
                return inner + [[]]
            named_pieces = [p for p, o in zip(pieces or (), options) if any(i[0] != "lit" for alt in o for i in alt)]
            if len(named_pieces) == 1:  # e.g. `(_item? _NL)*`: a field over a helper rule, one node per value
                return [[("group", (("sym", self._group_rule(rule, part, named_pieces[0], inner)),), op)]]
            raise self._error(rule, f"a part under {op!r} must be one sequence with exactly one named symbol "
                                    f"(make it a rule)", part)
        (value,) = part.children
        if isinstance(value, NonTerminal):
            if not value.name.startswith("_"):
                return [[("sym", value.name)]]
            if value.name in self._inlining:
                raise self._error(value.name, "an inlined rule (_rule) may not refer to itself")
            self._inlining.add(value.name)
            try:
                return [items for _, items in self.alternatives(value.name)]
            finally:
                self._inlining.discard(value.name)
        if isinstance(value, Terminal):
            return [[self._terminal(value.name, rule)]]
        if value.data == "literal" and value.children[0].type == "STRING":
            source = str(value.children[0])
            return [[("lit", ast.literal_eval(source[:source.rindex('"') + 1]), 0, source)]]
        what = {"literal": "an anonymous regular expression (name it as a terminal)",
                "range": "a range in a rule (name it as a terminal)"}.get(value.data, f"'{value.data}'")
        raise self._error(rule, f"{what} is not supported", value)

    def _terminal(self, name: str, rule: str) -> tuple:
        try:
            pattern = self.lark.get_terminal(name).pattern
        except KeyError:
            raise self._error(rule, f"terminal {name} has no pattern (%declare is not supported)") from None
        if isinstance(pattern, PatternStr):  # one fixed string: a literal, kept by lark unless _FILTERED
            return ("lit", pattern.value, 0 if name.startswith("_") else 1, name)
        if name.startswith("_"):
            for text in ("\n", " ", ""):
                if re.fullmatch(pattern.to_regexp(), text):
                    return ("lit", text, 0, name)
            text = shortest_text(pattern.to_regexp())
            if text is None:
                raise self._error(rule, f"filtered terminal {name}: no text found that its pattern matches "
                                        f"(backreference?): its text is unknown")
            return ("lit", text, 0, name)
        self.terminals[name] = pattern.to_regexp()
        return ("sym", name)

    def _group_rule(self, rule: str, part, piece, alternatives: list) -> str:
        """The helper rule (and ASDL type) of repeated group `part`, named `<rule>__<its one named symbol>`, created
        once per group however often its rule is inlined."""
        if id(part) not in self._group_of:  # the tree is kept too: its id stays its own
            symbol = next(piece.scan_values(lambda v: isinstance(v, (NonTerminal, Terminal))), None)
            base = f"{rule.lstrip('_')}__{symbol.name.lstrip('_').lower() if symbol else 'group'}"
            name = _fresh(base, self.lark_names, "_")
            self._group_of[id(part)] = (name, part)
            self.group_rules[name] = alternatives
            self.defs[name] = (part, RuleOptions())
            self.order[name] = len(self.order)
        return self._group_of[id(part)][0]

    # --- alternatives -> types, constructors, templates, derived Lark grammar --------------------------
    def convert(self) -> LarkConversion:
        if self.start not in self.defs or self.start.startswith("_"):
            raise self._at(f"start rule '{self.start}' is not a rule the converter can use", 0, 0)
        alts: dict[str, list] = {}  # the rules reachable from the start
        todo = [self.start]
        while todo:
            rule = todo.pop()
            if rule not in alts:
                alts[rule] = self.alternatives(rule)
                todo += [s for _, items in alts[rule] for s in _symbols(items) if s in self.defs]
        rules = sorted(alts, key=self.order.__getitem__)
        units, type_of = self._merge(rules, alts)

        self.taken, self.templates, self.owners, self.nonempty, self.helpers = set(), {}, {}, set(), []
        constructors: dict[str, list[str]] = {type_of[self.start]: []}
        seen, overrides = {}, []
        for rule in rules:
            written = []
            for i, (alias, items) in enumerate(alts[rule]):
                if self._is_unit(rule, alias, items):
                    written.append(" ".join(self._source(item, "", "") for item in items))
                    continue
                name = _fresh(alias or (rule if len(alts[rule]) == 1 else f"{rule}_{i}"), self.taken, "_")
                fields, source, signature = self._constructor(rule, name, items, type_of)
                clash = seen.setdefault((type_of[rule], signature), (rule, name))
                if clash != (rule, name):
                    raise self._error(rule, f"alternative '{name}' reads like '{clash[1]}' of rule '{clash[0]}': "
                                            f"the parser cannot tell them apart")
                constructors.setdefault(type_of[rule], []).append(f"{name}({', '.join(fields)})" if fields else name)
                written.append(f"{source} -> {name}")
            priority = self.defs[rule][1].priority
            overrides.append(f"{'' if rule in self.group_rules else '%override '}{'?' if units[rule] else ''}{rule}"
                             f"{'' if priority is None else f'.{priority}'}: {' | '.join(written)}")
        asdl_lines = []
        for type_name in sorted(set(type_of.values()), key=lambda t: (t != type_of[self.start], self.order[t])):
            if not constructors.get(type_name):
                raise self._error(type_name, "no alternative of this rule (or of ?rules merged with it) builds a node")
            asdl_lines.append(f"{type_name} = " + f"\n{' ' * len(type_name)} | ".join(constructors[type_name]))
        asdl_text = "\n".join(asdl_lines) + "\n"
        grammar = parse_asdl(asdl_text, file=f"<{self.name}: derived ASDL>", name=self.name,
                             primitive_types=frozenset(self.terminals))
        spaced = any(re.fullmatch(self.lark.get_terminal(t).pattern.to_regexp(), " ") for t in self.lark.ignore_tokens)
        lark_text = "\n".join([self.text.rstrip(), "", *overrides, *self.helpers]) + "\n"
        return LarkConversion(asdl_text, grammar, lark_text, self.start, self.templates, self.owners,
                              {rule: tuple(u) for rule, u in units.items() if u}, dict(self.terminals),
                              " " if spaced else "", frozenset(self.nonempty))

    def _merge(self, rules: list[str], alts: dict) -> tuple[dict[str, list[Unit]], dict[str, str]]:
        """The unit alternatives of each rule, and the ASDL type of each rule: rules joined by a unit alternative
        share one, named after the one of them defined first (a union-find)."""
        parent = {rule: rule for rule in rules}

        def find(rule: str) -> str:
            while parent[rule] != rule:
                rule = parent[rule]
            return rule

        units: dict[str, list[Unit]] = {rule: [] for rule in rules}
        for rule in rules:
            for alias, items in alts[rule]:
                if self._is_unit(rule, alias, items):
                    k = next(j for j, item in enumerate(items) if item[0] == "sym")
                    inner = items[k][1]
                    units[rule].append(Unit(tuple(t[1] for t in items[:k]), inner, tuple(t[1] for t in items[k + 1:])))
                    first, second = sorted((find(rule), find(inner)), key=self.order.__getitem__)
                    parent[second] = first
        return units, {rule: find(rule) for rule in rules}

    def _constructor(self, rule: str, name: str, items: list, type_of: dict) -> tuple[list[str], str, tuple]:
        """Record the template of constructor `name`; return its ASDL fields, its Lark alternative, and what it reads
        like (literals, and field types with their operators and literals), which no other constructor of the type
        may share."""
        parts, fields, field_names, sources, signature = [], [], set(), [], []
        for item in items:
            if item[0] == "lit":
                parts.append(Part(text=item[1], kept=item[2]))
                signature.append(item[1])
                sources.append(item[3])
                continue
            inner, op = (item[1], item[2]) if item[0] == "group" else ((item,), "")
            k = next(j for j, sub in enumerate(inner) if sub[0] == "sym")
            symbol = inner[k][1]
            field_name = _fresh(symbol.lower(), field_names, "")
            field_type = symbol if symbol in self.terminals else type_of[symbol]
            fields.append(f"{field_type}{_ASDL_OP[op]} {field_name}")
            before, after = (tuple((sub[1], sub[2]) for sub in subs) for subs in (inner[:k], inner[k + 1:]))
            parts.append(Part(field=len(fields) - 1, symbol=symbol, op=op, before=before, after=after))
            signature.append((field_type, op, before, after))
            sources.append(self._source(item, name, field_name))
            if op == "+":
                self.nonempty.add((name, field_name))
        self.templates[name], self.owners[name] = tuple(parts), rule
        return fields, " ".join(sources), tuple(signature)

    def _is_unit(self, rule: str, alias, items) -> bool:
        named, options = [item for item in items if item[0] != "lit"], self.defs[rule][1]
        literals = [item for item in items if item[0] == "lit"]
        return (options.expand1 and alias is None and len(named) == 1 and named[0][0] == "sym"
                and named[0][1] in self.defs and not any(item[2] for item in literals)
                and not (options.keep_all_tokens and literals))  # a `!?rule` keeps them: lark builds a node

    def _source(self, item, constructor: str, field_name: str) -> str:
        """An item as Lark grammar text; a repeated group becomes a helper rule, so lark gives it one subtree."""
        if item[0] != "group":
            return item[3] if item[0] == "lit" else item[1]
        inner = " ".join(self._source(sub, "", "") for sub in item[1])
        if item[2] == "?":
            return f"[{inner}]"
        helper = _fresh(f"{constructor}__{field_name}", self.lark_names, "_")
        self.helpers.append(f"{helper}: ({inner}){item[2]}")
        return helper


def error_summary(exc: Exception) -> str:
    """A lark message up to its first blank line (the rest repeats the source), on one line."""
    return " ".join(str(exc).strip().split("\n\n")[0].split())


def _fresh(name: str, taken: set, sep: str) -> str:
    """`name`, else the first of name<sep>2, name<sep>3, ... not in `taken` (which it joins)."""
    fresh = next(n for n in itertools.chain([name], (f"{name}{sep}{k}" for k in itertools.count(2))) if n not in taken)
    taken.add(fresh)
    return fresh


def _sequence(body) -> list | None:
    """The parts of an EBNF body that is one sequence (no `|`), else None."""
    while body.data == "expansions" and len(body.children) == 1:
        body = body.children[0]
    if body.data == "expansions":
        return None
    return list(body.children) if body.data == "expansion" else [body]


def _symbols(items) -> list[str]:
    """The rules and terminals named in `items`, groups included."""
    return [s for item in items if item[0] != "lit" for s in ([item[1]] if item[0] == "sym" else _symbols(item[1]))]
