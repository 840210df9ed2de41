"""Lark grammars as languages: the derived ASDL, code <-> tree round trips, oracle replay through the transition
system, grammars the converter rejects, and token checks."""

from __future__ import annotations

import pytest

from tranx.errors import ConversionError, GrammarError
from tranx.grammar.tree import Node
from tranx.languages.lark_grammar import lark_to_asdl
from tranx.languages.lark_language import LarkLanguage
from model_fixtures import assert_replays

ARITH = r"""
?start: sum
?sum: product | sum "+" product -> add | sum "-" product -> sub
?product: atom | product "*" atom -> mul | product "/" atom -> div
?atom: NUMBER -> number | "-" atom -> neg | "(" sum ")"
%import common.NUMBER
%import common.WS
%ignore WS
"""
ARITH_ASDL = """\
start = add(start sum, start product)
      | sub(start sum, start product)
      | mul(start product, start atom)
      | div(start product, start atom)
      | number(NUMBER number)
      | neg(start atom)
"""
# code -> its canonical form: the grammar ignores whitespace, so tokens are joined by one space; parentheses are
# written only where the precedence ladder needs them.
ARITH_PROGRAMS = {
    "1": "1",
    "42.5": "42.5",
    "1+2": "1 + 2",
    "1 + 2 * 3": "1 + 2 * 3",
    "(1 + 2) * 3": "( 1 + 2 ) * 3",
    "1 - (2 - 3)": "1 - ( 2 - 3 )",
    "(1 - 2) - 3": "1 - 2 - 3",
    "8 / 4 / 2": "8 / 4 / 2",
    "8 / (4 / 2)": "8 / ( 4 / 2 )",
    "-(4 / 2)": "- ( 4 / 2 )",
    "--3/4": "- - 3 / 4",
    "2 * (3 / (4 - 1.5))": "2 * ( 3 / ( 4 - 1.5 ) )",
    "1e3 * (2 + -7)": "1e3 * ( 2 + - 7 )",
    "((((7))))": "7",
    "1 + 2 - 3 * 4 / 5": "1 + 2 - 3 * 4 / 5",
    "(1 * 2) + (3 * 4)": "1 * 2 + 3 * 4",
}

REGEX = r"""
?start: alt
?alt: inter | alt "|" inter -> union
?inter: concat | inter "&" concat -> intersect
?concat: unary | concat unary -> concat
?unary: atom | unary "*" -> star | unary "+" -> plus | unary REPEAT -> repeat
?atom: "(" alt ")" | "~" atom -> complement | CLASS -> char_class | NAMED -> named_class | CHAR -> char | "." -> any
CLASS: /\[[^\[\]]+\]/
NAMED: /<[a-z]+>/
CHAR: /[A-Za-z0-9]/
REPEAT: /\{[0-9]+(,[0-9]*)?\}/
"""
REGEX_ASDL = """\
start = union(start alt, start inter)
      | intersect(start inter, start concat)
      | concat(start concat, start unary)
      | star(start unary)
      | plus(start unary)
      | repeat(start unary, REPEAT repeat)
      | complement(start atom)
      | char_class(CLASS class)
      | named_class(NAMED named)
      | char(CHAR char)
      | any
"""
# NL-RX / KB13 style regexes -> canonical form (no %ignore: tokens are joined with nothing; NL-RX's redundant
# parentheses go away).
REGEXES = {
    ".*dog.*": ".*dog.*",
    "[AEIOUaeiou].*": "[AEIOUaeiou].*",
    "~(.*[0-9].*)": "~(.*[0-9].*)",
    "(.*<vow>.*)&(.*<num>.*)": ".*<vow>.*&.*<num>.*",
    "(<cap>|<low>)+": "(<cap>|<low>)+",
    "<let>{3,}": "<let>{3,}",
    "(dog|truck)<num>*": "(dog|truck)<num>*",
    "~(<vow>)": "~<vow>",
    "(.*<low>.*){2,}": "(.*<low>.*){2,}",
    "[A-Z][a-z]*": "[A-Z][a-z]*",
    "((<vow>)|(<num>))*": "(<vow>|<num>)*",
    "~(.*(ab|ba).*)&<let>+": "~(.*(ab|ba).*)&<let>+",
    "(<num>&~(0.*))+": "(<num>&~(0.*))+",
    "x{2}y|z": "x{2}y|z",
}

