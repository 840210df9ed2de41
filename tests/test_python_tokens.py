"""`tokens:python` (tranx.languages.python_tokens), the target of the grammar-free ablation: known token sequences,
round trips on the grammar tests' tricky snippets, leniency on code that does not parse, and the action sequence."""

from __future__ import annotations

import ast

import pytest

from snippets import TRICKY
from tranx.grammar.actions import ApplyRule, GenToken, Reduce
from tranx.grammar.transition import TransitionSystem, valid_actions
from tranx.languages import get_language
from tranx.languages.python_tokens import DEDENT, INDENT, NEWLINE, join_tokens, python_tokens

LANGUAGE = get_language("tokens:python")


def test_known_tokens_with_strings_split_for_copy():
    assert python_tokens("'str_0'.split(var_0, maxsplit=1)") == [
        "'", "str_0", "'", ".", "split", "(", "var_0", ",", "maxsplit", "=", "1", ")"]
    assert python_tokens("x = rb'' + f\"{a}\"  # note") == ["x", "=", "rb'", "'", "+", 'f"', "{a}", '"']


def test_blocks_become_newline_indent_dedent_and_join_back():
    code = "def f(x):\n    if x:\n        return 1\n    return 2"
    tokens = python_tokens(code)
    assert tokens == ["def", "f", "(", "x", ")", ":", NEWLINE, INDENT, "if", "x", ":", NEWLINE, INDENT, "return",
                      "1", NEWLINE, DEDENT, "return", "2"]
    assert join_tokens(tokens) == "def f ( x ) :\n    if x :\n        return 1\n    return 2"


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_round_trip_keeps_the_syntax_tree(name):
    code = TRICKY[name]
    written = LANGUAGE.unparse(LANGUAGE.parse(code))
    assert ast.dump(ast.parse(written)) == ast.dump(ast.parse(code)), written
    assert LANGUAGE.canonicalize(written) == written  # tokens of the canonical form: a fixed point


def test_code_is_tokenized_in_the_form_the_grammar_decoder_writes():
    # ast.unparse's form: single quotes, one space around operators; `pretty` then matches the Python language's
    assert LANGUAGE.parse('x=["a"]').values[0] == ("x", "=", "[", "'", "a", "'", "]")
    python = get_language("python")
    for code in ("f((x for x in y))", "print('a' 'b')", "a [1 :2]"):
        assert LANGUAGE.pretty(LANGUAGE.canonicalize(code)) == python.pretty(python.canonicalize(code))


def test_code_that_does_not_parse_is_kept_as_decoded():
    assert python_tokens("foo(a, ") == ["foo", "(", "a", ","]
    assert LANGUAGE.unparse(LANGUAGE.parse("foo(a, ")) == "foo ( a ,"
    assert python_tokens("x = 'abc") == ["x", "=", "'", "abc"]
    assert join_tokens(["x", "=", "'", "abc"]) == "x = ' abc"  # an unclosed string stays unclosed
    assert LANGUAGE.pretty("foo ( a ,") == "foo ( a ,"
    assert LANGUAGE.check("foo ( a ,") is None  # no grammar, no check


def test_actions_are_one_rule_then_tokens_then_reduce():
    system = TransitionSystem(LANGUAGE.grammar)
    tree = LANGUAGE.parse("print(s)")
    actions = system.oracle(tree)
    assert isinstance(actions[0], ApplyRule) and actions[0].constructor.name == "Tokens"
    assert [a.value for a in actions[1:-1] if isinstance(a, GenToken)] == ["print", "(", "s", ")"]
    assert isinstance(actions[-1], Reduce) and len(actions) == 6
    hypothesis = system.initial()
    for action in actions[:3]:
        hypothesis = hypothesis.apply(action)
    valid = valid_actions(hypothesis)  # any token, or the end: nothing else constrains the sequence
    assert valid.token and valid.reduce and not valid.constructors
    assert system.replay(actions).tree() == tree
    assert LANGUAGE.token_ok("token", ")") and not LANGUAGE.token_ok("token", "")


def test_substitution_and_restore_are_pythons():
    from preprocess.slots import SlotMap
    slot_map = SlotMap.from_json([{"name": "str_0", "kind": "str", "value": "a,b", "quote": "'"}])
    code, used = LANGUAGE.substitute("s.split('a,b')", slot_map)
    assert (code, used) == ("s.split('str_0')", frozenset({"str_0"}))
    assert LANGUAGE.restore("s . split ( 'str_0' )", slot_map) == "s.split('a,b')"
    assert LANGUAGE.restore("s . split ( 'str_0'", slot_map) == "s . split ( 'a,b'"  # as text, when it does not parse
