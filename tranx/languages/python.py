"""Python 3 through the `ast` module: code <-> tree over grammars/python3.asdl.

The grammar departs from CPython's ASDL in a few places (see the header of python3.asdl); this
adapter undoes each departure so that `unparse(parse(code)) == ast.unparse(ast.parse(code))` and the
`ast.dump` (with expression contexts) is equal too. Primitive values travel as token strings:
`bytes` as latin-1 text (a bijection), numbers by `repr`, singletons as `None`/`True`/`False`.
"""

from __future__ import annotations

import ast

from tranx.grammar.asdl import Cardinality, Grammar, load_grammar
from tranx.errors import ConversionError
from tranx.grammar.tree import Node

_SINGLETONS = {"None": None, "True": True, "False": False}


def token_of(type_name: str, value) -> str:
    """A primitive value -> its token."""
    if type_name in ("identifier", "string"):
        if not isinstance(value, str):
            raise ConversionError(f"expected a str for {type_name}, got {value!r}")
        return value
    if type_name == "bytes":
        return value.decode("latin-1")
    if type_name == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConversionError(f"expected an int, got {value!r}")
        return str(value)
    if type_name in ("float", "complex", "singleton"):
        return repr(value)
    raise ConversionError(f"no token form for primitive type '{type_name}'")


def value_of(type_name: str, token: str):
    """A token -> its primitive value; ConversionError names a token the type cannot hold."""
    try:
        if type_name in ("identifier", "string"):
            return token
        if type_name == "bytes":
            return token.encode("latin-1")
        if type_name == "int":
            return int(token)
        if type_name == "float":
            return float(token)
        if type_name == "complex":
            return complex(token)
        if type_name == "singleton":
            return _SINGLETONS[token]
    except (ValueError, KeyError, UnicodeEncodeError):
        raise ConversionError(f"token {token!r} is not a valid {type_name}") from None
    raise ConversionError(f"no value form for primitive type '{type_name}'")


# Constant is split by the kind of its value; bool before int, since bool is an int.
_CONSTANT_CONSTRUCTORS = ((bool, "NameConstant"), (str, "Str"), (bytes, "Bytes"), (int, "Int"),
                          (float, "Float"), (complex, "Complex"))
_CONSTANT_NAMES = {"Str", "UStr", "Bytes", "Int", "Float", "Complex", "NameConstant"}


