"""CodeInsight harness, pass@k and `tranx execute`, on small hand-made problems (the sandbox runs every program)."""
from __future__ import annotations

import json
import math

import pytest

from tranx.execution import unit_tests
from tranx.cli import main
from tranx.execution.unit_tests import (Problem, ProblemResult, coderl_class, execute, load_problems, outcome_of, pass_at_k, reference_failures,
                               summarize)
from tranx.errors import TranxError
from preprocess.tasks import get_harness

HARNESS = get_harness("codeinsight")

ADD = Problem("test/0", "add one to each item of lst0", "def test(lst0):\n    return [x + 1 for x in lst0]\n",
              ("assert test([1, 2]) == [2, 3]", "assert test([]) == []"), ("list", "math"))
# The second test file uses a name the first one defined: the authors share one namespace per problem.
SHARED = Problem("test/1", "length of s", "def test(s):\n    return len(s)\n",
                 ("s = 'abc'\nassert test(s) == 3", "assert test(s + 'd') == 4"), ("str",))
# np and pd exist without an import (the authors' globals dict), and the prefix imported math.
NUMPY = Problem("test/2", "sum of an array", "def test(a):\n    return int(np.sum(a)) + int(math.floor(0.5))\n",
                ("assert test(pd.Series([1, 2]).values) == 3",), ("numpy",))
# A reference that fails in any environment: it is excluded, not scored.
BROKEN = Problem("test/3", "broken", "def test():\n    return 1\n", ("assert test() == 2",), ("math",))
PROBLEMS = [ADD, SHARED, NUMPY, BROKEN]


@pytest.mark.parametrize("n, c, k, expected", [
    (10, 0, 1, 0.0), (10, 10, 5, 1.0), (10, 1, 1, 0.1), (10, 3, 1, 0.3),
    (10, 2, 5, 1 - math.comb(8, 5) / math.comb(10, 5)), (5, 1, 5, 1.0), (1, 1, 1, 1.0)])
def test_pass_at_k_known_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError, match="at least 5 samples"):
        pass_at_k(3, 1, 5)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(3, 4, 1)


def test_outcome_classes():
    outcomes = [outcome_of(v) for v in ("passed", "failed", "syntax_error", "error", "timeout", "memory", "killed")]
    assert coderl_class("rejected") == "does_not_parse"  # the lowest class
    assert outcomes == ["pass", "tests_fail", "does_not_parse", "runtime_error", "timeout", "memory", "runtime_error"]
    assert [coderl_class(o) for o in outcomes] == [
        "pass", "tests_fail", "does_not_parse", "runtime_error", "runtime_error", "runtime_error", "runtime_error"]


def test_execute_classifies_each_candidate():
    candidates = {
        "test/0": [ADD.reference,                                   # pass
                   "def test(lst0):\n    return lst0\n",            # assertion fails
                   "def test(lst0):\n    return lst0[99]\n",        # IndexError
                   "def test(lst0):\n    return [x + 1 for x in\n",  # does not parse
                   "",                                              # no code
                   "import sys\nsys.exit(0)\n"],                    # leaves before the asserts: not a pass
        "test/1": [SHARED.reference],
        "test/2": [NUMPY.reference],
    }
    results = {r.id: r for r in execute(PROBLEMS, candidates, HARNESS, workers=2, timeout=5)}
    assert set(results) == {"test/0", "test/1", "test/2"}  # no prediction: not run
    assert results["test/0"].outcomes == ["pass", "tests_fail", "runtime_error", "does_not_parse", "does_not_parse",
                                          "rejected"]  # leaving before the asserts is refused by the screen
    assert results["test/0"].tests_passed == [2, 1, 0, 0, 0, 0]  # "return lst0" passes `test([]) == []`
    assert results["test/0"].errors[2].startswith("IndexError")
    assert results["test/0"].errors[5] == "rejected: uses sys.exit"
    assert results["test/1"].outcomes == ["pass"]
    assert results["test/2"].outcomes == ["pass"]


