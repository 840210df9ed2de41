"""Lark's own grammar of Lark grammars (lark/grammars/lark.lark) as a language: it converts, Lark grammars round-trip
through it, and the constructs it needed (repeated groups over a helper type, `!rules`, filtered regular expression
terminals, nested optional groups) each give a known answer; unsupported constructs still name rule, line, column."""

from __future__ import annotations

from pathlib import Path

import lark
import pytest

from tranx.errors import GrammarError
from tranx.grammar.tree import Node
from tranx.data.roundtrip import OK, Snippet, check_snippet, collect_snippets, run_roundtrip
from tranx.languages.lark_grammar import lark_to_asdl
from tranx.languages.lark_language import LarkLanguage
from tranx.languages.lark_regex_text import shortest_text
from model_fixtures import assert_replays

LARK_GRAMMARS = Path(lark.__file__).parent / "grammars"
LARK_LARK = LARK_GRAMMARS / "lark.lark"
TRANX_GRAMMARS = Path(__file__).resolve().parents[1] / "grammars"
LANGUAGE = LarkLanguage(LARK_LARK.read_text(), name="lark")


def test_larks_own_grammar_converts():
    conversion = LANGUAGE.conversion
    asdl = conversion.asdl_text
    assert asdl.startswith("start = start_0(start__item* start__item, rule rule)\n")  # `(_item? _NL)* _item?`
    assert ("start__item = start__item_0(rule rule)\n            | start__item_1(token token)\n"
            "            | start__item_2(statement statement)\n            | start__item_3\n") in asdl
    assert "expr_1(expansions atom, NUMBER number, NUMBER? number2)" in asdl  # `atom [OP | "~" NUMBER [".." NUMBER]]`
    assert "import_path = import_path_0(expansions name, expansions* name2)\n" in asdl  # `!import_path`
    assert conversion.separator == " " and LANGUAGE.parser == "lalr"


def test_a_grammar_parses_into_its_tree():
    c = LANGUAGE.grammar.constructor
    body = Node(c("expansions"), (Node(c("alias"), (Node(c("expansion"), ((Node(c("name_1"), ("B",)),),)), None)),
                                  ()))
    rule = Node(c("rule"), ("a", Node(c("rule_params_1"), ()), None, body))
    tree = Node(c("start_3"), ((Node(c("start__item_0"), (rule,)),),))
    assert LANGUAGE.parse("a: B\n") == tree
    assert LANGUAGE.unparse(tree) == "a : B \n"


# Small Lark grammars (as code): their canonical form once parsed; `|` on a new line is `_VBAR` (written "|").
PROGRAMS = {
    "a: B\n": "a : B \n",
    "start: x+\n": "start : x + \n",
    '?e: e "+" t -> add\n   | t\n': '?e : e "+" t -> add | t \n',
    "!op: \"+\" | \"-\"\n": '!op : "+" | "-" \n',
    "%import common (NUMBER, WS)\n%ignore WS\n": "%import common ( NUMBER , WS ) \n %ignore WS \n",
    "x: y{a, b}\nN: /[0-9]+/ ~ 2..3 // digits\n": "x : y { a , b } \n N : /[0-9]+/ ~ 2 .. 3 \n",
    "x: [A] (B | C)* \"k\"i -> kw\n\n\ny.2: /z/i\n": 'x : [ A ] ( B | C ) * "k"i -> kw \n y . 2 : /z/i \n',
    "%import .a.b -> c\n%declare D E\n%override r: A\n": "%import . a . b -> c \n %declare D E \n %override r : A \n",
}


@pytest.mark.parametrize("code", sorted(PROGRAMS))
def test_small_grammars_round_trip(code):
    tree = LANGUAGE.parse(code)
    text = LANGUAGE.unparse(tree)
    assert text == PROGRAMS[code] == LANGUAGE.canonicalize(text)
    assert LANGUAGE.parse(text) == tree
    assert_replays(LANGUAGE, tree)
    assert LANGUAGE.lexed(text) == LANGUAGE.lexed(code)


def test_shipped_grammars_round_trip_up_to_comments():
    files = sorted(LARK_GRAMMARS.glob("*.lark")) + sorted(TRANX_GRAMMARS.glob("*.lark"))
    assert len(files) >= 6
    report = run_roundtrip(collect_snippets([str(f) for f in files]), language=f"lark:{LARK_LARK}", workers=1,
                           progress=False)
    assert (report.ok, report.total) == (len(files), len(files)), report.failed + report.not_parseable


def test_text_check_is_up_to_what_the_grammar_ignores():
    language = f"lark:{LARK_LARK}"
    assert check_snippet(Snippet("c", "a: B // one\n# two\nc: D\n"), language) == (OK, "")
    # a token the tree does not keep and the text cannot give back: the whole check fails
    grammar = r"""
start: NAME (_SEP NAME)*
_SEP: /;+/
NAME: /[a-z]+/
%import common.WS_INLINE
%ignore WS_INLINE
"""
    semicolons = LarkLanguage(grammar, name="semicolons")
    assert semicolons.unparse(semicolons.parse("a ;; b")) == "a ; b"
    assert semicolons.lexed("a ;; b") != semicolons.lexed("a;b") == semicolons.lexed(" a ; b ")


def test_collect_snippets_takes_any_file_and_the_languages_suffix(tmp_path):
    (tmp_path / "a.lark").write_text("a: B\n")
    (tmp_path / "b.py").write_text("x = 1\n")
    (tmp_path / "c.sql").write_text("SELECT 1 ;\n")
    assert [s.id for s in collect_snippets([str(tmp_path / "a.lark")])] == [str(tmp_path / "a.lark")]
    assert [Path(s.id).name for s in collect_snippets([str(tmp_path)])] == ["b.py"]
    assert [Path(s.id).name for s in collect_snippets([str(tmp_path)], language=f"lark:{LARK_LARK}")] == ["a.lark"]
    assert [Path(s.id).name for s in collect_snippets([str(tmp_path)], language="lark:sql")] == ["c.sql"]


