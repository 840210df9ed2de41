"""What tranx.languages.tree_sitter_grammar induces: shapes (a node kind's sequence of child roles, with runs of
children compressed), each constructor's concrete syntax, and the conversion object with its JSON form (a checkpoint
loads a tree-sitter language from it without the training programs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field as dataclass_field

from tranx.errors import GrammarError
from tranx.grammar.asdl import Grammar, parse_asdl
from tranx.languages.tree_sitter_reading import UnseenShape

FORMAT = 1  # version of the JSON description


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