def test_a_slow_test_file_times_out():
    slow = Problem("test/9", "slow", "def test():\n    import time\n    time.sleep(30)\n", ("test()",), ())
    (result,) = execute([slow], {"test/9": [slow.reference]}, HARNESS, workers=1, timeout=1)
    assert result.outcomes == ["timeout"] and result.verdicts == ["timeout"] and result.tests_passed == [0]


def test_summary_excludes_failing_references_and_breaks_down_by_label():
    results = [ProblemResult("test/0", ["pass", "tests_fail"]), ProblemResult("test/1", ["tests_fail", "tests_fail"]),
               ProblemResult("test/2", ["pass", "pass"]), ProblemResult("test/3", ["pass", "pass"])]
    summary = summarize(PROBLEMS, results, {"test/3": "AssertionError"}, ks=(1, 2, 5))
    assert (summary["total"], summary["excluded"], summary["passed"], summary["samples_per_problem"]) == (3, 1, 2, 2)
    assert summary["pass@1"] == pytest.approx(100 * (0.5 + 0 + 1) / 3, abs=0.01)
    assert summary["pass@2"] == pytest.approx(100 * 2 / 3, abs=0.01)
    assert "pass@5" not in summary  # needs 5 samples per problem
    assert summary["outcomes"] == {"pass": 3, "tests_fail": 3, "runtime_error": 0, "timeout": 0, "memory": 0,
                                   "does_not_parse": 0, "rejected": 0}
    assert summary["coderl_outcomes"] == {"pass": 3, "tests_fail": 3, "runtime_error": 0, "does_not_parse": 0}
    assert summary["labels"]["list"] == {"total": 1, "pass@1": 50.0, "pass@2": 100.0}
    assert "numpy" in summary["labels"] and summary["labels"]["numpy"]["pass@1"] == 100.0


def test_missing_predictions_count_as_failures():
    summary = summarize(PROBLEMS[:2], [ProblemResult("test/0", ["pass"])], {})
    assert (summary["total"], summary["passed"], summary["missing"], summary["pass@1"]) == (2, 1, 1, 50.0)
    assert summary["outcomes"]["does_not_parse"] == 1


def test_reference_failures_are_found_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANX_CACHE", str(tmp_path))
    assert list(reference_failures(PROBLEMS, HARNESS, workers=2)) == ["test/3"]
    assert len(list(tmp_path.glob("reference-check-*.json"))) == 1

    def no_run(*args, **kwargs):
        raise AssertionError("the cached check should have been used")
    monkeypatch.setattr(unit_tests, "execute", no_run)
    assert list(reference_failures(PROBLEMS, HARNESS, workers=2)) == ["test/3"]


# --- the command line ---------------------------------------------------------------------------------------------
@pytest.fixture
def data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANX_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "data" / "codeinsight"
    folder.mkdir(parents=True)
    with open(folder / "codeinsight-test.jsonl", "w", encoding="utf-8") as handle:
        for number, p in enumerate(PROBLEMS):
            handle.write(json.dumps({"split": "test", "id": number, "uid": p.id, "nl": p.intent + "\n",
                                     "code": p.reference, "unit_tests": list(p.tests), "labels": list(p.labels),
                                     "lib": ["NoImport"]}) + "\n")
    return tmp_path / "data"


def _run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out.strip().splitlines(), err


