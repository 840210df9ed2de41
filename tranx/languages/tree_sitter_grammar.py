"""An ASDL action grammar induced from a tree-sitter language and parsed programs (the conversion half of
tranx.languages.tree_sitter_language; reading trees is tranx.languages.tree_sitter_reading, the shapes and the
induced conversion with its JSON form tranx.languages.tree_sitter_shapes).

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

import itertools
import json
import re
from collections import Counter, defaultdict

import tree_sitter

from tranx.errors import ConversionError, GrammarError
from tranx.grammar.asdl import parse_asdl
from tranx.languages.tree_sitter_reading import Raw, Reader, UnseenShape, load_language  # noqa: F401 (re-exported)
from tranx.languages.tree_sitter_shapes import (  # noqa: F401 (re-exported)
    FORMAT, InductionReport, Syntax, TreeSitterConversion, compress, describe)

_ASDL_KEYWORDS = {"module", "attributes"}  # read as keywords by the ASDL reader: never a name
_MAX_CONTEXTS = 8  # token contexts per primitive type; tokens that fit none are listed


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
