"""Reading tree-sitter trees for tranx.languages.tree_sitter_grammar: a grammar wheel by name, and a parsed program
as `Raw` nodes (kind, field roles, anonymous tokens with their text, leaves with their source text, the whitespace of
each gap); comments and other extras dropped, line continuations read as spaces.
"""

from __future__ import annotations

import bisect
import importlib
import re
from collections import Counter
from dataclasses import dataclass, field as dataclass_field
from types import ModuleType

import tree_sitter

from tranx.errors import ConversionError, GrammarError

_CONTINUATION = re.compile(r"\\\r?\n")


class UnseenShape(ConversionError):
    """A node of a shape (or a child of a kind in a field) that the training programs never showed."""


def load_language(spec) -> tuple[tree_sitter.Language, str]:
    """A tree-sitter language and its name, from a `tree_sitter.Language`, a grammar module (`tree_sitter_bash`), its
    name, or the language's name (`"bash"` -> `tree_sitter_bash`)."""
    if isinstance(spec, tree_sitter.Language):
        return spec, spec.name or ""
    module = spec
    if isinstance(spec, str):
        name = spec if spec.startswith("tree_sitter_") else f"tree_sitter_{spec.replace('-', '_')}"
        try:
            module = importlib.import_module(name)
        except ImportError:
            raise GrammarError(f"no tree-sitter grammar module {name!r} (pip install {name.replace('_', '-')})",
                               file=f"<{spec}>") from None
    if not isinstance(module, ModuleType) or not hasattr(module, "language"):
        raise GrammarError(f"{spec!r} is not a tree-sitter grammar module (no language())", file=f"<{spec}>")
    language = tree_sitter.Language(module.language())
    return language, language.name or module.__name__.removeprefix("tree_sitter_")


# --- reading: tree-sitter tree -> Raw ------------------------------------------------------------------------------

@dataclass(eq=False)
class Raw:
    """A node as the converter sees it: its kind and either its text (a leaf) or its children, each with its role
    (`("tok", text, field)` with item None, or `("one", field)` with item a Raw), and the gap before each child but the
    first: (whitespace class, glued) where glued says the gap is empty between two word characters."""

    kind: str
    text: str | None
    roles: list = dataclass_field(default_factory=list)
    items: list = dataclass_field(default_factory=list)
    gaps: list = dataclass_field(default_factory=list)
    span: tuple[int, int] = (0, 0)


def _word_byte(b: int) -> bool:
    return b >= 0x80 or chr(b).isalnum() or b == 0x5F