def test_execute_command_reports_pass_at_k_and_what_it_skipped(data_root, tmp_path, capsys):
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("\n".join([
        json.dumps({"id": "test/0", "predictions": [ADD.reference, "def test(lst0):\n    return lst0\n"]}),
        json.dumps({"id": "test/1", "prediction": SHARED.reference}),
        json.dumps({"id": "test/77", "prediction": "x"}),  # unknown id
        "{not json",
    ]) + "\n", encoding="utf-8")
    details = tmp_path / "details.jsonl"
    status, lines, _ = _run(capsys, "execute", str(predictions), "--dataset", "codeinsight", "--split", "test",
                            "--data-root", str(data_root), "--workers", "2", "--details", str(details))
    assert status == 0
    summary = json.loads(lines[-1])
    assert (summary["total"], summary["excluded"], summary["passed"], summary["missing"]) == (3, 1, 2, 1)
    assert summary["samples_per_problem"] == 1  # the fewest candidates any problem has
    assert (summary["unknown"], summary["malformed"]) == (1, 1)
    assert summary["outcomes"] == {"pass": 2, "tests_fail": 1, "runtime_error": 0, "timeout": 0, "memory": 0,
                                   "does_not_parse": 1, "rejected": 0}
    text = "\n".join(lines)
    assert "excluded: 1 problems" in text and "test/3" in text and "missing: 1" in text and "test/77" in text
    rows = [json.loads(line) for line in details.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["test/0", "test/1"] and rows[0]["outcomes"] == ["pass", "tests_fail"]


@pytest.mark.parametrize("argv, needle", [
    (["--workers", "0"], "--workers must be at least 1"),
    (["--timeout", "0"], "--timeout must be positive"),
])
def test_execute_bad_options_are_one_line_errors(data_root, tmp_path, capsys, argv, needle):
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("", encoding="utf-8")
    status, _, err = _run(capsys, "execute", str(predictions), "--dataset", "codeinsight", "--split", "test",
                          "--data-root", str(data_root), *argv)
    assert status != 0 and needle in err and "Traceback" not in err


def test_execute_missing_predictions_file(data_root, tmp_path, capsys):
    status, _, err = _run(capsys, "execute", str(tmp_path / "nope.jsonl"), "--dataset", "codeinsight", "--split",
                          "test", "--data-root", str(data_root))
    assert status != 0 and "not found" in err and "nope.jsonl" in err


@pytest.fixture
def ran(monkeypatch) -> list:
    """The programs the sandbox pool is given to run, in order."""
    programs_run = []
    real_map = unit_tests.SandboxPool.map

    def counting_map(self, programs):
        programs = list(programs)
        programs_run.extend(programs)
        return real_map(self, programs)
    monkeypatch.setattr(unit_tests.SandboxPool, "map", counting_map)
    return programs_run


def test_identical_candidates_run_once_and_share_the_outcome(ran):
    wrong = "def test(lst0):\n    return lst0\n"
    (result,) = execute([ADD], {"test/0": [wrong, ADD.reference, wrong, "", ADD.reference]}, HARNESS, workers=2)
    assert result.outcomes == ["tests_fail", "pass", "tests_fail", "does_not_parse", "pass"]
    assert len(ran) == 2


def test_dev_problems_are_the_held_out_training_rows():
    from tranx.data.pipeline import split_examples
    dev = load_problems("codeinsight", "dev")
    held_out = split_examples("codeinsight", splits=["dev"])["dev"]
    assert len(dev) == 150 and [p.id for p in dev] == [e.id for e in held_out]
    train_ids = {p.id for p in load_problems("codeinsight", "train")}
    assert all(p.id in train_ids and p.tests for p in dev)
    with pytest.raises(TranxError, match="splits train, dev and test, not 'valid'"):
        load_problems("codeinsight", "valid")


def test_a_problem_without_tests_is_excluded_not_a_vacuous_pass(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANX_CACHE", str(tmp_path))
    untested = Problem("test/8", "nothing to check", "def test():\n    return 1\n", (), ())
    assert reference_failures([untested, ADD], HARNESS, workers=1) == {"test/8": "no unit tests"}
    (result,) = execute([untested], {"test/8": [untested.reference]}, HARNESS, workers=1)
    summary = summarize([untested, ADD], [result], {"test/8": "no unit tests"})
    assert (summary["total"], summary["excluded"]) == (1, 1)


ALWAYS_EQUAL = ("class Anything:\n    def __eq__(self, other):\n        return True\n"
                "def test(lst0):\n    return Anything()\n")


def test_an_always_equal_object_is_rejected_before_it_runs(ran):
    """The exploit that passed `assert result == expected` is refused by the screen; innocent candidates beside it
    keep their verdicts."""
    hostile = [ALWAYS_EQUAL, "import sys\ndef test(lst0):\n    sys.exit(0)\n",
               "import os\ndef test(lst0):\n    os._exit(0)\n", "def test(lst0):\n    return __builtins__\n"]
    (result,) = execute([ADD], {"test/0": [ADD.reference, *hostile, "def test(lst0):\n    return lst0\n"]},
                        HARNESS, workers=1)
    assert result.outcomes == ["pass", "rejected", "rejected", "rejected", "rejected", "tests_fail"]
    assert result.errors[1:5] == ["rejected: defines __eq__", "rejected: uses sys.exit", "rejected: calls os._exit",
                                  "rejected: uses __builtins__"]
    assert len(ran) == 2  # only the innocent two ran


def test_the_screen_lets_every_reference_through():
    """No CodeInsight reference is refused, so the reference check's pass count cannot move."""
    from preprocess.datasets import DataRootError, load_examples
    from tranx.execution.screen import screen
    try:
        examples = load_examples("codeinsight", "test") + load_examples("codeinsight", "train")
    except DataRootError:
        pytest.skip("the shared CodeInsight data is not here")
    assert [(e.id, screen(e.code)) for e in examples if screen(e.code)] == []


# Hostile candidates the static screen lets through: the sandbox's guard stops them at run time.
SLIPS_PAST_THE_SCREEN = [
    "def test(lst0):\n    name = '_' + '_eq__'\n    cls = type('Anything', (), {name: lambda s, o: True})\n"
    "    return cls()\n",
    "class Frame:\n    pass\nsetattr(Frame, 'eq'.join(['__', '__']), lambda s, o: True)\n"
    "def test(lst0):\n    return Frame()\n",
]


@pytest.mark.parametrize("code", SLIPS_PAST_THE_SCREEN, ids=["type-call", "setattr-on-class"])
def test_an_always_equal_object_past_the_screen_is_stopped_at_run_time(code):
    from tranx.execution.screen import screen
    assert screen(code) is None  # what this test is about
    (result,) = execute([ADD], {"test/0": [ADD.reference, code]}, HARNESS, workers=1)
    assert result.outcomes == ["pass", "rejected"], result
    assert result.errors[1].startswith("Forged: an object of the program's own class") and "__eq__" in result.errors[1]
    assert result.tests_passed == [2, 0]


@pytest.mark.parametrize("code, reason", [
    ("import numpy as np\nnp.array_equal = lambda a, b: True", "patches np.array_equal"),
    ("import pandas\nsetattr(pandas.DataFrame, 'equals', None)", "setattr on pandas.DataFrame"),
    ("pd.DataFrame.equals = None", "patches pd.DataFrame.equals"),
    ("from unittest import mock", "imports from unittest"),
    ("setattr(pd, 'DataFrame', list)", "setattr on pd"),
    ("from unittest.mock import ANY\ndef test(x):\n    return ANY", "imports from unittest.mock"),
    ("class A:\n    __module__ = 'json'", "sets __module__"),
    ("X = type('X', (), {'__eq__': None})", "names __eq__"),
    ("__tranx_seen__ = id", "uses __tranx_seen__"),
])
def test_the_screen_refuses_patching_what_the_tests_compare_with(code, reason):
    from tranx.execution.screen import screen
    assert screen(code) == reason


def test_snippets_run_as_the_body_of_the_function_the_tests_call():
    add = Problem(ADD.id, ADD.intent, ADD.reference, ADD.tests, ADD.labels, header="def test(lst0):")
    snippets = {add.id: ["[x + 1 for x in lst0]", "[x for x in lst0]", ADD.reference, "lst0 +"]}
    plain = execute([add], snippets, HARNESS, workers=1, timeout=5)[0]
    assert plain.outcomes == ["runtime_error", "runtime_error", "pass", "does_not_parse"]  # no `test` defined
    wrapped = execute([add], snippets, HARNESS, workers=1, timeout=5, snippets=True)[0]
    assert wrapped.outcomes == ["pass", "tests_fail", "pass", "does_not_parse"]
    assert execute([ADD], snippets, HARNESS, workers=1, timeout=5, snippets=True)[0].outcomes == plain.outcomes
