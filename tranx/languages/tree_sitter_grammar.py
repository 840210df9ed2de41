"""An ASDL action grammar induced from a tree-sitter language and parsed programs (the conversion half of
tranx.languages.tree_sitter_language).

Why: any tree-sitter language should be a target without a hand-written adapter. The Python binding exposes node kinds,
field names and supertypes but not the order of children or where keywords go (the wheels ship no node-types.json),
so, as GrammarT5 does, the rules come from observed parse trees: `induce_grammar(language, programs, name)`.

Reading a program (`Reader.read`): tree-sitter's tree, with extras (comments, line continuations) dropped, becomes a
`Raw` tree. A node with no children at all is a *leaf* and carries its source text; so does every node of an *atomic*
kind: a kind whose text is mostly not covered by its visible children (tree-sitter hides tokens inside it, like
Python's `string_content` around its `escape_sequence`s), decided at induction: at least half of the kind's nodes with
something between or around their children have non-whitespace text there. Elsewhere non-whitespace text between
tokens (Bash's stray `\\ `, an extra tree-sitter shows no node for) is dropped and counted in
`InductionReport.text_dropped`.

A node's *shape* is the sequence of its children's roles, compressed (`compress`):
- `("tok", text, field)`: an anonymous token (keyword, punctuation) with its source text (tree-sitter-bash sometimes
  folds whitespace into one, `' "'`: the text, not the kind, is what unparse must write);
- `("one", field)`: a named child (field None when it is in no field);
- `("many", field, sep)`: a run of named children in the same role, with no token between them (sep None) or one
  separator token `sep` = (text, field) between each two (`a, b, c`, `cmd | cmd`). A separator counts when some
  training run had three items with it (`a if b else c` is no run); a child alone in its role is a run of one when
  training saw runs of several between the same neighbours (`f(a)` and `f(a, b)` share a shape);
- `("text",)`: a leaf's text.

The induced ASDL (each constructor followed by a `--` comment with its concrete syntax):
- a primitive type per leaf kind, its name upper-cased (`word` -> `WORD`): one token, its source text;
- one constructor per observed (kind, shape): named after the kind when the kind has one shape, else `kind_1`,
  `kind_2`, ... from the most frequent shape; a field per "one"/"many" element (`many` -> `*`, never empty: unparse
  rejects an empty run, as lark's `x+`), named after its tree-sitter field, else after its type; a leaf shape has one
  field `text`. A field that held only leaves of one kind K in all training trees is a field of K's primitive type (no
  node: `$x` is `simple_expansion(VARIABLE_NAME variable_name)`), which keeps trees small;
- ASDL types: kinds that stand in the same field share one type (an ASDL field has one type): a union-find over the
  observed fields and the root, seeded by the supertypes tree-sitter declares; a type is named after the declared
  supertype when that covers at least half of its kinds, else after its most frequent kind. The root type holds the
  root kinds (`program`, `module`).
A node whose shape, or whose child's kind in a field, was never seen in training raises `UnseenShape` (a
ConversionError) naming the kind and the shape; decoding can only produce observed shapes anyway.

Whitespace rule: each gap between two tokens of a constructor (between its elements, around the separators and between
the items of a run; measured from the last token of one child to the first token of the next) is written as the class
of whitespace most often found there in the training trees, between the same two kinds (or token texts) when training
saw them there, else between any: "" (none), " " (one space) or a newline followed by the
indentation of the line of the node's first token plus the most frequent offset (Python's blocks: +4); blank lines
collapse, comments are dropped, line continuations are spaces. Ties go to " ". A gap never seen (the items of a run seen
only alone) is " " (before a separator: ""). An empty gap between two word characters ([A-Za-z0-9_] or non-ASCII)
becomes " " unless training saw such a pair glued in that gap (`$1abc` in a Bash concatenation). So text round-trips
exactly when it is written the way most training programs write it.

Token contexts (for TreeSitterLanguage.token_ok): per primitive type, a few small programs from training (the smallest
enclosing node that parses alone), added greedily until every training token of the type parses as that kind in one of
them (at most `_MAX_CONTEXTS`; tokens that fit none are listed).

`InductionReport` counts what induction met: programs, tree-sitter errors (`has_error`, skipped), programs whose text
was dropped, atomic kinds, and (filled in by TreeSitterLanguage, which checks that every training tree round-trips)
the gaps it pinned and the trees that still fail. The conversion serialises to JSON (`to_json`/`from_json`: ASDL
text, shapes, separators, gaps, contexts), so a checkpoint loads without the training data.

Left out: node-types.json (not shipped), piece types (a leaf is one GenToken), optional fields (a missing child is
another shape), and the text of extras (comments are dropped).
"""