class PythonLanguage:
    name = "python"

    def __init__(self, grammar: Grammar | None = None):
        self.grammar = grammar or load_grammar("python3")
        if self.grammar.piece_types:
            raise ConversionError(f"Python literals are one token each; grammar {self.grammar.name!r} declares "
                                  f"piece types {sorted(self.grammar.piece_types)}")
        self._c = self.grammar.constructor

    # --- code -> tree -------------------------------------------------------------------------
    def parse_ast(self, code: str | bytes) -> ast.AST:
        try:
            return ast.parse(code)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            raise ConversionError(f"not parseable: {type(exc).__name__}: {exc}") from None

    def parse(self, code: str | bytes) -> Node:
        return self.from_ast(self.parse_ast(code))

    def from_ast(self, node: ast.AST) -> Node:
        kind = type(node).__name__
        special = getattr(self, f"_from_{kind}", None)
        if special is not None:
            return special(node)
        try:
            constructor = self._c(kind)
        except Exception:
            raise ConversionError(f"the grammar has no constructor for ast.{kind}") from None
        values = []
        for field in constructor.fields:
            values.append(self._field_from_ast(field, getattr(node, field.name, None)))
        return Node(constructor, tuple(values))

    def _field_from_ast(self, field, value):
        if field.cardinality is Cardinality.MULTIPLE:
            return tuple(self._one_from_ast(field, v) for v in (value or ()))
        if value is None:
            if field.cardinality is Cardinality.SINGLE:
                raise ConversionError(f"field {field!r} is required but missing")
            return None
        return self._one_from_ast(field, value)

    def _one_from_ast(self, field, value):
        return token_of(field.type, value) if field.is_primitive else self.from_ast(value)

    def _from_Constant(self, node: ast.Constant) -> Node:
        value = node.value
        if value is None:
            return Node(self._c("NameConstant"), ("None",))
        if value is Ellipsis:
            return Node(self._c("Ellipsis"), ())
        for python_type, name in _CONSTANT_CONSTRUCTORS:
            if isinstance(value, python_type):
                if name == "Str" and node.kind == "u":
                    name = "UStr"
                constructor = self._c(name)
                return Node(constructor, (token_of(constructor.fields[0].type, value),))
        raise ConversionError(f"unsupported constant {value!r}")

    def _from_Dict(self, node: ast.Dict) -> Node:
        items = tuple(
            Node(self._c("DictUnpack"), (self.from_ast(v),)) if k is None
            else Node(self._c("KeyValue"), (self.from_ast(k), self.from_ast(v)))
            for k, v in zip(node.keys, node.values))
        return Node(self._c("Dict"), (items,))

    def _from_arguments(self, node: ast.arguments) -> Node:
        kwonly = tuple(
            Node(self._c("kwonlyarg"), (a.arg, self._optional(a.annotation), self._optional(d)))
            for a, d in zip(node.kwonlyargs, node.kw_defaults))
        return Node(self._c("arguments"), (
            tuple(self.from_ast(a) for a in node.posonlyargs),
            tuple(self.from_ast(a) for a in node.args),
            self._optional(node.vararg), kwonly, self._optional(node.kwarg),
            tuple(self.from_ast(d) for d in node.defaults)))

    def _from_comprehension(self, node: ast.comprehension) -> Node:
        name = "AsyncComprehension" if node.is_async else "Comprehension"
        return Node(self._c(name), (self.from_ast(node.target), self.from_ast(node.iter),
                                    tuple(self.from_ast(i) for i in node.ifs)))

    def _from_MatchSingleton(self, node: ast.MatchSingleton) -> Node:
        return Node(self._c("MatchSingleton"), (repr(node.value),))

    def _optional(self, node):
        return None if node is None else self.from_ast(node)

    # --- tree -> code -------------------------------------------------------------------------
    def to_ast(self, tree: Node) -> ast.AST:
        module = self._to_ast(tree)
        _set_contexts(module)
        return ast.fix_missing_locations(module)  # ast.unparse reads line numbers

    def unparse(self, tree: Node) -> str:
        try:
            return ast.unparse(self.to_ast(tree))
        except ConversionError:
            raise
        except (AttributeError, TypeError, ValueError, IndexError, RecursionError) as exc:
            raise ConversionError(f"cannot unparse tree: {type(exc).__name__}: {exc}") from None

    def _to_ast(self, tree: Node):
        name = tree.constructor.name
        if name in _CONSTANT_NAMES:
            field = tree.constructor.fields[0]
            return ast.Constant(value=value_of(field.type, tree.values[0]),
                                kind="u" if name == "UStr" else None)
        special = getattr(self, f"_to_{name}", None)
        if special is not None:
            return special(tree)
        kwargs = {}
        for field, value in zip(tree.constructor.fields, tree.values):
            kwargs[field.name] = self._field_to_ast(field, value)
        return _new_ast(name, kwargs)

    def _field_to_ast(self, field, value):
        if field.cardinality is Cardinality.MULTIPLE:
            return [self._one_to_ast(field, v) for v in value]
        if value is None:
            return None
        return self._one_to_ast(field, value)

    def _one_to_ast(self, field, value):
        return value_of(field.type, value) if field.is_primitive else self._to_ast(value)

    def _to_Ellipsis(self, tree: Node) -> ast.Constant:
        return ast.Constant(value=..., kind=None)

    def _to_Dict(self, tree: Node) -> ast.Dict:
        keys, values = [], []
        for item in tree.values[0]:
            is_pair = item.constructor.name == "KeyValue"
            keys.append(self._to_ast(item.values[0]) if is_pair else None)
            values.append(self._to_ast(item.values[-1]))
        return ast.Dict(keys=keys, values=values)

    def _to_arguments(self, tree: Node) -> ast.arguments:
        posonly, args, vararg, kwonly, kwarg, defaults = tree.values
        to = self._to_ast
        return ast.arguments(
            posonlyargs=[to(a) for a in posonly], args=[to(a) for a in args],
            vararg=None if vararg is None else to(vararg),
            kwonlyargs=[ast.arg(arg=value_of("identifier", k.values[0]),
                                annotation=None if k.values[1] is None else to(k.values[1]))
                        for k in kwonly],
            kw_defaults=[None if k.values[2] is None else to(k.values[2]) for k in kwonly],
            kwarg=None if kwarg is None else to(kwarg), defaults=[to(d) for d in defaults])

    def _to_comprehension_node(self, tree: Node, is_async: int) -> ast.comprehension:
        target, iterable, ifs = tree.values
        return ast.comprehension(target=self._to_ast(target), iter=self._to_ast(iterable),
                                 ifs=[self._to_ast(i) for i in ifs], is_async=is_async)

    def _to_Comprehension(self, tree: Node) -> ast.comprehension:
        return self._to_comprehension_node(tree, 0)

    def _to_AsyncComprehension(self, tree: Node) -> ast.comprehension:
        return self._to_comprehension_node(tree, 1)

    def _to_MatchSingleton(self, tree: Node) -> ast.MatchSingleton:
        return ast.MatchSingleton(value=value_of("singleton", tree.values[0]))

    # --- literals ---------------------------------------------------------------------------------
    def substitute(self, code: str, slots) -> tuple[str, frozenset[str]]:
        """Slot values in code -> slot names, on the AST (preprocess.substitution); also the slot names used."""
        from preprocess.substitution import substitute_code_with_usage
        return substitute_code_with_usage(code, slots)

    def restore(self, code: str, slots) -> str:
        """Slot names in decoded code -> their values (preprocess.substitution)."""
        from preprocess.substitution import restore
        return restore(code, slots)

    def encode_literal(self, type_name: str, value) -> str:
        """Python keeps one token per literal (no piece types)."""
        return token_of(type_name, value)

    def decode_literal(self, type_name: str, token: str):
        return value_of(type_name, token)

    def token_ok(self, type_name: str, token: str) -> bool:
        """Can a field of this primitive type hold `token`? (Search proposes only such tokens.)"""
        if type_name == "identifier":  # dotted for module and alias names
            return all(part.isidentifier() for part in token.split("."))
        try:
            value_of(type_name, token)
        except ConversionError:
            return False
        return True

    def check(self, code: str) -> str | None:
        """What Python's compiler rejects in parsed code and a context-free grammar cannot exclude: a parameter
        name twice in one signature, a keyword argument twice in one call. Other compile-time errors (`return`
        outside a function, ...) are accepted: data-set snippets are fragments of larger programs."""
        for node in ast.walk(self.parse_ast(code)):
            if isinstance(node, ast.arguments):
                names = [a.arg for a in (*node.posonlyargs, *node.args, *node.kwonlyargs, node.vararg, node.kwarg)
                         if a is not None]
                twice = _first_repeated(names)
                if twice:
                    return f"duplicate argument {twice!r} in function definition"
            elif isinstance(node, ast.Call):
                twice = _first_repeated([k.arg for k in node.keywords if k.arg is not None])
                if twice:
                    return f"keyword argument repeated: {twice}"
        return None

    # --- canonical form and tokens -------------------------------------------------------------
    def canonicalize(self, code: str) -> str:
        return ast.unparse(self.parse_ast(code))

    def pretty(self, code: str, style: str = "plain") -> str:
        """Code as a person writes it: `f(x for x in y)` instead of ast.unparse's `f((x for x in y))`.

        `style="astor"` also writes a string that starts an expression statement in triple double
        quotes (`"""""".join(x)`), as the astor code generator did when some data sets' references were
        normalised (which style a task writes, and why, is the task's: bench/output_format.py measures it on
        train and dev).
        """
        unparser = _AstorStyleUnparser() if style == "astor" else _PrettyUnparser()
        try:
            return unparser.visit(self.parse_ast(code))
        except (ConversionError, RecursionError):
            return code

    def tokenize(self, code: str) -> list[str]:
        from tranx.metrics import tokenize_for_bleu_eval
        return tokenize_for_bleu_eval(code)


