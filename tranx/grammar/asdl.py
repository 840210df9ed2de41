"""ASDL grammars: the objects (types, constructors, fields) and the `.asdl` reader.

The reader is a Lark grammar of ASDL (comments `--`, an optional `module Name { ... }` wrapper,
sum types `t = A(x a) | B`, product types `t = (x a, y* b)`, `attributes (...)` which are parsed and
dropped, since positions are not part of what we generate). Every mistake in a grammar file raises
one `GrammarError` with file, line, column and a caret.

Left out on purpose: ASDL's `attributes` as data, and any Python-specific knowledge; which
Python values a primitive type holds is the language adapter's business.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import lark

from tranx.errors import GrammarError, TranxError

#: Types that hold values instead of constructors, unless a grammar is given others.
DEFAULT_PRIMITIVE_TYPES = frozenset(
    {"identifier", "string", "bytes", "int", "float", "complex", "singleton", "constant", "object"})

_ASDL_LARK = r"""
start: module | definitions
module: "module" NAME "{" definitions "}"
definitions: definition*
definition: NAME "=" fields attributes?                     -> product
          | NAME "=" constructor ("|" constructor)* attributes? -> sum
constructor: NAME fields?
attributes: "attributes" fields
fields: "(" field ("," field)* ")"
field: NAME QUANTIFIER? NAME
QUANTIFIER: "*" | "?"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
COMMENT: /--[^\n]*/
%import common.WS
%ignore WS
%ignore COMMENT
"""


@functools.lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    return lark.Lark(_ASDL_LARK, parser="lalr")


class Cardinality(enum.Enum):
    SINGLE = ""
    OPTIONAL = "?"
    MULTIPLE = "*"


@dataclass(frozen=True, eq=False)
class Field:
    """A field of a constructor. Identity is the equality: each grammar owns its fields."""

    name: str
    type: str
    cardinality: Cardinality
    is_primitive: bool
    id: int
    constructor: str

    def __repr__(self) -> str:
        return f"{self.constructor}.{self.name}: {self.type}{self.cardinality.value}"


@dataclass(frozen=True, eq=False)
class Constructor:
    name: str
    type: str
    fields: tuple[Field, ...]
    id: int

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ASDLType:
    name: str
    is_product: bool
    constructors: tuple[Constructor, ...]


class Grammar:
    """An immutable ASDL grammar. Constructors and fields are numbered for embedding tables."""

    def __init__(self, name: str, types: dict[str, ASDLType], primitive_types: frozenset[str],
                 root_type: str, text: str = "", piece_types: frozenset[str] = frozenset()):
        """`piece_types`: the primitive types whose values are several tokens (a regex class, a shell word, a
        SQL string), generated as GenToken pieces closed by GenToken(PIECES_END); other primitive values are one
        token each."""
        if not piece_types <= primitive_types:
            raise TranxError(f"grammar '{name}': piece types {sorted(piece_types - primitive_types)} are not "
                             f"primitive types")
        self.name = name
        self.types = types
        self.primitive_types = primitive_types
        self.piece_types = frozenset(piece_types)
        self.root_type = root_type
        self.text = text
        self.constructors: tuple[Constructor, ...] = tuple(
            sorted((c for t in types.values() for c in t.constructors), key=lambda c: c.id))
        self.fields: tuple[Field, ...] = tuple(f for c in self.constructors for f in c.fields)
        self._by_name = {c.name: c for c in self.constructors}
        # The field the first action expands; numbered after the real fields for embedding tables.
        self.root_field = Field("root", root_type, Cardinality.SINGLE, False, len(self.fields), "<root>")

    def constructor(self, name: str) -> Constructor:
        try:
            return self._by_name[name]
        except KeyError:
            raise TranxError(f"grammar '{self.name}' has no constructor '{name}'") from None

    def constructors_of(self, type_name: str) -> tuple[Constructor, ...]:
        return self.types[type_name].constructors

    def is_primitive(self, type_name: str) -> bool:
        return type_name in self.primitive_types

    def __repr__(self) -> str:
        return (f"Grammar({self.name!r}: {len(self.types)} types, {len(self.constructors)} "
                f"constructors, {len(self.fields)} fields)")


def parse_asdl(text: str, *, file: str = "<string>", name: str | None = None,
               primitive_types: frozenset[str] = DEFAULT_PRIMITIVE_TYPES,
               piece_types: frozenset[str] = frozenset()) -> Grammar:
    """Read ASDL text. The first type defined is the root type; `piece_types` (a subset of `primitive_types`)
    hold several tokens per value."""
    lines = text.splitlines()

    def error(message: str, line: int, column: int) -> GrammarError:
        source = lines[line - 1] if 0 < line <= len(lines) else ""
        return GrammarError(message, file=file, line=line, column=column, source_line=source)

    try:
        tree = _parser().parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        raise _syntax_error(exc, text, error) from None

    definitions = next(tree.find_data("definitions")).children
    if not definitions:
        raise error("grammar defines no types", 1, 1)
    raw_types: dict[str, tuple[lark.Token, bool, list]] = {}
    for definition in definitions:
        type_token = definition.children[0]
        if type_token in raw_types:
            raise error(f"duplicate type '{type_token}'", type_token.line, type_token.column)
        if type_token in primitive_types:
            raise error(f"type '{type_token}' is a primitive type and cannot be defined",
                        type_token.line, type_token.column)
        if definition.data == "product":
            raw_types[str(type_token)] = (type_token, True, [(type_token, definition.children[1])])
        else:
            ctors = [(c.children[0], c.children[1] if len(c.children) > 1 else None)
                     for c in definition.children[1:] if c.data == "constructor"]
            raw_types[str(type_token)] = (type_token, False, ctors)

    seen_constructors: dict[str, lark.Token] = {}
    types: dict[str, ASDLType] = {}
    constructor_id = field_id = 0
    for type_name, (_, is_product, ctors) in raw_types.items():
        built = []
        for ctor_token, fields_tree in ctors:
            if not is_product and ctor_token in seen_constructors:
                raise error(f"duplicate constructor '{ctor_token}'", ctor_token.line, ctor_token.column)
            seen_constructors[str(ctor_token)] = ctor_token
            fields = []
            for field_tree in fields_tree.children if fields_tree is not None else ():
                parts = field_tree.children
                ftype, fname = parts[0], parts[-1]
                quantifier = parts[1] if len(parts) == 3 else ""
                if ftype not in raw_types and ftype not in primitive_types:
                    raise error(f"undefined type '{ftype}' in field '{fname}' of '{ctor_token}'",
                                ftype.line, ftype.column)
                if any(f.name == fname for f in fields):
                    raise error(f"duplicate field '{fname}' in '{ctor_token}'", fname.line, fname.column)
                fields.append(Field(str(fname), str(ftype), Cardinality(str(quantifier)),
                                    ftype in primitive_types, field_id, str(ctor_token)))
                field_id += 1
            built.append(Constructor(str(ctor_token), type_name, tuple(fields), constructor_id))
            constructor_id += 1
        types[type_name] = ASDLType(type_name, is_product, tuple(built))
    root = next(iter(types))
    return Grammar(name or Path(file).stem, types, frozenset(primitive_types), root, text, frozenset(piece_types))


def _syntax_error(exc: lark.exceptions.UnexpectedInput, text: str, error) -> GrammarError:
    line, column = getattr(exc, "line", -1), getattr(exc, "column", -1)
    token = getattr(exc, "token", None)
    if isinstance(exc, lark.exceptions.UnexpectedEOF) or line < 1 or getattr(token, "type", "") == "$END":
        lines = text.splitlines() or [""]  # point just past the end of the text
        return error("unexpected end of grammar", len(lines), len(lines[-1]) + 1)
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        return error(f"unexpected character {text[exc.pos_in_stream]!r}", line, column)
    expected = sorted(_describe_terminal(t) for t in (exc.expected or ()))
    return error(f"unexpected {str(token)!r}, expected {' or '.join(expected)}", line, column)


def _describe_terminal(name: str) -> str:
    literal = {"LPAR": "'('", "RPAR": "')'", "COMMA": "','", "VBAR": "'|'", "EQUAL": "'='",
               "LBRACE": "'{'", "RBRACE": "'}'", "NAME": "a name", "QUANTIFIER": "'*' or '?'",
               "MODULE": "'module'", "ATTRIBUTES": "'attributes'", "$END": "end of grammar"}
    return literal.get(name, name)


@functools.lru_cache(maxsize=None)
def load_grammar(name_or_path: str) -> Grammar:
    """Load a grammar by name (`python3` -> grammars/python3.asdl) or from a `.asdl` path."""
    path = Path(name_or_path)
    if path.suffix == ".asdl" or path.exists():
        if not path.is_file():
            raise TranxError(f"grammar file not found: {path}")
        return parse_asdl(path.read_text(encoding="utf-8"), file=str(path))
    package = resources.files("tranx.grammars")
    resource = package / f"{name_or_path}.asdl"
    if not resource.is_file():
        known = sorted(p.name[:-5] for p in package.iterdir() if p.name.endswith(".asdl"))
        raise TranxError(f"unknown grammar '{name_or_path}'; available: {', '.join(known)}")
    return parse_asdl(resource.read_text(encoding="utf-8"), file=f"grammars/{name_or_path}.asdl")
