"""`tranx eval --runs-first` (tranx.evaluation.runs_first): the tests' asserts reduced to their calls of the solution,
and a beam's candidates that run on those inputs moved first, in the sandbox."""

from __future__ import annotations

import pytest

from preprocess.tasks import get_harness
from tranx.errors import TranxError
from tranx.evaluation.runs_first import inputs_only, runs_first
from tranx.execution.unit_tests import Problem

HARNESS = get_harness("codeinsight")


def test_asserts_keep_only_their_calls_of_the_solution():
    test_file = ("import numpy\nresult = test('abc', 'z')\nassert result == 25, 'Test failed'\n"
                 "for x in [1, 2]:\n    assert test(x, [1, 2]) == x\n"
                 "assert numpy.allclose(test(3), [1.0])\nassert len(helper(4)) == len('ab')\n")
    assert inputs_only(test_file).splitlines() == [
        "import numpy", "result = test('abc', 'z')", "pass",  # nothing of the solution called: nothing kept
        "for x in [1, 2]:", "    test(x, [1, 2])",  # the loop's name is the file's own, the call is kept
        "test(3)", "helper(4)"]  # numpy and len are not the solution's; their arguments that call it are kept


def test_a_test_file_that_does_not_parse_is_a_clear_error():
    with pytest.raises(TranxError, match=r"a test file does not parse \(.*line 1\)"):
        inputs_only("assert test(1 == 2")


DOUBLE = Problem("test/0", "double x", "def test(x):\n    return x * 2\n",
                 ("result = test(2)\nassert result == 4", "assert test(0) == 0"), ("math",))
WORDS = Problem("test/1", "first word of s", "def test(s):\n    return s.split()[0]\n",
                ("assert test('a b') == 'a'",), ("str",))


def test_candidates_that_run_go_first_in_the_beams_order():
    rows = [
        {"id": "test/0", "prediction": "", "scores": [-1.0, -2.0, -3.0, -4.0],
         "predictions": ["def test(x):\n    return x.upper()\n",  # AttributeError on an int: does not run
                         "def test(x):\n    return x + 1\n",  # runs (and is wrong: running checks nothing)
                         "def test(x):\n    return 1 / x\n",  # ZeroDivisionError in the second test file
                         "def test(x):\n    return x * 2\n"]},  # runs
        {"id": "test/1", "prediction": "def test(s):\n    return s.split()[0]\n", "scores": [-0.5],
         "predictions": ["def test(s):\n    return s.split()[0]\n"]},
        {"id": "test/9", "prediction": "x", "predictions": ["x"], "scores": [-1.0]},
        {"id": "test/8", "prediction": "y", "predictions": ["y"], "scores": [-1.0]},  # no such problem: kept
    ]
    broken = Problem("test/9", "broken tests", "", ("assert test(1 ==",), ())
    out, counts = runs_first(rows, [DOUBLE, WORDS, broken], HARNESS, workers=2, timeout=5)
    assert out[0]["predictions"] == [rows[0]["predictions"][i] for i in (1, 3, 0, 2)]
    assert out[0]["prediction"] == rows[0]["predictions"][1] and out[0]["scores"] == [-2.0, -4.0, -1.0, -3.0]
    assert out[0]["runs"] == [True, True, False, False]
    assert out[1]["predictions"] == rows[1]["predictions"] and out[1]["runs"] == [True]
    assert out[2] == rows[2] and out[3] == rows[3]  # test/9's test file does not parse: kept, and counted
    assert counts == {"problems": 2, "candidates": 5, "candidates_that_run": 3, "first_changed": 1,
                      "tests_unreadable": 1}