from __future__ import annotations

import bisect
import importlib
import itertools
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field as dataclass_field
from types import ModuleType

import tree_sitter

from tranx.errors import ConversionError, GrammarError
from tranx.grammar.asdl import Grammar, parse_asdl

FORMAT = 1  # version of the JSON description
_ASDL_KEYWORDS = {"module", "attributes"}  # read as keywords by the ASDL reader: never a name
_CONTINUATION = re.compile(r"\\\r?\n")
_MAX_CONTEXTS = 8  # token contexts per primitive type; tokens that fit none are listed


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


# --- shapes ----------------------------------------------------------------------------------------------------------

def compress(kind: str, roles: list, separators: dict | None, singles: dict | None = None
             ) -> tuple[tuple, list[int], list[str]]:
    """A node's roles -> (its shape, the element of each child, the gap slot before each child but the first).

    `separators[kind, field]`: the separators (None: none) that runs of that role may have; with `separators` None
    (while learning them), any run is one. `singles[kind, before, role, after]`: the separator of a run of one, for a
    child alone in its role between the roles `before` and `after` (None at an end), where runs of several were seen.
    Gap slots: `"<e>"` before element e, `"<e><"` before a separator of run e, `"<e>>"` after it, `"<e>="` between two
    items of run e with no separator."""
    shape, element_of, slots, i, n = [], [], [], 0, len(roles)
    while i < n:
        role, e = roles[i], len(shape)
        if i:
            slots.append(str(e))
        element_of.append(e)
        if role[0] == "tok":
            shape.append(role)
            i += 1
            continue
        allowed = None if separators is None else separators.get((kind, role[1]), ())
        context = (kind, roles[i - 1] if i else None, role, roles[i + 1] if i + 1 < n else None)
        if i + 1 < n and roles[i + 1] == role and (allowed is None or None in allowed):
            sep = None
        elif i + 2 < n and roles[i + 1][0] == "tok" and roles[i + 2] == role \
                and (allowed is None or roles[i + 1][1:] in allowed):
            sep = roles[i + 1][1:]
        elif singles and context in singles:
            sep = singles[context]
        else:
            shape.append(role)
            i += 1
            continue
        i += 1
        if sep is None:
            while i < n and roles[i] == role:
                slots.append(f"{e}=")
                element_of.append(e)
                i += 1
        else:
            while i + 1 < n and roles[i] == ("tok", *sep) and roles[i + 1] == role:
                slots += [f"{e}<", f"{e}>"]
                element_of += [e, e]
                i += 2
        shape.append(("many", role[1], sep))
    return tuple(shape), element_of, slots


def describe(kind: str, shape: tuple) -> str:
    """A shape as a person reads it: `command(name: _, argument: _+)`, tokens quoted."""
    parts = []
    for element in shape:
        if element[0] == "text":
            parts.append("<text>")
        elif element[0] == "tok":
            parts.append(f"{element[2]}: {element[1]!r}" if element[2] else repr(element[1]))
        else:
            item = f"{element[1]}: _" if element[1] else "_"
            if element[0] == "many":
                item += f" ({element[2][0]!r} _)*" if element[2] else "+"
            parts.append(item)
    return f"{kind}({', '.join(parts)})"


# --- the conversion ------------------------------------------------------------------------------------------------

