"""Any Lark grammar as a target language: code <-> trees of the action grammar tranx.languages.lark_grammar derives.

Why: retraining on a new language should need only its Lark grammar, not a hand-written ASDL file and adapter.

`LarkLanguage` parses with lark's LALR(1) parser when the grammar is LALR(1) (`parser="auto"`, the default: 34 times
faster on NL-RX regexes), else with its Earley parser (dynamic lexer); either on a
derived grammar (`lark_text`): the original with each converted rule `%override`n, every constructor's alternative
aliased by its name and every repeated part a helper rule `<ctor>__<field>`, so lark's tree maps onto fields one to one.
Whitespace rule: unparse joins tokens by one space when the grammar `%ignore`s a terminal that matches " ", else by "".

Lexical substitution is textual: a slot value found in the code becomes its slot name where the result still parses.

Left out: piece types (a content token is one GenToken), a compile check; what the conversion leaves out is listed
in tranx.languages.lark_grammar.
"""

from __future__ import annotations

import re

import lark

from tranx.errors import ConversionError, GrammarError
from tranx.languages.text_slots import restore_text, substitute_text
from tranx.grammar.asdl import Grammar
from tranx.grammar.tree import Node
from tranx.languages.lark_grammar import error_summary, lark_to_asdl


class LarkLanguage:
    """A language given by a Lark grammar (see the module docstring): parse, unparse, canonical form, token checks."""

    def __init__(self, grammar_text: str, *, start: str = "start", name: str = "lark", parser: str = "auto",
                 grammar: Grammar | None = None):
        """`grammar`: a checkpoint's action grammar, adopted when it is the one `grammar_text` derives (its trees
        hold that grammar's constructors); GrammarError when the Lark grammar has changed since."""
        self.conversion = lark_to_asdl(grammar_text, start=start, name=name)
        self.name, self.grammar, self.lark_text = name, self.conversion.grammar, grammar_text
        if grammar is not None:
            if grammar.text != self.grammar.text:
                raise GrammarError(f"the Lark grammar {name!r} no longer derives the checkpoint's action grammar "
                                   f"(was it edited after training?)", file=f"<{name}.lark>")
            self.grammar = grammar
        try:
            self._parser = None
            if parser == "auto":
                try:
                    self._parser = lark.Lark(self.conversion.lark_text, start=start, parser="lalr",
                                             maybe_placeholders=True)
                    parser = "lalr"
                except lark.exceptions.GrammarError:  # not LALR(1): conflicts
                    parser = "earley"
            if self._parser is None:
                self._parser = lark.Lark(self.conversion.lark_text, start=start, parser=parser,
                                         maybe_placeholders=True)
            self.parser = parser
        except lark.exceptions.LarkError as exc:
            raise GrammarError(f"the derived Lark grammar does not build with parser={parser!r}: "
                               f"{error_summary(exc)}", file=f"<{name}.lark>") from None
        self._patterns = {t: re.compile(p) for t, p in self.conversion.terminals.items()}

    # --- code -> tree -------------------------------------------------------------------------
    def parse(self, code: str) -> Node:
        try:
            tree = self._parser.parse(code)
        except lark.exceptions.LarkError as exc:
            raise ConversionError(f"not parseable: {error_summary(exc)}") from None
        return self._node(tree)

    def _node(self, tree) -> Node:
        templates = self.conversion.templates
        if not isinstance(tree, lark.Tree) or tree.data not in templates:
            raise ConversionError(f"lark gave {tree!r}, not an aliased alternative")  # a bug of the conversion
        constructor, kids, i = self.grammar.constructor(tree.data), tree.children, 0
        values: list = [None] * len(constructor.fields)
        for part in templates[tree.data]:
            if part.field < 0:
                i += part.kept
                continue
            skip = sum(kept for _, kept in part.before)
            width = skip + 1 + sum(kept for _, kept in part.after)
            if part.op == "":
                values[part.field] = self._value(part.symbol, kids[i])
                i += 1
            elif part.op == "?":  # [ ... ]: lark gives one placeholder per kept child
                content = kids[i + skip]
                values[part.field] = None if content is None else self._value(part.symbol, content)
                i += width
            else:  # the helper rule's subtree
                items = kids[i].children
                values[part.field] = tuple(self._value(part.symbol, items[j + skip])
                                           for j in range(0, len(items), width))
                i += 1
        return Node(constructor, tuple(values))

    def _value(self, symbol: str, child):
        return str(child) if symbol in self.conversion.terminals else self._node(child)

    # --- tree -> code -------------------------------------------------------------------------
    def unparse(self, tree: Node) -> str:
        return self.conversion.separator.join(t for t in self.unparse_tokens(tree) if t)

    def unparse_tokens(self, tree: Node) -> list[str]:
        out: list[str] = []
        self._emit(self.conversion.start, tree, out)
        return out

    def _emit(self, rule: str, node, out: list[str]) -> None:
        c = self.conversion
        owner = c.owners.get(node.constructor.name) if isinstance(node, Node) else None
        if owner is None or self.grammar.constructor(node.constructor.name) is not node.constructor:
            raise ConversionError(f"expected a node of grammar {self.grammar.name!r} for rule '{rule}', got {node!r}")
        chain = c.chain(rule, owner)
        if chain is None:
            raise ConversionError(f"{node.constructor.name} (rule '{owner}') cannot stand where rule '{rule}' is "
                                  f"expected: no chain of ?rule alternatives leads there")
        for unit in chain:
            out.extend(unit.before)
        for part in c.templates[node.constructor.name]:
            if part.field < 0:
                out.append(part.text)
                continue
            field, value = node.constructor.fields[part.field], node.values[part.field]
            if part.op in ("*", "+"):
                if not isinstance(value, tuple) or (part.op == "+" and not value):
                    raise ConversionError(f"field {field!r} needs a tuple{' of at least one value' * (part.op == '+')}"
                                          f", got {value!r}")
                values = value
            else:
                values = () if value is None and part.op == "?" else (value,)
            for v in values:
                out.extend(text for text, _ in part.before)
                if part.symbol in c.terminals:
                    if not self.token_ok(part.symbol, v):
                        raise ConversionError(f"{v!r} is not a {part.symbol} token (field {field!r})")
                    out.append(v)
                else:
                    self._emit(part.symbol, v, out)
                out.extend(text for text, _ in part.after)
        for unit in reversed(chain):
            out.extend(unit.after)

    # --- the rest of the Language protocol ------------------------------------------------------
    def canonicalize(self, code: str) -> str:
        return self.unparse(self.parse(code))

    def token_ok(self, type_name: str, token: str) -> bool:
        """Does `token` match the whole pattern of terminal `type_name`? (Lexer priorities, keywords a NAME also
        matches, are not checked.)"""
        pattern = self._patterns.get(type_name)
        return pattern is not None and isinstance(token, str) and pattern.fullmatch(token) is not None

    def encode_literal(self, type_name: str, value) -> str:
        if not self.token_ok(type_name, value):
            raise ConversionError(f"{value!r} is not a {type_name} token")
        return value

    decode_literal = encode_literal  # a terminal's value is its text

    def substitute(self, code: str, slots) -> tuple[str, frozenset[str]]:
        """Slot values found in the text -> slot names, where it still parses (tranx.languages.text_slots)."""
        return substitute_text(code, slots, self.parse)

    def restore(self, code: str, slots) -> str:
        return restore_text(code, slots)

    def tokenize(self, code: str) -> list[str]:
        """The grammar's tokens of the canonical form; a crude split when the code does not parse."""
        try:
            return [t for t in self.unparse_tokens(self.parse(code)) if t]
        except ConversionError:
            return re.findall(r"\w+|\S", code)

    def lexed(self, code: str) -> list[tuple[str, str]]:
        """`code` as the grammar's own lexer reads it (lark's basic lexer), %ignored terminals dropped: (terminal,
        text) pairs, the text of a token the tree does not keep (literals, filtered terminals such as `_NL`) without
        whitespace when the grammar ignores whitespace. ConversionError when the basic lexer cannot read it."""
        squeeze = bool(self.conversion.separator)
        try:
            return [(t.type, t.value if t.type in self._patterns or not squeeze else "".join(t.value.split()))
                    for t in self._parser.lex(code)]
        except lark.exceptions.LarkError as exc:
            raise ConversionError(f"not lexable: {error_summary(exc)}") from None

    def check(self, code: str) -> str | None:
        return None  # a Lark grammar says nothing beyond its syntax

    def pretty(self, code: str, style: str = "plain") -> str:
        try:
            return self.canonicalize(code)
        except ConversionError:
            return code
