"""The ASDL reader: known answers on small grammars, the shipped grammar, and an error table."""

import ast

import pytest

from tranx import Cardinality, GrammarError, TranxError, load_grammar, parse_asdl

SMALL = """
-- a comment
module Small {
    stmt = Assign(expr* targets, expr value) | Pass
         attributes (int lineno)
    expr = Name(identifier id) | Call(expr func, expr* args, keyword* keywords)
         | Num(int n)
    keyword = (identifier? arg, expr value)
}
"""


def test_small_grammar_known_answers():
    g = parse_asdl(SMALL, name="small")
    assert g.root_type == "stmt"
    assert list(g.types) == ["stmt", "expr", "keyword"]
    assert [c.name for c in g.constructors] == ["Assign", "Pass", "Name", "Call", "Num", "keyword"]
    assert [c.id for c in g.constructors] == list(range(6))
    assign = g.constructor("Assign")
    assert [(f.name, f.type, f.cardinality) for f in assign.fields] == [
        ("targets", "expr", Cardinality.MULTIPLE), ("value", "expr", Cardinality.SINGLE)]
    keyword = g.constructor("keyword")
    assert g.types["keyword"].is_product and keyword.type == "keyword"
    assert keyword.fields[0].cardinality is Cardinality.OPTIONAL and keyword.fields[0].is_primitive
    assert not keyword.fields[1].is_primitive
    assert [f.id for f in g.fields] == list(range(len(g.fields)))
    assert g.root_field.id == len(g.fields) and g.root_field.type == "stmt"
    assert g.constructors_of("expr") == (g.constructor("Name"), g.constructor("Call"), g.constructor("Num"))


def test_grammar_without_module_wrapper():
    g = parse_asdl("t = A(int x) | B\n")
    assert g.root_type == "t" and [c.name for c in g.constructors] == ["A", "B"]


def test_python3_grammar_covers_ast_module():
    g = load_grammar("python3")
    assert g.root_type == "mod"
    assert load_grammar("python3") is g  # cached
    # Every concrete ast node class is a constructor, except those the grammar folds elsewhere.
    folded = {"Constant": "Str/Bytes/Int/...", "expr_context": "derived", "Load": "derived",
              "Store": "derived", "Del": "derived", "TypeIgnore": "dropped", "comprehension": "Comprehension"}
    names = {c.name for c in g.constructors}
    for name in dir(ast):
        cls = getattr(ast, name)
        if (isinstance(cls, type) and issubclass(cls, ast.AST) and cls._fields is not None
                and not cls.__subclasses__() and cls.__module__ == "ast" and name[0] != "_"):
            if name in ("Num", "Str", "Bytes", "NameConstant", "Ellipsis", "Index", "ExtSlice",
                        "Suite", "Param", "AugLoad", "AugStore"):
                continue  # deprecated aliases kept by the ast module
            assert name in names or name in folded, name


def test_unknown_grammar_name_lists_available():
    with pytest.raises(TranxError, match="unknown grammar 'nope'; available: .*python3"):
        load_grammar("nope")


def test_grammar_file_by_path(tmp_path):
    path = tmp_path / "tiny.asdl"
    path.write_text("t = A(int x)\n")
    assert load_grammar(str(path)).name == "tiny"
    bad = tmp_path / "bad.asdl"
    bad.write_text("t = A(intt x)\n")
    with pytest.raises(GrammarError) as info:
        load_grammar(str(bad))
    assert str(bad) in str(info.value)


ERRORS = [
    # (text, message pattern, line, column)
    ("t = A(int x", "unexpected end of grammar", 1, 12),
    ("t = A(int x))", "unexpected '\\)', expected '\\|' or", 1, 13),
    ("t = A(int x,)", "unexpected '\\)', expected a name", 1, 13),
    ("t = A(x)", "unexpected '\\)', expected", 1, 8),
    ("t = A(int x)\nu = B(exprr* y)", "undefined type 'exprr' in field 'y' of 'B'", 2, 7),
    ("t = A(int x)\nt = B", "duplicate type 't'", 2, 1),
    ("t = A(int x)\nu = A", "duplicate constructor 'A'", 2, 5),
    ("t = A(int x, string x)", "duplicate field 'x' in 'A'", 1, 21),
    ("identifier = A", "type 'identifier' is a primitive type", 1, 1),
    ("-- only a comment\n", "grammar defines no types", 1, 1),
    ("module M { t = A(int x) ", "unexpected end of grammar", 1, 25),
    ("t = A(int% x)", "unexpected character '%'", 1, 10),
    ("t = | A", "unexpected '\\|'", 1, 5),
]


@pytest.mark.parametrize("text, message, line, column", ERRORS)
def test_error_table(text, message, line, column):
    with pytest.raises(GrammarError, match=message) as info:
        parse_asdl(text, file="bad.asdl")
    error = info.value
    assert (error.file, error.line, error.column) == ("bad.asdl", line, column)
    rendered = str(error).splitlines()
    assert rendered[0].startswith(f"bad.asdl:{line}:{column}: ")
    if error.source_line:  # the offending line, then a caret under the column
        assert rendered[1].strip() == text.splitlines()[line - 1].strip()
        assert rendered[2].index("^") - 4 == column - 1