ARITH_LANGUAGES = {parser: LarkLanguage(ARITH, name="arith", parser=parser) for parser in ("earley", "lalr")}
REGEX_LANGUAGE = LarkLanguage(REGEX, name="regex")


def assert_round_trips(language, code: str):
    """`code` parses into a tree that unparses and parses back to itself, and whose oracle actions replay; returns it."""
    tree = language.parse(code)
    assert language.parse(language.unparse(tree)) == tree
    assert_replays(language, tree)
    return tree


def test_arithmetic_asdl_is_exactly_the_abstract_syntax():
    conversion = lark_to_asdl(ARITH, name="arith")
    assert conversion.asdl_text == ARITH_ASDL
    grammar = conversion.grammar
    assert grammar.root_type == "start" and grammar.primitive_types == {"NUMBER"}
    assert {c.name: [repr(f) for f in c.fields] for c in grammar.constructors} == {
        "add": ["add.sum: start", "add.product: start"], "sub": ["sub.sum: start", "sub.product: start"],
        "mul": ["mul.product: start", "mul.atom: start"], "div": ["div.product: start", "div.atom: start"],
        "number": ["number.number: NUMBER"], "neg": ["neg.atom: start"]}
    assert conversion.separator == " " and conversion.nonempty == frozenset()
    # the unit alternatives: the precedence ladder, and the parentheses that lead back up
    assert {rule: [(u.before, u.inner, u.after) for u in units] for rule, units in conversion.units.items()} == {
        "start": [((), "sum", ())], "sum": [((), "product", ())], "product": [((), "atom", ())],
        "atom": [(("(",), "sum", (")",))]}


@pytest.mark.parametrize("parser", sorted(ARITH_LANGUAGES))
@pytest.mark.parametrize("code", sorted(ARITH_PROGRAMS))
def test_arithmetic_round_trips(parser, code):
    language = ARITH_LANGUAGES[parser]
    tree = language.parse(code)
    text = language.unparse(tree)
    assert text == ARITH_PROGRAMS[code] == language.canonicalize(text)
    assert language.parse(text) == tree
    assert_replays(language, tree)


def test_arithmetic_trees_are_abstract():
    language = ARITH_LANGUAGES["earley"]
    c = language.grammar.constructor
    one, two, three = (Node(c("number"), (n,)) for n in "123")
    assert language.parse("(1 - 2) - 3") == Node(c("sub"), (Node(c("sub"), (one, two)), three))
    assert language.parse("1 - (2 - 3)") == Node(c("sub"), (one, Node(c("sub"), (two, three))))
    assert language.parse("((1))") == one
    # a tree built directly (as the decoder does) gets exactly the parentheses it needs
    tree = Node(c("mul"), (Node(c("neg"), (Node(c("add"), (one, two)),)), Node(c("div"), (three, one))))
    assert language.unparse(tree) == "- ( 1 + 2 ) * ( 3 / 1 )"
    assert language.parse(language.unparse(tree)) == tree
    assert language.tokenize("(1+2)*3") == ["(", "1", "+", "2", ")", "*", "3"]
    with pytest.raises(ConversionError, match="not parseable"):
        language.parse("1 +")


def test_regex_asdl_is_exactly_the_abstract_syntax():
    conversion = REGEX_LANGUAGE.conversion
    assert conversion.asdl_text == REGEX_ASDL
    assert conversion.grammar.primitive_types == {"CLASS", "NAMED", "CHAR", "REPEAT"}
    assert conversion.separator == ""  # no %ignore: tokens are written without spaces