@dataclass
class Syntax:
    """What parse and unparse need of one constructor: its kind, shape, the primitive type of each child element held
    as tokens (None: a node), the whitespace class of each gap slot, and the slots where word characters may touch."""

    kind: str
    shape: tuple
    primitive: dict[int, str]  # element -> primitive type of its tokens
    gaps: dict[str, str]  # slot (see `compress`) -> class; "slot|left|right" where those neighbours differ
    glue: frozenset[str]


@dataclass
class InductionReport:
    programs: int = 0
    errors: int = 0  # tree-sitter has_error: skipped
    rejected: list = dataclass_field(default_factory=list)  # their indices
    text_dropped: int = 0  # programs where non-whitespace text between tokens was dropped
    atomic: tuple = ()
    pinned: int = 0  # gaps set by TreeSitterLanguage so that every training tree round-trips
    failures: list = dataclass_field(default_factory=list)  # indices of training trees that still do not round-trip


@dataclass
class TreeSitterConversion:
    """The induced grammar and what parsing and unparsing its trees need (see the module docstring)."""

    language_name: str
    name: str
    asdl_text: str
    grammar: Grammar
    constructors: dict[str, Syntax]  # constructor name -> its concrete syntax
    type_of_kind: dict[str, str]  # kind -> ASDL type, for the kinds that build nodes
    leaf_types: dict[str, str]  # leaf kind -> its primitive type
    separators: dict[tuple[str, str | None], tuple]  # (kind, field) -> separators of its runs (None: none)
    singles: dict[tuple, tuple | None]  # (kind, role before, role, role after) -> separator of a run of one
    atomic: frozenset[str]
    contexts: dict[str, list[tuple[str, int, int]]]  # primitive type -> programs where a token is tested
    listed: dict[str, frozenset[str]]  # primitive type -> training tokens no context accepts
    report: InductionReport = dataclass_field(default_factory=InductionReport)
    version: str = ""
    _index: dict = dataclass_field(default_factory=dict, repr=False)

    def __post_init__(self):
        self._index = {(c.kind, c.shape): name for name, c in self.constructors.items()}

    def constructor_for(self, kind: str, shape: tuple) -> str:
        """The constructor of an observed (kind, shape); UnseenShape otherwise."""
        try:
            return self._index[kind, shape]
        except KeyError:
            seen = "a kind never seen" if kind not in self.type_of_kind else "a shape never seen"
            raise UnseenShape(f"unseen shape: {describe(kind, shape)} ({seen} in the training programs)") from None

    # --- JSON --------------------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "format": FORMAT, "language": self.language_name, "version": self.version, "name": self.name,
            "asdl": self.asdl_text, "primitive_types": sorted(self.grammar.primitive_types),
            "constructors": {name: {"kind": c.kind, "shape": [list(_json_element(e)) for e in c.shape],
                                    "primitive": {str(k): v for k, v in sorted(c.primitive.items())},
                                    "gaps": dict(sorted(c.gaps.items())), "glue": sorted(c.glue)}
                             for name, c in self.constructors.items()},
            "types": dict(sorted(self.type_of_kind.items())), "leaf_types": dict(sorted(self.leaf_types.items())),
            "separators": [[kind, fld, [None if sep is None else list(sep) for sep in seps]]
                           for (kind, fld), seps in sorted(self.separators.items(),
                                                           key=lambda kv: (kv[0][0], kv[0][1] or ""))],
            "singles": [[kind, before, role, after, sep] for (kind, before, role, after), sep
                        in sorted(self.singles.items(), key=lambda kv: json.dumps(kv[0]))],
            "atomic": sorted(self.atomic),
            "contexts": {t: [list(c) for c in cs] for t, cs in sorted(self.contexts.items())},
            "listed": {t: sorted(s) for t, s in sorted(self.listed.items()) if s},
        }

    @classmethod
    def from_json(cls, data: dict) -> "TreeSitterConversion":
        if data.get("format") != FORMAT:
            raise GrammarError(f"tree-sitter conversion: unknown format {data.get('format')!r} (expected {FORMAT})",
                               file=f"<{data.get('name', 'tree-sitter')}.json>")
        grammar = parse_asdl(data["asdl"], file=f"<{data['name']}: induced ASDL>", name=data["name"],
                             primitive_types=frozenset(data["primitive_types"]))
        constructors = {name: Syntax(c["kind"], tuple(_element_from_json(e) for e in c["shape"]),
                                     {int(k): v for k, v in c["primitive"].items()}, dict(c["gaps"]),
                                     frozenset(c["glue"]))
                        for name, c in data["constructors"].items()}
        return cls(data["language"], data["name"], data["asdl"], grammar, constructors, dict(data["types"]),
                   dict(data["leaf_types"]),
                   {(k, f): tuple(None if sep is None else tuple(sep) for sep in seps)
                    for k, f, seps in data["separators"]},
                   {(k, _tuple(before), _tuple(role), _tuple(after)): _tuple(sep)
                    for k, before, role, after, sep in data["singles"]},
                   frozenset(data["atomic"]), {t: [tuple(c) for c in cs] for t, cs in data["contexts"].items()},
                   {t: frozenset(s) for t, s in data.get("listed", {}).items()}, version=data.get("version", ""))