def _first_repeated(names: list[str]) -> str | None:
    seen = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


# Fields that ast nodes have but the grammar derives or drops, with the value ast.parse gives them.
_DERIVED_DEFAULTS = {"type_comment": None, "type_ignores": list, "kind": None}
_CONTEXT_NODES = (ast.Name, ast.Attribute, ast.Subscript, ast.Starred, ast.List, ast.Tuple)


class _PrettyUnparser(ast._Unparser):  # the stdlib unparser, one rule changed
    def visit_Call(self, node: ast.Call) -> None:
        if len(node.args) == 1 and not node.keywords and isinstance(node.args[0], ast.GeneratorExp):
            self.set_precedence(ast._Precedence.ATOM, node.func)
            self.traverse(node.func)
            self.traverse(node.args[0])  # the generator's own parentheses are the call's
        else:
            super().visit_Call(node)


class _AstorStyleUnparser(_PrettyUnparser):
    def visit_Expr(self, node: ast.Expr) -> None:
        receiver = node.value
        while isinstance(receiver, (ast.Call, ast.Attribute)):
            receiver = receiver.func if isinstance(receiver, ast.Call) else receiver.value
        if isinstance(receiver, ast.Constant) and isinstance(receiver.value, str) and receiver.kind is None:
            receiver.triple_quoted = True
        super().visit_Expr(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if getattr(node, "triple_quoted", False):
            body = repr(node.value)[1:-1]
            text = f'"""{body}"""'
            try:
                same = ast.literal_eval(text) == node.value
            except (SyntaxError, ValueError):
                same = False
            if same:
                self.write(text)
                return
        super().visit_Constant(node)


def _new_ast(name: str, kwargs: dict) -> ast.AST:
    cls = getattr(ast, name, None)
    if cls is None or not isinstance(cls, type) or not issubclass(cls, ast.AST):
        raise ConversionError(f"no ast class for constructor {name}")
    for field in cls._fields:
        if field not in kwargs:
            default = _DERIVED_DEFAULTS.get(field)
            kwargs[field] = default() if callable(default) else default
    return cls(**kwargs)


def _set_contexts(root: ast.AST) -> None:
    """Give every expression the ctx that ast.parse would: Store/Del in target positions, else Load."""
    for node in ast.walk(root):
        if isinstance(node, _CONTEXT_NODES):
            if not hasattr(node, "ctx") or node.ctx is None:
                node.ctx = ast.Load()
        if isinstance(node, (ast.Assign, ast.Delete)):
            ctx = ast.Store if isinstance(node, ast.Assign) else ast.Del
            for target in node.targets:
                _mark_target(target, ctx)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor,
                               ast.comprehension, ast.NamedExpr)):
            _mark_target(node.target, ast.Store)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            _mark_target(node.optional_vars, ast.Store)


def _mark_target(node: ast.AST, ctx: type) -> None:
    if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)):
        node.ctx = ctx()
    elif isinstance(node, (ast.Tuple, ast.List)):
        node.ctx = ctx()
        for element in node.elts:
            _mark_target(element, ctx)
    elif isinstance(node, ast.Starred):
        node.ctx = ctx()
        _mark_target(node.value, ctx)
