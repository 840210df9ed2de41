"""The Python adapter: exact round trips on tricky snippets, tokens of every primitive kind, errors."""

import ast

import pytest

from snippets import TRICKY
from tranx import ConversionError, TransitionSystem, get_language
from tranx.languages.python import token_of, value_of
from tranx.data.roundtrip import OK, Snippet, check_snippet
from tranx.grammar.tree import Node

PY = get_language("python")
SYSTEM = TransitionSystem(PY.grammar)


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_round_trip_is_exact(name):
    code = TRICKY[name]
    expected = ast.parse(code)
    replayed = PY.to_ast(SYSTEM.replay(SYSTEM.oracle(PY.parse(code))).tree())
    assert ast.unparse(replayed) == ast.unparse(expected) == PY.canonicalize(code)
    assert ast.dump(replayed) == ast.dump(expected)  # expression contexts included
    assert check_snippet(Snippet(name, code)) == (OK, "")


@pytest.mark.parametrize("type_name, value, token", [
    ("string", "a b", "a b"), ("identifier", "x", "x"), ("bytes", b"\x00\xff", "\x00\xff"),
    ("int", 10**30, str(10**30)), ("float", 0.1, "0.1"), ("float", float("inf"), "inf"),
    ("complex", 2j, "2j"), ("singleton", None, "None"), ("singleton", True, "True"),
])
def test_primitive_tokens_round_trip(type_name, value, token):
    assert token_of(type_name, value) == token
    assert value_of(type_name, token) == value


def test_every_primitive_kind_survives():
    code = "x = ('s', u'u', b'\\xff', 7, 2.5, 3j, True, False, None, ...)"
    tree = PY.parse(code)
    values = ast.literal_eval(PY.unparse(tree).split("=", 1)[1].strip())
    assert values == ("s", "u", b"\xff", 7, 2.5, 3j, True, False, None, ...)
    kinds = [e.constructor.name for e in tree["body"][0]["value"]["elts"]]
    assert kinds == ["Str", "UStr", "Bytes", "Int", "Float", "Complex", "NameConstant",
                     "NameConstant", "NameConstant", "Ellipsis"]


@pytest.mark.parametrize("type_name, token", [
    ("int", "1.5"), ("float", "abc"), ("singleton", "none"), ("bytes", "\u20ac"), ("complex", "j1"),
])
def test_bad_tokens_raise_conversion_error(type_name, token):
    with pytest.raises(ConversionError, match=f"not a valid {type_name}"):
        value_of(type_name, token)


def test_unparse_of_tree_with_bad_token():
    c = PY.grammar.constructor
    tree = Node(c("Module"), ((Node(c("Expr"), (Node(c("Int"), ("x1",)),)),),))
    with pytest.raises(ConversionError, match="'x1' is not a valid int"):
        PY.unparse(tree)


def test_unparseable_code():
    with pytest.raises(ConversionError, match="not parseable: SyntaxError"):
        PY.parse("def (:")
    with pytest.raises(ConversionError, match="not parseable"):
        PY.parse("x = 1\0")


def test_contexts_are_derived():
    tree = PY.parse("a.b[c], *d = e")
    module = PY.to_ast(tree)
    target = module.body[0].targets[0]
    assert isinstance(target.ctx, ast.Store)
    assert isinstance(target.elts[0].ctx, ast.Store) and isinstance(target.elts[0].value.ctx, ast.Load)
    assert isinstance(target.elts[1].value.ctx, ast.Store)
    assert isinstance(module.body[0].value.ctx, ast.Load)


@pytest.mark.parametrize("code, plain, astor", [
    ("sum((x for x in y))", "sum(x for x in y)", "sum(x for x in y)"),
    ("f((x for x in y), 1)", "f((x for x in y), 1)", "f((x for x in y), 1)"),
    ("''.join(a)", "''.join(a)", '"""""".join(a)'),
    ("x = ''.join(a)", "x = ''.join(a)", "x = ''.join(a)"),
    ("'a\"b'.split()", "'a\"b'.split()", '"""a"b""".split()'),
    ("'x\"'.join(y)", "'x\"'.join(y)", "'x\"'.join(y)"),  # would end in four quotes: kept as it was
])
def test_pretty_styles(code, plain, astor):
    assert PY.pretty(code) == plain
    assert PY.pretty(code, style="astor") == astor
    assert ast.dump(ast.parse(PY.pretty(code, style="astor"))) == ast.dump(ast.parse(code))


@pytest.mark.parametrize("code, problem", [
    ("def f(a, a):\n    pass", "duplicate argument 'a' in function definition"),
    ("def f(a, *, b, **b):\n    pass", "duplicate argument 'b' in function definition"),
    ("g = lambda x, /, x: 0", "duplicate argument 'x' in function definition"),
    ("f(a=1, b=2, a=3)", "keyword argument repeated: a"),
    ("def f(a, b=1, *c, d, **e):\n    return f(a, b, x=1, **e, y=2)", None),
    ("f(**a, **a)", None),  # unpacking the same mapping twice compiles (and fails only when run)
    ("return x", None),  # a fragment: compile errors of context are not ours to judge
])
def test_check_finds_what_the_compiler_rejects(code, problem):
    assert PY.check(code) == problem
    if problem is not None:  # the compiler agrees
        with pytest.raises(SyntaxError):
            compile(code, "<test>", "exec")



def test_literal_codec_round_trips_and_python_has_no_piece_types():
    for type_name, value in [("int", 12), ("float", 0.5), ("bytes", b"\xff"), ("singleton", None), ("string", "a b")]:
        token = PY.encode_literal(type_name, value)
        assert isinstance(token, str) and PY.decode_literal(type_name, token) == value and PY.token_ok(type_name, token)
    with pytest.raises(ConversionError, match="token 'x' is not a valid int"):
        PY.decode_literal("int", "x")
    from tranx.grammar.asdl import parse_asdl
    grammar = PY.grammar
    with_pieces = parse_asdl(grammar.text, name="p", primitive_types=grammar.primitive_types,
                             piece_types=frozenset({"string"}))
    with pytest.raises(ConversionError, match="one token each"):
        get_language("python", with_pieces)