@pytest.mark.parametrize("regex", sorted(REGEXES))
def test_regex_round_trips(regex):
    tree = REGEX_LANGUAGE.parse(regex)
    text = REGEX_LANGUAGE.unparse(tree)
    assert text == REGEXES[regex] == REGEX_LANGUAGE.canonicalize(text)
    assert REGEX_LANGUAGE.parse(text) == tree
    assert_replays(REGEX_LANGUAGE, tree)


def test_regex_tree_of_intersection_and_complement():
    c = REGEX_LANGUAGE.grammar.constructor
    tree = REGEX_LANGUAGE.parse("~(a)&[AEIOUaeiou]*")
    assert tree == Node(c("intersect"), (Node(c("complement"), (Node(c("char"), ("a",)),)),
                                         Node(c("star"), (Node(c("char_class"), ("[AEIOUaeiou]",)),))))
    assert REGEX_LANGUAGE.unparse(tree) == "~a&[AEIOUaeiou]*"


# Optional and repeated parts, a `+` part, a named fixed terminal (EQ, kept by lark), an inlined `_rule` of two
# alternatives (which doubles `assign`), and `?rules` whose units carry a literal (";").
STATEMENTS = r"""
start: stmt+
?stmt: call ";" | assign ";"
call: NAME "(" [args] ")"
args: expr ("," expr)*
assign: NAME _op expr
_op: EQ | "+="
?expr: NAME -> var | NUMBER -> num | call | "[" expr* "]" -> list | "{" (pair ",")+ "}" -> dict
pair: STRING ":" expr
EQ: "="
%import common.CNAME -> NAME
%import common.NUMBER
%import common.ESCAPED_STRING -> STRING
%import common.WS
%ignore WS
"""


def test_optional_repeated_and_inlined_parts():
    language = LarkLanguage(STATEMENTS, name="statements")
    conversion = language.conversion
    assert conversion.asdl_text.splitlines()[:4] == [
        "start = start(stmt* stmt)", "stmt = call(NAME name, args? args)",
        "     | assign_0(NAME name, stmt expr)", "     | assign_1(NAME name, stmt expr)"]
    assert "args = args(stmt expr, stmt* expr2)" in conversion.asdl_text
    assert conversion.nonempty == {("start", "stmt"), ("dict", "pair")}
    programs = ['f();', 'x = g(1, y, [1 2 [3]]); f(x);', 'x += {"a": 1, "b": f(),};', 'y = [];']
    for code in programs:
        tree = assert_round_trips(language, code)
        assert language.unparse(tree).split() == language.tokenize(code)
    assert language.unparse(language.parse('x+=f( a ,b);')) == "x += f ( a , b ) ;"
    c = language.grammar.constructor
    with pytest.raises(ConversionError, match="at least one"):  # `stmt+` may not be empty
        language.unparse(Node(c("start"), ((),)))
    with pytest.raises(ConversionError, match="at least one"):
        language.unparse(Node(c("start"), ((Node(c("assign_0"), ("x", Node(c("dict"), ((),)))),),)))
    with pytest.raises(ConversionError, match="cannot stand where rule 'stmt'"):  # merged type, no chain to it
        language.unparse(Node(c("start"), ((Node(c("var"), ("x",)),),)))


# lark's JSON example: `[value ("," value)*]` is no single field, so it is expanded as lark expands it (with and
# without), and so are `[","]` and `("+" | "-")?` in `item`.
JSON = r"""
?start: value
?value: object | array | string | SIGNED_NUMBER -> number | "true" -> true | "false" -> false | "null" -> null
array: "[" [value ("," value)*] "]"
object: "{" [pair ("," pair)*] "}"
pair: string ":" value
string: ESCAPED_STRING
item: ("+" | "-")? NAME [","]
%import common.ESCAPED_STRING
%import common.SIGNED_NUMBER
%import common.CNAME -> NAME
%import common.WS
%ignore WS
"""