def _tuple(value):
    return None if value is None else tuple(value)


def _json_element(element: tuple) -> tuple:
    if element[0] == "many" and element[2] is not None:
        return ("many", element[1], list(element[2]))
    return element


def _element_from_json(element: list) -> tuple:
    if element[0] == "many" and element[2] is not None:
        return ("many", element[1], tuple(element[2]))
    return tuple(element)


# --- induction -------------------------------------------------------------------------------------------------------

def induce_grammar(language, programs, name: str = "tree_sitter") -> TreeSitterConversion:
    """Induce the action grammar of `language` (see `load_language`) from the programs tree-sitter parses without
    error (the others are counted in the report and skipped)."""
    ts_language, language_name = load_language(language)
    return _Inducer(ts_language, language_name, list(programs), name).induce()


class _Inducer:
    def __init__(self, language: tree_sitter.Language, language_name: str, programs: list[str], name: str):
        self.language, self.language_name, self.programs, self.name = language, language_name, programs, name
        self.report = InductionReport(programs=len(programs))

    def induce(self) -> TreeSitterConversion:
        # pass 0: which kinds are atomic
        reader = Reader(self.language)
        parsed = []
        for i, code in enumerate(self.programs):
            try:
                reader.read(code)
                parsed.append(i)
            except ConversionError:
                self.report.rejected.append(i)
        self.report.errors = len(self.report.rejected)
        if not parsed:
            raise GrammarError(f"none of the {len(self.programs)} programs parses without error: nothing to induce "
                               f"a grammar from", file=f"<{self.name}>")
        atomic = frozenset(k for k, n in reader.spaced.items() if reader.text_gaps[k] and 2 * reader.text_gaps[k] >= n)
        self.report.atomic = tuple(sorted(atomic))
        # pass 1: the Raw trees; the separators of runs
        reader = Reader(self.language, atomic)
        raws = []
        for i in parsed:
            raws.append((i, reader.read(self.programs[i])))
            self.report.text_dropped += reader.text_dropped > 0
        runs: dict = defaultdict(Counter)  # (kind, before, role, after) -> separator -> runs of several
        longest: Counter = Counter()  # (kind, field, separator) -> most items in a run
        for _, raw in raws:
            for node in _walk(raw):
                if node.text is None:
                    shape, element_of, _ = compress(node.kind, node.roles, None)
                    for e, element in enumerate(shape):
                        if element[0] == "many":
                            at = [j for j, x in enumerate(element_of) if x == e]
                            role = ("one", element[1])
                            runs[node.kind, node.roles[at[0] - 1] if at[0] else None, role,
                                 node.roles[at[-1] + 1] if at[-1] + 1 < len(node.roles) else None][element[2]] += 1
                            key = (node.kind, element[1], element[2])
                            longest[key] = max(longest[key], sum(node.roles[j][0] == "one" for j in at))
        # a separator token makes a run when some run of it had three items (`a, b, c`), not two (`a if b`)
        ok = {key for key, most in longest.items() if most >= (2 if key[2] is None else 3)}
        separators, singles = defaultdict(set), {}
        for (kind, before, role, after), counter in runs.items():
            seps = [sep for sep in counter if (kind, role[1], sep) in ok]
            separators[kind, role[1]].update(seps)
            if seps:
                singles[kind, before, role, after] = min(seps, key=lambda s: (-counter[s], s is not None, str(s)))
        separators = {key: tuple(sorted(seps, key=str)) for key, seps in separators.items() if seps}
        # pass 2: shapes, what stands in each child element, gaps
        shapes: dict = {}  # (kind, shape) -> count; dict order: first seen
        kind_count: Counter = Counter()
        children: dict = defaultdict(list)  # (kind, shape, element) -> [Raw]
        gap_counts: dict = defaultdict(Counter)  # (kind, shape, slot) -> Counter of classes
        pair_counts: dict = defaultdict(lambda: defaultdict(Counter))  # ... -> (left, right) -> Counter of classes
        glued: dict = defaultdict(set)  # (kind, shape) -> slots seen glued
        root_kinds: dict = {}
        leaf_tokens: dict = defaultdict(dict)  # leaf kind -> token -> (program, span)
        for program, raw in raws:
            root_kinds.setdefault(raw.kind, None)
            for node in _walk(raw):
                kind_count[node.kind] += 1
                if node.text is not None:
                    shape = (("text",),) if node.text else ()
                    if node.text:
                        leaf_tokens[node.kind].setdefault(node.text, (program, node.span))
                    shapes[node.kind, shape] = shapes.get((node.kind, shape), 0) + 1
                    continue
                shape, element_of, slots = compress(node.kind, node.roles, separators, singles)
                shapes[node.kind, shape] = shapes.get((node.kind, shape), 0) + 1
                for item, e in zip(node.items, element_of):
                    if item is not None:
                        children[node.kind, shape, e].append(item)
                labels = [label(role, item) for role, item in zip(node.roles, node.items)]
                for slot, (cls, glue), left, right in zip(slots, node.gaps, labels, labels[1:]):
                    gap_counts[node.kind, shape, slot][cls] += 1
                    pair_counts[node.kind, shape, slot][left, right][cls] += 1
                    if glue:
                        glued[node.kind, shape].add(slot)
        # which child elements hold tokens of one leaf kind
        primitive_of: dict = {}  # (kind, shape, element) -> leaf kind
        for key, items in children.items():
            kinds = {item.kind for item in items}
            if len(kinds) == 1 and all(item.text for item in items):
                primitive_of[key] = items[0].kind
        # the types: a union-find over the kinds of node-holding elements, the root kinds and declared supertypes
        parent: dict = {}

        def find(k):
            parent.setdefault(k, k)
            while parent[k] != k:
                parent[k] = parent[parent[k]]
                k = parent[k]
            return k

        def union(kinds):
            kinds = list(kinds)
            for k in kinds:
                find(k)
            for a, b in zip(kinds, kinds[1:]):
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[rb] = ra
        node_kinds = set()
        for key, items in children.items():
            if key not in primitive_of:
                node_kinds |= {item.kind for item in items}
                union(item.kind for item in items)
        node_kinds |= set(root_kinds)
        union(root_kinds)
        supertype_members = {}
        for supertype in self.language.supertypes:
            members = _subtype_names(self.language, supertype) & node_kinds
            supertype_members[self.language.node_kind_for_id(supertype)] = members
            union(sorted(members))
        classes: dict = defaultdict(list)
        for kind in sorted(node_kinds, key=lambda k: (-kind_count[k], k)):
            classes[find(kind)].append(kind)
        # names
        taken_types: set = set()
        type_of_kind, type_order = {}, []
        root_class = find(next(iter(root_kinds)))
        for root in sorted(classes, key=lambda r: (r != root_class, -sum(kind_count[k] for k in classes[r]),
                                                  classes[r][0])):
            kinds = classes[root]
            covered, supertype = max(((len(m & set(kinds)), s) for s, m in supertype_members.items()),
                                     default=(0, ""))
            type_name = _fresh(_identifier(supertype if len(kinds) > 1 and 2 * covered >= len(kinds) else kinds[0]),
                               taken_types)
            type_order.append(type_name)
            for k in kinds:
                type_of_kind[k] = type_name
        leaf_kinds = sorted({kind for (kind, shape) in shapes if shape == (("text",),)},
                            key=lambda k: (-kind_count[k], k))
        leaf_types = {kind: _fresh(_identifier(kind).upper(), taken_types) for kind in leaf_kinds}
        # constructors
        by_kind: dict = defaultdict(list)
        for (kind, shape), count in shapes.items():
            if kind in type_of_kind:
                by_kind[kind].append((shape, count))
        taken_ctors: set = set()
        constructors: dict = {}
        asdl_ctors: dict = defaultdict(list)
        for kind in sorted(by_kind, key=lambda k: (type_order.index(type_of_kind[k]), -kind_count[k], k)):
            ordered = sorted(by_kind[kind], key=lambda sc: -sc[1])
            for number, (shape, _) in enumerate(ordered, 1):
                ctor = _fresh(_identifier(kind) if len(ordered) == 1 else f"{_identifier(kind)}_{number}", taken_ctors,
                              sep="_")
                fields, field_names, primitive, template = [], set(), {}, []
                for e, element in enumerate(shape):
                    if element[0] == "text":
                        fields.append(f"{leaf_types[kind]} text")
                        field_names.add("text")
                        template.append("text")
                        continue
                    if element[0] == "tok":
                        template.append(json.dumps(element[1], ensure_ascii=False))
                        continue
                    key = (kind, shape, e)
                    if key in primitive_of:
                        primitive[e] = leaf_types[primitive_of[key]]
                        field_type, default = primitive[e], _identifier(primitive_of[key])
                    else:
                        field_type = type_of_kind[children[key][0].kind]
                        default = field_type.lstrip("_") or "child"
                    field_name = _fresh(_identifier(element[1] or default), field_names, sep="")
                    fields.append(f"{field_type}{'*' if element[0] == 'many' else ''} {field_name}")
                    if element[0] == "one":
                        template.append(field_name)
                    elif element[2] is None:
                        template.append(f"{field_name}+")
                    else:
                        template.append(f"{field_name} ({json.dumps(element[2][0], ensure_ascii=False)} {field_name})*")
                gaps = {}
                for slot in _slots(shape):
                    counts = gap_counts.get((kind, shape, slot))
                    gaps[slot] = _gap_class(counts) if counts else ("" if slot.endswith("<") else " ")
                    for (left, right), pair in pair_counts.get((kind, shape, slot), {}).items():
                        if _gap_class(pair) != gaps[slot]:
                            gaps[f"{slot}|{left}|{right}"] = _gap_class(pair)
                constructors[ctor] = Syntax(kind, shape, primitive, gaps, frozenset(glued.get((kind, shape), ())))
                asdl_ctors[type_of_kind[kind]].append((f"{ctor}({', '.join(fields)})" if fields else ctor)
                                                      + f"  -- {' '.join(template) or '(nothing)'}")
        lines = [f"{t} = " + f"\n{' ' * len(t)} | ".join(asdl_ctors[t]) for t in type_order if asdl_ctors[t]]
        asdl_text = "\n".join(lines) + "\n"
        grammar = parse_asdl(asdl_text, file=f"<{self.name}: induced ASDL>", name=self.name,
                             primitive_types=frozenset(leaf_types.values()))
        conversion = TreeSitterConversion(
            self.language_name, self.name, asdl_text, grammar, constructors,
            {k: t for k, t in type_of_kind.items() if k in by_kind}, leaf_types,
            separators, singles, atomic, {}, {}, self.report,
            version=".".join(map(str, self.language.semantic_version or ())))
        self._contexts(conversion, leaf_tokens)
        return conversion

    def _contexts(self, conversion: TreeSitterConversion, leaf_tokens: dict) -> None:
        """Per primitive type, a few small programs to test a token in (see TreeSitterLanguage.token_ok): greedily,
        until each training token fits one; tokens that fit none of `_MAX_CONTEXTS` are listed."""
        reader = Reader(self.language, conversion.atomic)
        for kind, tokens in leaf_tokens.items():
            type_name = conversion.leaf_types[kind]
            contexts, listed = conversion.contexts.setdefault(type_name, []), set()
            for token, (program, span) in tokens.items():
                if any(token_fits(reader.parser, kind, context, token) for context in contexts):
                    continue
                if len(contexts) >= _MAX_CONTEXTS:
                    listed.add(token)
                    continue
                context = _small_context(reader, self.programs[program], span, kind)
                if context is None or not token_fits(reader.parser, kind, context, token):
                    listed.add(token)
                else:
                    contexts.append(context)
            conversion.listed[type_name] = frozenset(listed)


