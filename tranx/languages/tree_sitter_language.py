"""Any tree-sitter language as a target language: code <-> trees of the action grammar that
tranx.languages.tree_sitter_grammar induces from the language and training programs.

Why: a new target should need only a tree-sitter grammar wheel (`tree-sitter-bash`, `tree-sitter-python`, ...) and
programs, not a hand-written ASDL file and adapter.

`TreeSitterLanguage(language, programs, name=...)` induces the grammar; `to_json()` describes it (ASDL text, shapes,
whitespace, token contexts) and `TreeSitterLanguage.from_json(description, grammar=...)` rebuilds it without the
programs, so a checkpoint loads wherever the grammar wheel is installed. `grammar=` adopts a checkpoint's action
grammar when it is the induced one (GrammarError otherwise).

parse: tree-sitter's tree (ConversionError when it has an error node), each node mapped to the constructor of its
observed shape (`UnseenShape`, a ConversionError, for a shape or a child kind the training programs never showed).
unparse: the tokens of each constructor's shape and its children's tokens, joined by the whitespace rule of
tranx.languages.tree_sitter_grammar (the most frequent whitespace class of each gap in training; indentation relative
to the line where the node starts). After inducing, every training tree is unparsed and parsed again; where one comes
back different, the gaps of its text that deviate from its own whitespace are pinned to it (newlines it did not have
first: Python allows `a or\n b` only inside brackets), for a few rounds (`report.pinned`; trees that still fail:
`report.failures`, none in the tests). So `parse(unparse(t)) == t` for every training tree; text round-trips up to
the whitespace rule, comments and line continuations.

token_ok: a token may fill a field of a leaf kind's primitive type when, put in place of such a leaf in one of a few
small training contexts, tree-sitter parses it as exactly one node of that kind (no error), or when it is one of the
training tokens that fit no context. Checks are cached.

Lexical substitution is textual, as in LarkLanguage: a slot value found in the code becomes its slot name where the
result still parses.

Left out: piece types, a compile check (`check` returns None), pretty styles beyond the canonical form.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field as dataclass_field

from tranx.errors import ConversionError, GrammarError
from tranx.languages.text_slots import restore_text, substitute_text
from tranx.grammar.asdl import Grammar
from tranx.grammar.tree import Node
from tranx.languages.tree_sitter_grammar import (
    Reader, TreeSitterConversion, UnseenShape, compress, describe, induce_grammar, label, load_language,
    token_fits)


class TreeSitterLanguage:
    """A language given by a tree-sitter grammar and the programs its action grammar is induced from."""

    def __init__(self, language, programs=None, *, name: str = "tree_sitter", grammar: Grammar | None = None,
                 conversion: TreeSitterConversion | None = None):
        """`language`: a grammar module, its name (`"bash"`) or a `tree_sitter.Language`; `programs`: the training
        code (or `conversion`: an induced one, as `from_json` gives); `grammar`: a checkpoint's action grammar,
        adopted when it is the induced one."""
        self.ts_language, _ = load_language(language)
        if conversion is None:
            if programs is None:
                raise GrammarError("a tree-sitter language needs training programs or a saved conversion",
                                   file=f"<{name}>")
            programs = list(programs)
            conversion = induce_grammar(self.ts_language, programs, name)
        else:
            programs = None
        self.conversion = conversion
        self.name, self.grammar = conversion.name, conversion.grammar
        if grammar is not None:
            if grammar.text != self.grammar.text:
                raise GrammarError(f"the tree-sitter language {self.name!r} no longer induces the checkpoint's action "
                                   f"grammar (other programs, or another grammar version?)", file=f"<{self.name}>")
            self.grammar = grammar
        self.reader = Reader(self.ts_language, conversion.atomic)
        self._kind_of_type = {t: k for k, t in conversion.leaf_types.items()}
        self._ok: dict[tuple[str, str], bool] = {}
        if programs:
            self._settle_whitespace(programs)

    def _settle_whitespace(self, programs, rounds: int = 3) -> None:
        """Make every training tree round-trip: where the canonical text of one parses into another tree, pin each
        gap of it whose canonical whitespace class differs from its own (newline or not; none or a space) to its own
        class, between the same neighbours, once per gap; a few rounds. (The most frequent class can be wrong in
        context: Python allows a newline in `a or b` only inside brackets, so one multi-line `(x\\n or y)` in training
        must not make every `or` multi-line.)"""
        report, pinned = self.conversion.report, set()
        skip = set(report.rejected)
        for round_number in range(rounds + 1):
            failing = []
            for i, code in enumerate(programs):
                if i in skip:
                    continue
                raw = self.reader.read(code)
                tree = self._node(raw)
                try:
                    same = self.parse(self.unparse(tree)) == tree
                except ConversionError:
                    same = False
                if not same:
                    failing.append((i, raw))
            report.failures = [i for i, _ in failing]
            if not failing or round_number == rounds:
                return
            changed = False
            for _, raw in failing:
                deviations = [d for d in self._deviations(raw) if d[:2] not in pinned]
                # first undo newlines the program did not have (they are what breaks Python: `a or b` outside
                # brackets), else spaces, else newlines it had
                for kind in ("removes newline", "spacing", "adds newline"):
                    chosen = [d for d in deviations if d[3] == kind]
                    if chosen:
                        break
                for constructor, key, cls, _ in chosen:
                    pinned.add((constructor, key))
                    self.conversion.constructors[constructor].gaps[key] = cls
                    report.pinned += 1
                    changed = True
            if not changed:
                return

    def _deviations(self, raw):
        """(constructor, gap key, class, how) of each gap in `raw` whose canonical class differs from its own: how
        pinning it changes the canonical text ("removes newline", "adds newline", "spacing")."""
        c = self.conversion
        stack = [raw]
        while stack:
            node = stack.pop()
            stack.extend(item for item in node.items if item is not None)
            if node.text is not None:
                continue
            shape, _, slots = compress(node.kind, node.roles, c.separators, c.singles)
            name = c.constructor_for(node.kind, shape)
            gaps = c.constructors[name].gaps
            labels = [label(role, item) for role, item in zip(node.roles, node.items)]
            for slot, (cls, _), left, right in zip(slots, node.gaps, labels, labels[1:]):
                key = f"{slot}|{left}|{right}"
                canonical = gaps.get(key, gaps[slot])
                if canonical == cls or (canonical.startswith("\n") and cls.startswith("\n")):
                    continue
                how = ("removes newline" if canonical.startswith("\n") else
                       "adds newline" if cls.startswith("\n") else "spacing")
                yield name, key, cls, how

    # --- the saved description ------------------------------------------------------------------
    def to_json(self) -> dict:
        return self.conversion.to_json()

    @classmethod
    def from_json(cls, description: dict, *, grammar: Grammar | None = None) -> "TreeSitterLanguage":
        conversion = TreeSitterConversion.from_json(description)
        return cls(conversion.language_name, conversion=conversion, grammar=grammar)

    # --- code -> tree -------------------------------------------------------------------------
    def parse(self, code: str) -> Node:
        raw = self.reader.read(code)
        expected = self.conversion.type_of_kind.get(raw.kind)
        if expected != self.grammar.root_type:
            raise UnseenShape(f"unseen shape: {describe(raw.kind, self._shape(raw))} at the root (the training "
                              f"programs had {self.grammar.root_type!r} nodes there)")
        return self._node(raw)

    def _shape(self, raw) -> tuple:
        if raw.text is not None:
            return (("text",),) if raw.text else ()
        return compress(raw.kind, raw.roles, self.conversion.separators, self.conversion.singles)[0]

    def _node(self, raw) -> Node:
        c = self.conversion
        if raw.text is not None:
            shape, element_of = self._shape(raw), []
        else:
            shape, element_of, _ = compress(raw.kind, raw.roles, c.separators, c.singles)
        name = c.constructor_for(raw.kind, shape)
        info, constructor = c.constructors[name], self.grammar.constructor(name)
        items: dict[int, list] = {}
        for item, e in zip(raw.items, element_of):
            if item is not None:
                items.setdefault(e, []).append(item)
        values, k = [], 0
        for e, element in enumerate(shape):
            if element[0] == "tok":
                continue
            field = constructor.fields[k]
            k += 1
            if element[0] == "text":
                values.append(raw.text)
                continue
            converted = []
            for item in items[e]:
                if e in info.primitive:
                    kind = self._kind_of_type[info.primitive[e]]
                    if item.kind != kind or not item.text:
                        raise UnseenShape(f"unseen shape: a {item.kind!r} node in field {field.name!r} of "
                                          f"{describe(raw.kind, shape)} (the training programs had only {kind!r} "
                                          f"tokens there)")
                    converted.append(item.text)
                else:
                    if c.type_of_kind.get(item.kind) != field.type:
                        seen = "a kind never seen" if item.kind not in c.type_of_kind else "never seen there"
                        raise UnseenShape(f"unseen shape: {describe(item.kind, self._shape(item))} in field "
                                          f"{field.name!r} of {describe(raw.kind, shape)} ({seen}; the field holds "
                                          f"{field.type!r} nodes)")
                    converted.append(self._node(item))
            values.append(tuple(converted) if element[0] == "many" else converted[0])
        return Node(constructor, tuple(values))

    # --- tree -> code -------------------------------------------------------------------------
    def unparse(self, tree: Node) -> str:
        return "".join(self._write(tree).parts)

    def unparse_tokens(self, tree: Node) -> list[str]:
        return self._write(tree).tokens

    def _write(self, tree: Node) -> "_Writer":
        writer = _Writer()
        self._emit(tree, self.grammar.root_type, writer)
        return writer

    def _emit(self, node, type_name: str, w: "_Writer") -> None:
        self._kind_of(node, type_name)
        if node.constructor.type != type_name:
            raise ConversionError(f"{node.constructor.name} (type {node.constructor.type!r}) cannot stand where "
                                  f"type {type_name!r} is expected")
        info, base, k = self.conversion.constructors[node.constructor.name], w.indent, 0
        left = None  # what the last child was (see `label`): gaps may depend on it

        def gap(slot: str, right: str) -> None:
            w.gap(info.gaps.get(f"{slot}|{left}|{right}", info.gaps[slot]), base, slot in info.glue)

        for e, element in enumerate(info.shape):
            if element[0] == "tok":
                if e:
                    gap(str(e), json.dumps(element[1], ensure_ascii=False))
                w.token(element[1])
                left = json.dumps(element[1], ensure_ascii=False)
                continue
            field, value = node.constructor.fields[k], node.values[k]
            k += 1
            if element[0] == "many":
                if not isinstance(value, tuple) or not value:
                    raise ConversionError(f"field {field!r} needs a tuple of at least one value, got {value!r}")
                values = value
            else:
                values = (value,)
            for i, v in enumerate(values):
                if field.is_primitive:
                    if not isinstance(v, str) or not v:
                        raise ConversionError(f"field {field!r} needs a non-empty {field.type} token, got {v!r}")
                    right = self._kind_of_type[field.type]
                else:
                    right = self._kind_of(v, field.type)
                if i == 0:
                    if e:
                        gap(str(e), right)
                elif element[2] is None:
                    gap(f"{e}=", right)
                else:
                    sep = json.dumps(element[2][0], ensure_ascii=False)
                    gap(f"{e}<", sep)
                    w.token(element[2][0])
                    left = sep
                    gap(f"{e}>", right)
                if field.is_primitive:
                    w.token(v)
                else:
                    self._emit(v, field.type, w)
                left = right

    def _kind_of(self, node, type_name: str) -> str:
        if not isinstance(node, Node) or node.constructor.name not in self.conversion.constructors \
                or self.grammar.constructor(node.constructor.name) is not node.constructor:
            raise ConversionError(f"expected a node of grammar {self.grammar.name!r} of type {type_name!r}, "
                                  f"got {node!r}")
        return self.conversion.constructors[node.constructor.name].kind

    # --- the rest of the Language protocol ------------------------------------------------------
    def canonicalize(self, code: str) -> str:
        return self.unparse(self.parse(code))

    def token_ok(self, type_name: str, token: str) -> bool:
        """May a field of primitive type `type_name` hold `token`? (See the module docstring.)"""
        kind = self._kind_of_type.get(type_name)
        if kind is None or not isinstance(token, str) or not token:
            return False
        key = (type_name, token)
        if key not in self._ok:
            self._ok[key] = token in self.conversion.listed.get(type_name, ()) or any(
                token_fits(self.reader.parser, kind, context, token)
                for context in self.conversion.contexts.get(type_name, ()))
        return self._ok[key]

    def encode_literal(self, type_name: str, value) -> str:
        if not self.token_ok(type_name, value):
            raise ConversionError(f"{value!r} is not a {type_name} token")
        return value

    decode_literal = encode_literal  # a leaf's value is its text

    def substitute(self, code: str, slots) -> tuple[str, frozenset[str]]:
        """Slot values found in the text -> slot names, where it still parses (tranx.languages.text_slots)."""
        return substitute_text(code, slots, self.parse)

    def restore(self, code: str, slots) -> str:
        return restore_text(code, slots)

    def tokenize(self, code: str) -> list[str]:
        """The tokens of the canonical form (leaves and anonymous tokens); a crude split when the code does not
        convert."""
        try:
            return self.unparse_tokens(self.parse(code))
        except ConversionError:
            return re.findall(r"\w+|\S", code)

    def check(self, code: str) -> str | None:
        return None  # tree-sitter says nothing beyond its syntax

    def pretty(self, code: str, style: str = "plain") -> str:
        try:
            return self.canonicalize(code)
        except ConversionError:
            return code


_STRENGTH = {"": 0, " ": 1}


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_" or ord(ch) >= 0x80


class _Writer:
    """Tokens joined by the whitespace rule: a gap is "", " " or "\\n<offset>" (a newline, then the indentation of
    the line where the node started plus the offset); an empty gap between word characters is a space unless training
    saw it glued."""

    def __init__(self):
        self.parts: list[str] = []
        self.tokens: list[str] = []
        self.indent = 0
        self._pending: tuple[str, bool] | None = None

    def gap(self, cls: str, base: int, glue: bool) -> None:
        if cls.startswith("\n"):
            self.indent = max(0, base + int(cls[1:]))
            self.parts.append("\n" + " " * self.indent)
            self._pending = None
        elif self._pending is None or _STRENGTH[cls] > _STRENGTH[self._pending[0]]:
            self._pending = (cls, glue)

    def token(self, text: str) -> None:
        if not text:
            return
        if self._pending is not None:
            cls, glue = self._pending
            if cls == "" and not glue and self.parts and _is_word(self.parts[-1][-1:] or " ") and _is_word(text[0]):
                cls = " "
            if cls:
                self.parts.append(cls)
            self._pending = None
        self.parts.append(text)
        self.tokens.append(text)
        if "\n" in text:
            line = text.rsplit("\n", 1)[1]
            self.indent = len(line[:len(line) - len(line.lstrip(" \t\f"))].expandtabs(8))




@dataclass
class RoundTrip:
    """What `round_trip` found: programs tree-sitter rejects (`errors`), programs of an unseen shape (`unseen`), and
    of the rest, how many trees survive unparse and parse (`trees`), and how many texts come back identical (`exact`)
    or identical up to the amount of whitespace (`spacing`: runs of whitespace read as one space)."""

    total: int = 0
    errors: int = 0
    unseen: int = 0
    trees: int = 0
    exact: int = 0
    spacing: int = 0
    failures: list = dataclass_field(default_factory=list)  # (index, what went wrong), tree round trips only


def round_trip(language: TreeSitterLanguage, programs) -> RoundTrip:
    """Parse, unparse and parse again each program (see `RoundTrip`)."""
    report = RoundTrip()
    for i, code in enumerate(programs):
        report.total += 1
        try:
            tree = language.parse(code)
        except UnseenShape:
            report.unseen += 1
            continue
        except ConversionError:
            report.errors += 1
            continue
        text = language.unparse(tree)
        try:
            same = language.parse(text) == tree
        except ConversionError as exc:
            report.failures.append((i, f"the canonical text does not parse: {exc}"))
            continue
        if not same:
            report.failures.append((i, f"the canonical text {text!r} parses into another tree"))
            continue
        report.trees += 1
        report.exact += text == code
        report.spacing += " ".join(text.split()) == " ".join(code.split())
    return report


__all__ = ["RoundTrip", "TreeSitterLanguage", "UnseenShape", "round_trip"]