def test_optional_parts_that_are_no_single_field_become_alternatives():
    language = LarkLanguage(JSON, name="json")
    asdl = language.conversion.asdl_text
    assert "array_0(start value, start* value2)" in asdl and "| array_1\n" in asdl
    assert "object_0(pair pair, pair* pair2)" in asdl and "pair = pair(start string, start value)" in asdl
    for doc in ['{"a": [1, -2.5e3, true, null], "b": {}}', '[]', '[[], [{"x": "y"}], false]', '"s"']:
        tree = assert_round_trips(language, doc)
        assert "".join(language.unparse(tree).split()) == "".join(doc.split())
    items = LarkLanguage(JSON, name="json", start="item")
    assert [items.parse(code).constructor.name for code in ["+x,", "-x", "x,", "x"]] == [
        "item_0", "item_3", "item_4", "item_5"]
    assert items.conversion.asdl_text.startswith("item = item_0(NAME name)\n     | item_1(NAME name)\n")
    assert items.unparse(items.parse("- x ,")) == "- x ,"


REJECTED = [
    # (grammar, the rule named, line, column, message fragment)
    ('start: e\n?e: a | b\na: NAME\nb: NAME\n%import common.CNAME -> NAME\n', "b", 4, 1, "cannot tell them apart"),
    ('start: NAME (",")*\n%import common.CNAME -> NAME\n', "start", 1, 14, "exactly one named symbol"),
    ('start: (NAME ":" NAME)*\n%import common.CNAME -> NAME\n', "start", 1, 14, "exactly one named symbol"),
    ('start: item*\nitem: (NAME | NUMBER)+\n%import common.CNAME -> NAME\n%import common.NUMBER\n',
     "item", 2, 22, "exactly one named symbol"),
    ('start: x\nx: /[0-9]+/\n', "x", 2, 4, "anonymous regular expression"),
    ('start: NAME ~ 3\n%import common.CNAME -> NAME\n', "start", 1, 13, "bounded repetition"),
    ('start: sep{NAME}\nsep{x}: x ("," x)*\n%import common.CNAME -> NAME\n', "sep", 2, 1, "template rules"),
    ('?start: a\n?a: start\n', "start", 1, 2, "builds a node"),
]


@pytest.mark.parametrize("grammar, rule, line, column, message", REJECTED)
def test_rejected_grammars_name_the_rule(grammar, rule, line, column, message):
    with pytest.raises(GrammarError, match=message) as info:
        lark_to_asdl(grammar)
    assert f"rule '{rule}'" in str(info.value)
    assert (info.value.line, info.value.column) == (line, column)


def test_lark_syntax_errors_keep_larks_position():
    with pytest.raises(GrammarError, match="lark rejects the grammar") as info:
        lark_to_asdl("start: x (\n")
    assert (info.value.line, info.value.column) == (1, 11)


def test_token_ok_matches_whole_terminals():
    arith = ARITH_LANGUAGES["earley"]
    assert all(arith.token_ok("NUMBER", t) for t in ["1", "42", "3.25", "1e5", ".5"])
    assert not any(arith.token_ok("NUMBER", t) for t in ["", "x", "1 2", "-1", "1+2"])
    assert not arith.token_ok("sum", "1") and not arith.token_ok("WS", " ")  # not primitive types
    regex = REGEX_LANGUAGE
    assert regex.token_ok("CLASS", "[AEIOUaeiou]") and regex.token_ok("CLASS", "[A-Z]")
    assert not regex.token_ok("CLASS", "[abc") and not regex.token_ok("CLASS", "<vow>")
    assert regex.token_ok("NAMED", "<vow>") and not regex.token_ok("NAMED", "vow")
    assert regex.token_ok("CHAR", "a") and not regex.token_ok("CHAR", "ab")
    assert regex.token_ok("REPEAT", "{3,}") and not regex.token_ok("REPEAT", "{,3}")
    with pytest.raises(ConversionError, match="not a NUMBER token"):  # unparse checks every token
        arith.unparse(Node(arith.grammar.constructor("number"), ("x",)))