def token_fits(parser: tree_sitter.Parser, kind: str, context: tuple[str, int, int], token: str) -> bool:
    """Does `token`, put in place of the token at bytes [start, end) of program `context`, parse as exactly one node
    of `kind` (the program staying free of errors)?"""
    text, start, end = context
    encoded = text.encode("utf-8")
    value = token.encode("utf-8")
    tree = parser.parse(encoded[:start] + value + encoded[end:])
    if tree.root_node.has_error:
        return False
    node = tree.root_node.descendant_for_byte_range(start, start + len(value))
    while node is not None and (node.start_byte, node.end_byte) == (start, start + len(value)):
        if node.type == kind:
            return True
        node = node.parent
    return False


def _small_context(reader: Reader, code: str, span: tuple[int, int], kind: str):
    """The smallest enclosing node of the leaf at `span` whose text, parsed alone, still holds that leaf."""
    tree, source = reader.parse_tree(code)
    node = tree.root_node.descendant_for_byte_range(*span)
    token = source[span[0]:span[1]].decode("utf-8")
    while node is not None:
        text = source[node.start_byte:node.end_byte].decode("utf-8")
        context = (text, span[0] - node.start_byte, span[1] - node.start_byte)
        if token_fits(reader.parser, kind, context, token):
            return context
        node = node.parent
    return None


