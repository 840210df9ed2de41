"""Snippets as functions (the everyday-intents contract), the problems file and its errors, and a sandboxed run."""

from __future__ import annotations

import json

import pytest

from tranx.errors import TranxError
from tranx.execution.snippet_functions import as_function, function_header, into_header
from tranx.execution.snippet_problems import (SNIPPET_HARNESS, as_problems, load_snippet_problems,
                                              wrap_candidates)


def test_a_trailing_expression_is_returned():
    assert as_function("list(dict.fromkeys(xs))", ["xs"]) == "def solution(xs):\n    return list(dict.fromkeys(xs))"
    assert as_function("import json\njson.load(open(path))", ["path"]) == (
        "def solution(path):\n    import json\n    return json.load(open(path))")


def test_returns_names_the_variable_returned_after_the_body():
    assert as_function("xs.sort()", ["xs"], "xs") == "def solution(xs):\n    xs.sort()\n    return xs"
    assert as_function("x = 1", ["a"]) == "def solution(a):\n    x = 1"


def test_a_whole_function_is_called_by_the_benchmarks_name():
    assert as_function("def test(a):\n    return a + 1", ["x"]) == "def test(a):\n    return a + 1\nsolution = test"


def test_what_cannot_become_a_function():
    assert as_function("f(", ["a"]) is None
    assert as_function("   ", ["a"]) is None
    with pytest.raises(TranxError, match="'class' is not a Python identifier"):
        as_function("x", ["class"])
    with pytest.raises(TranxError, match="repeated argument names"):
        as_function("x", ["a", "a"])


def _write(tmp_path, rows):
    path = tmp_path / "p.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


ROW = {"id": "e/1", "split": "dev", "intent": "count 'a' in string `s`", "args": ["s"], "reference": "s.count('a')",
       "returns": None, "tests": ["assert solution('banana') == 3", "assert solution('') == 0"], "labels": ["str"]}


def test_problems_file_errors_name_file_and_line(tmp_path):
    path = _write(tmp_path, [ROW, {**ROW, "id": "e/2", "tests": []}])
    with pytest.raises(TranxError, match=r"p.jsonl:2: no tests"):
        load_snippet_problems(path)
    with pytest.raises(TranxError, match=r"p.jsonl:2: id 'e/1' repeats line 1"):
        load_snippet_problems(_write(tmp_path, [ROW, ROW]))
    with pytest.raises(TranxError, match=r"p.jsonl:1: 'args' must be a list"):
        load_snippet_problems(_write(tmp_path, [{**ROW, "args": "s"}]))
    with pytest.raises(TranxError, match=r"p.jsonl:1: split 'train' is not dev or test"):
        load_snippet_problems(_write(tmp_path, [{**ROW, "split": "train"}]))
    with pytest.raises(TranxError, match=r"p.jsonl:1: invalid JSON"):
        load_snippet_problems(_write(tmp_path, ["{"]))
    assert [p.id for p in load_snippet_problems(_write(tmp_path, [ROW, {**ROW, "id": "e/2", "split": "test"}]),
                                                "test")] == ["e/2"]


def test_candidates_run_in_the_sandbox_as_the_tests_function(tmp_path):
    from tranx.execution.unit_tests import execute
    snippets = load_snippet_problems(_write(tmp_path, [ROW, {**ROW, "id": "e/2", "intent": "sort `xs` in place",
                                                              "args": ["xs"], "reference": "xs.sort()",
                                                              "returns": "xs",
                                                              "tests": ["assert solution([2, 1]) == [1, 2]"]}]))
    problems = as_problems(snippets)
    candidates = {"e/1": ["s.count('a')", "len(s)", "s.count(", "collections.Counter(s)['a']"],
                  "e/2": ["xs.sort()", "sorted(xs)"]}
    results = execute(problems, wrap_candidates(snippets, candidates), SNIPPET_HARNESS, workers=1)
    assert [r.outcomes for r in results] == [["pass", "tests_fail", "does_not_parse", "pass"], ["pass", "tests_fail"]]  # sorted() leaves xs as it was


def test_a_snippet_becomes_the_body_of_the_problems_function():
    assert into_header("[x + 1 for x in lst0]", "def test(lst0):") == "def test(lst0):\n    return [x + 1 for x in lst0]"
    assert into_header("lst0.sort()\nlst0", "def test(lst0, key=None):") == (
        "def test(lst0, key=None):\n    lst0.sort()\n    return lst0")
    # a header that carries the reference's body on its line (one CodeInsight prompt does): the body is dropped
    assert into_header("df0[col0]", "def test(df0, col0):    return df0.assign()") == "def test(df0, col0):\n    return df0[col0]"
    assert into_header("x = 1", "def test(a):") == "def test(a):\n    x = 1"


def test_code_that_defines_a_function_or_does_not_parse_is_left_as_it_is():
    whole = "def test(a):\n    return a + 1"
    assert into_header(whole, "def test(x):") == whole
    assert into_header("import os\ndef helper(a):\n    return a\nhelper(1)", "def test(x):").startswith("import os")
    assert into_header("f(", "def test(x):") == "f("
    assert into_header("", "def test(x):") == ""
    assert into_header("x", "test(x)") == "x"  # not a def line: nothing to wrap in
    assert function_header("class A:") is None and function_header("def f(a, *b):").args.vararg.arg == "b"
