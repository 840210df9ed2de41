"""Problems given as an intent, a function signature and unit tests (the everyday-intents benchmark,
data/everyday/intents.jsonl): reading them, and running a model's snippets on them in the sandbox.

A line of the file: ``{"id", "split", "intent", "args", "reference", "returns", "tests", "labels"}``; the snippet
(reference or candidate) becomes ``def solution(*args)`` (tranx.execution.snippet_functions), the harness prefix
imports the everyday modules, and each test file calls ``solution``. Problems pass as in
tranx.execution.unit_tests: every test file must pass.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from preprocess.tasks import TestHarness
from tranx.errors import TranxError
from tranx.execution.snippet_functions import as_function, check_signature
from tranx.execution.unit_tests import Problem

__all__ = ["SNIPPET_HARNESS", "SnippetProblem", "as_problems", "load_snippet_problems", "wrap_candidates"]

#: The modules a snippet may use without importing them (module names as such, numpy and pandas also as np, pd).
SNIPPET_HARNESS = TestHarness(
    prefix=("import os\nimport re\nimport json\nimport csv\nimport math\nimport string\nimport datetime\n"
            "import collections\nimport itertools\nimport functools\nimport statistics\nimport glob\n"
            "import pathlib\nimport numpy\nimport numpy as np\nimport pandas\nimport pandas as pd\n"),
    setup="", seconds_per_test_file=5.0, libraries=("numpy", "pandas"))

_FIELDS = {"id": str, "split": str, "intent": str, "args": list, "reference": str, "tests": list, "labels": list}


@dataclass(frozen=True)
class SnippetProblem:
    id: str
    split: str
    intent: str
    args: tuple[str, ...]
    reference: str
    returns: str | None
    tests: tuple[str, ...]
    labels: tuple[str, ...]


def _problem(obj, where: str) -> SnippetProblem:
    if not isinstance(obj, dict):
        raise TranxError(f"{where}: not a JSON object")
    for name, kind in _FIELDS.items():
        if not isinstance(obj.get(name), kind):
            raise TranxError(f"{where}: {name!r} must be a {kind.__name__}")
    returns = obj.get("returns")
    if returns is not None and not isinstance(returns, str):
        raise TranxError(f"{where}: 'returns' must be null or a variable name")
    for name in ("args", "tests", "labels"):
        if not all(isinstance(x, str) for x in obj[name]):
            raise TranxError(f"{where}: every entry of {name!r} must be a string")
    if not obj["tests"]:
        raise TranxError(f"{where}: no tests (a pass would be vacuous)")
    if obj["split"] not in ("dev", "test"):
        raise TranxError(f"{where}: split {obj['split']!r} is not dev or test")
    check_signature(obj["args"], returns, source=where)
    return SnippetProblem(obj["id"], obj["split"], obj["intent"], tuple(obj["args"]), obj["reference"], returns,
                          tuple(obj["tests"]), tuple(obj["labels"]))


def load_snippet_problems(path: str | os.PathLike, split: str | None = None) -> list[SnippetProblem]:
    """The problems of the JSON Lines file `path` (of `split` only, when given); errors name file:line."""
    path = Path(path)
    if not path.is_file():
        raise TranxError(f"{path}: no such file")
    problems, seen = [], {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise TranxError(f"{where}: invalid JSON ({exc})") from None
        problem = _problem(obj, where)
        if problem.id in seen:
            raise TranxError(f"{where}: id {problem.id!r} repeats line {seen[problem.id]}")
        seen[problem.id] = lineno
        problems.append(problem)
    if split is not None:
        if split not in ("dev", "test"):
            raise TranxError(f"split {split!r} is not dev or test")
        problems = [p for p in problems if p.split == split]
    return problems


def as_problems(problems: Sequence[SnippetProblem]) -> list[Problem]:
    """The unit-test problems, with the reference wrapped as the function the tests call."""
    return [Problem(p.id, p.intent, as_function(p.reference, p.args, p.returns) or "", p.tests, p.labels)
            for p in problems]


def wrap_candidates(problems: Sequence[SnippetProblem], candidates: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Each problem's snippets as functions; a snippet that does not parse stays as it is (it fails to parse)."""
    by_id = {p.id: p for p in problems}
    return {pid: [as_function(code, by_id[pid].args, by_id[pid].returns) or code for code in codes]
            for pid, codes in candidates.items() if pid in by_id}