class Reader:
    """Parses code with tree-sitter into `Raw` trees; `atomic` kinds are read as leaves."""

    def __init__(self, language: tree_sitter.Language, atomic: frozenset[str] = frozenset()):
        self.language, self.atomic = language, frozenset(atomic)
        self.parser = tree_sitter.Parser(language)
        self.text_dropped = 0  # non-whitespace gaps dropped by the last read
        self.text_gaps: Counter = Counter()  # kind -> nodes with a non-whitespace gap (for the atomic decision)
        self.spaced: Counter = Counter()  # kind -> nodes with a non-empty gap

    def parse_tree(self, code: str) -> tuple[tree_sitter.Tree, bytes]:
        source = code.encode("utf-8")
        tree = self.parser.parse(source)
        if tree.root_node.has_error:
            raise ConversionError(f"tree-sitter cannot parse the code: {_first_error(tree.root_node, source)}")
        return tree, source

    def read(self, code: str) -> Raw:
        """Code -> Raw tree; ConversionError when tree-sitter finds an error."""
        tree, source = self.parse_tree(code)
        self.text_dropped = 0
        self._source, self._indents, self._extras, self._todo = source, {}, [], []
        raw = self._raw(tree.root_node)
        self._extras.sort()
        self._starts = [start for start, _ in self._extras]
        for node, spans in self._todo:
            self._classify(node, spans)
        return raw

    def _indent(self, offset: int) -> int:
        """The indentation (columns, tabs to 8) of the source line holding byte `offset`."""
        start = self._source.rfind(b"\n", 0, offset) + 1
        if start not in self._indents:
            end = start
            while end < len(self._source) and self._source[end] in b" \t\f":
                end += 1
            self._indents[start] = len(self._source[start:end].decode("latin-1").expandtabs(8))
        return self._indents[start]

    def _raw(self, node: tree_sitter.Node) -> Raw:
        """The Raw tree of `node`; its gaps are classified once the whole tree is read (`_classify`)."""
        source, kind = self._source, node.type
        if node.child_count == 0 or kind in self.atomic:
            span = (node.start_byte, node.end_byte)
            return Raw(kind, source[span[0]:span[1]].decode("utf-8"), span=span)
        raw, spans = Raw(kind, None), []  # spans: of each child's tokens
        pieces, previous, text_gap, spaced = [], node.start_byte, False, False
        for i, child in enumerate(node.children):  # text between the children: is any of it not whitespace?
            pieces.append(source[previous:child.start_byte])
            previous = child.end_byte
            if child.is_extra:
                self._extras.append((child.start_byte, child.end_byte))
                continue
            gap = _CONTINUATION.sub(" ", b"".join(pieces).decode("utf-8"))
            pieces = []
            spaced = spaced or bool(gap)
            if gap.strip():
                text_gap = True
                self.text_dropped += 1
            field_name = node.field_name_for_child(i)
            if child.is_named:
                item = self._raw(child)
                raw.roles.append(("one", field_name))
                raw.items.append(item)
                spans.append(item.span)
            else:
                raw.roles.append(("tok", source[child.start_byte:child.end_byte].decode("utf-8"), field_name))
                raw.items.append(None)
                spans.append((child.start_byte, child.end_byte))
        pieces.append(source[previous:node.end_byte])
        if _CONTINUATION.sub(" ", b"".join(pieces).decode("utf-8")).strip():
            text_gap = True
            self.text_dropped += 1
        raw.span = (spans[0][0], spans[-1][1]) if spans else (node.start_byte, node.start_byte)
        self._todo.append((raw, spans))
        self.spaced[kind] += spaced or text_gap
        self.text_gaps[kind] += text_gap
        return raw

    def _classify(self, raw: Raw, spans: list) -> None:
        """The whitespace class of each gap between the tokens of two children: "", " ", or "\\n<offset>" (the
        indentation of the next token's line minus that of the line of the node's first token)."""
        source, base = self._source, self._indent(raw.span[0])
        for (start0, end0), (start, end) in zip(spans, spans[1:]):
            gap = self._whitespace(end0, start)
            if "\n" in gap:
                cls = f"\n{self._indent(start) - base}"
            else:
                cls = " " if gap else ""
            glued = (cls == "" and end0 > start0 and end > start
                     and _word_byte(source[end0 - 1]) and _word_byte(source[start]))
            raw.gaps.append((cls, glued))

    def _whitespace(self, start: int, end: int) -> str:
        """The whitespace between two tokens: extras (comments) and line continuations left out, other text too."""
        if end <= start:
            return ""
        pieces, position = [], start
        for k in range(bisect.bisect_left(self._starts, start), len(self._extras)):
            extra_start, extra_end = self._extras[k]
            if extra_start >= end:
                break
            pieces.append(self._source[position:extra_start])
            position = max(position, extra_end)
        pieces.append(self._source[position:end])
        text = _CONTINUATION.sub(" ", b"".join(pieces).decode("utf-8"))
        return "".join(ch for ch in text if ch.isspace())


def _first_error(root: tree_sitter.Node, source: bytes) -> str:
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            what = f"missing {node.type!r}" if node.is_missing else "unexpected " + repr(
                source[node.start_byte:node.end_byte].decode("utf-8", "replace")[:40])
            return f"{what} at line {node.start_point[0] + 1}, column {node.start_point[1] + 1}"
        stack.extend(reversed([c for c in node.children if c.has_error or c.is_missing]))
    return "error"