def label(role: tuple, item) -> str:
    """What stands on one side of a gap, for gaps that depend on it: a child's kind, or a token's text in quotes."""
    return json.dumps(role[1], ensure_ascii=False) if role[0] == "tok" else item.kind


def _slots(shape: tuple) -> list[str]:
    slots = []
    for e, element in enumerate(shape):
        if e:
            slots.append(str(e))
        if element[0] == "many":
            slots += [f"{e}=" ] if element[2] is None else [f"{e}<", f"{e}>"]
    return slots


def _gap_class(counts: Counter) -> str:
    return max(counts, key=lambda c: (counts[c], c == " ", c == ""))


def _walk(raw: Raw):
    stack = [raw]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(item for item in reversed(node.items) if item is not None)


def _subtype_names(language: tree_sitter.Language, supertype: int) -> set[str]:
    """The kinds under a supertype, through nested supertypes."""
    names, todo, seen, supertypes = set(), [supertype], set(), set(language.supertypes)
    while todo:
        symbol = todo.pop()
        if symbol in seen:
            continue
        seen.add(symbol)
        for sub in language.subtypes(symbol):
            if sub in supertypes:  # (node_kind_is_supertype answers True for every subtype in py-tree-sitter 0.26.1)
                todo.append(sub)
            else:
                names.add(language.node_kind_for_id(sub))
    return names


def _identifier(text: str) -> str:
    name = re.sub(r"\W", "_", text, flags=re.ASCII) or "_"
    if name[0].isdigit():
        name = "_" + name
    return name + "_" if name.lower() in _ASDL_KEYWORDS else name


def _fresh(name: str, taken: set, sep: str = "_") -> str:
    fresh = next(n for n in itertools.chain([name], (f"{name}{sep}{k}" for k in itertools.count(2))) if n not in taken)
    taken.add(fresh)
    return fresh