# --- the new constructs, each with a known answer -------------------------------------------------------------
LINES = r"""
start: (_item? _NL)* _item?
_item: pair | NAME
pair: NAME "=" NAME
NAME: /[a-z]+/
_NL: /(\r?\n)+/
%ignore " "
"""


def test_repeated_group_of_an_inlined_rule_is_a_field_over_a_helper_type():
    language = LarkLanguage(LINES, name="lines")
    assert language.conversion.asdl_text == (
        "start = start_0(start__item* start__item, pair pair)\n"
        "      | start_1(start__item* start__item, NAME name)\n"
        "      | start_2(start__item* start__item)\n"
        "pair = pair(NAME name, NAME name2)\n"
        "start__item = start__item_0(pair pair)\n"
        "            | start__item_1(NAME name)\n"
        "            | start__item_2\n")
    c = language.grammar.constructor
    tree = language.parse("a = b\n\nc\nd")
    assert tree == Node(c("start_1"), ((Node(c("start__item_0"), (Node(c("pair"), ("a", "b")),)),
                                        Node(c("start__item_1"), ("c",))), "d"))
    assert language.unparse(tree) == "a = b \n c \n d"
    assert_replays(language, tree)
    assert language.parse("\n\nx\n").values[0][0].constructor.name == "start__item_2"  # a leading empty line


def test_a_choice_of_literals_in_a_repeated_group():
    conversion = lark_to_asdl('start: x (_sep x)*\n_sep: "," | ";"\nx: N\nN: /[a-z]+/\n')
    assert conversion.asdl_text == ("start = start(x x, start__x* start__x)\nx = x(N n)\n"
                                    "start__x = start__x_0(x x)\n         | start__x_1(x x)\n")
    language = LarkLanguage('start: x (_sep x)*\n_sep: "," | ";"\nx: N\nN: /[a-z]+/\n', name="sep")
    tree = language.parse("a;b,c")
    assert language.unparse(tree) == "a;b,c"
    assert_replays(language, tree)


def test_keep_all_tokens_rules():
    grammar = '?start: e\n!?e: "(" e ")" | N\n!op: "+" | "-"\nN: /[0-9]/\n'
    asdl = lark_to_asdl(grammar).asdl_text
    assert asdl == "start = e_0(start e)\n      | e_1(N n)\n"  # `!?e`: lark keeps "(" ")", so a node
    assert lark_to_asdl(grammar.replace("!?e", "?e")).asdl_text == "start = e_1(N n)\n"  # else a unit
    language = LarkLanguage('start: op N\n!op: "+" | "-" "-"?\nN: /[0-9]/\n', name="ops")
    assert language.conversion.asdl_text == "start = start(op op, N n)\nop = op_0\n   | op_1\n   | op_2\n"
    for code in ["+1", "-1", "--1"]:
        tree = language.parse(code)
        assert language.unparse(tree) == code
        assert_replays(language, tree)


def test_filtered_regex_terminal_is_written_as_its_shortest_text():
    grammar = r"""
start: x (_VBAR x)*
x: N
_VBAR: _NL? "|"
_NL: /(\r?\n)+\s*/
N: /[a-z]+/
%ignore " "
"""
    language = LarkLanguage(grammar, name="vbar")
    assert language.conversion.templates["start"][1].before == (("|", 0),)
    tree = language.parse("a\n  | b|c")
    assert language.unparse(tree) == "a | b | c"
    assert_replays(language, tree)
    assert [shortest_text(r) for r in [r"(?:(?:\r?\n)+\s*)?\|", r"[+*]|[?](?![a-z])", r"a{3,5}b", r"[^abc]+",
                                       r"\d+\.\d*", r"x|", r"(a)\1", r"(?=x)y"]] == [
        "|", "+", "aaab", "d", "0.", "", None, None]


def test_nested_optional_groups_expand():
    grammar = '?start: e\n?e: a [OP | "~" N [".." N]]\na: N\nOP: /[+*]/\nN: /[0-9]+/\n'
    language = LarkLanguage(grammar, name="nested")
    assert language.conversion.asdl_text == (
        "start = e_0(start a, OP op)\n      | e_1(start a, N n, N? n2)\n      | a(N n)\n")
    for code in ["1", "1+", "1~2", "1~2..3"]:
        tree = language.parse(code)
        assert language.unparse(tree) == code
        assert_replays(language, tree)


REJECTED = [
    # (grammar, the rule named, line, column, message fragment): still refused
    ('start: (NAME | NUMBER)+\n%import common.CNAME -> NAME\n%import common.NUMBER\n', "start", 1, 23,
     "exactly one named symbol"),
    ('start: (NAME ":" NAME)*\n%import common.CNAME -> NAME\n', "start", 1, 14, "exactly one named symbol"),
    ('start: NAME _X\n_X: /(a)\\1/\n%import common.CNAME -> NAME\n', "start", 1, 1, "no text found"),
    ('start: (_x ";")*\n_x: e | f\n?e: a | "(" e ")"\n?f: a\na: N\nN: /[a-z]+/\n', "start__x", 1, 12,
     "cannot tell them apart"),
]


@pytest.mark.parametrize("grammar, rule, line, column, message", REJECTED)
def test_unsupported_constructs_name_rule_line_and_column(grammar, rule, line, column, message):
    with pytest.raises(GrammarError, match=message) as info:
        lark_to_asdl(grammar)
    assert f"rule '{rule}'" in str(info.value)
    assert (info.value.line, info.value.column) == (line, column)
