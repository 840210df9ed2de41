"""Execution-based evaluation of a task with unit tests: its harness (preprocess.tasks.TestHarness), run in the
sandbox, and pass@k.

The harness semantics (those of the data set's authors): for each test file of a problem the program is
``prefix + "\\n" + code + "\\n" + test_file``, executed after the harness's ``setup`` in one namespace shared by the
problem's test files; each test file gets ``seconds_per_test_file``; the problem passes only when every test file
passes. Here each candidate of a problem is one sandboxed program whose chunks are those test-file programs (the
namespace seed is the program's ``setup``); the prefix modules are imported once per sandbox session and inherited
by each forked program.

Outcomes (what a reward can tell apart): ``pass``, ``tests_fail`` (an assertion failed), ``runtime_error`` (another
exception, or killed by a signal), ``timeout`` (wall clock, test-file alarm or CPU limit), ``memory``,
``does_not_parse`` (no code, or code that Python cannot parse) and ``rejected`` (refused by the static screen,
tranx.execution.screen, before running: it could forge its verdict; or stopped at run time when an object of its
own class with comparison or truth methods reached a test's assertion, the sandbox's ``forged``); ``coderl_class`` folds them into CodeRL's
four (timeout and memory are runtime errors there, and a rejected program gets the lowest class, with code that
does not compile). Each candidate also has the number of its test files that passed
(``tests_passed``, of ``len(problem.tests)``), for a pass-ratio reward.
"""
from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Mapping, Sequence

from tqdm import tqdm

from preprocess.tasks import TaskError, TestHarness, get_harness
from tranx.errors import TranxError
from tranx.io import write_json
from tranx.execution.guard import guard_assertions
from tranx.execution.sandbox import Limits, Program, SandboxPool
from tranx.execution.screen import screen
from tranx.execution.snippet_functions import into_header

__all__ = ["CODERL_CLASSES", "OUTCOMES", "Problem", "coderl_class", "problem_of", "ProblemResult", "execute", "load_problems", "outcome_of",
           "pass_at_k", "reference_failures", "summarize"]

OUTCOMES = ("pass", "tests_fail", "runtime_error", "timeout", "memory", "does_not_parse", "rejected")
CODERL_CLASSES = ("pass", "tests_fail", "runtime_error", "does_not_parse")
_HARNESS_VERSION = 4


@dataclass(frozen=True)
class Problem:
    id: str
    intent: str
    reference: str
    tests: tuple[str, ...]
    labels: tuple[str, ...]
    header: str | None = None  # the ``def`` line the tests call, when the problem gives one (``--snippets``)


def problem_of(example) -> Problem:
    """The problem of a data-set example whose meta holds its unit tests (and perhaps the function header)."""
    return Problem(example.id, example.intent, example.code, tuple(example.meta.get("unit_tests") or ()),
                   tuple(example.meta.get("labels") or ()), example.meta.get("function_header"))


@dataclass
class ProblemResult:
    id: str
    outcomes: list[str]  # one per candidate, from OUTCOMES
    verdicts: list[str] = field(default_factory=list)  # the sandbox verdict per candidate ("" if not run)
    errors: list[str] = field(default_factory=list)  # "ErrorType: message" per candidate ("" if none)
    tests_passed: list[int] = field(default_factory=list)  # test files passed per candidate

    @property
    def passed(self) -> int:
        return self.outcomes.count("pass")


def load_problems(task: str, split: str, data_root: str | os.PathLike | None = None) -> list[Problem]:
    """A task's ``split`` as problems with their reference and test files: ``train`` or ``test`` (the files), or
    ``dev`` (the training problems the preprocessing holds out for model selection; ids ``train/N``)."""
    from preprocess.datasets import load_examples
    from preprocess.splits import split_examples
    try:
        get_harness(task)
    except TaskError as exc:
        raise TranxError(str(exc)) from None
    if split not in ("train", "dev", "test"):
        raise TranxError(f"{task} has the splits train, dev and test, not {split!r}")
    examples = (split_examples(task, data_root, splits=["dev"])["dev"] if split == "dev"
                else load_examples(task, split, data_root))
    return [problem_of(e) for e in examples]


_OUTCOME_OF = {"passed": "pass", "failed": "tests_fail", "syntax_error": "does_not_parse", "timeout": "timeout",
               "memory": "memory", "forged": "rejected"}


def outcome_of(verdict: str) -> str:
    """The outcome of a sandbox verdict (`error`, `killed` and anything else: a runtime error)."""
    return _OUTCOME_OF.get(verdict, "runtime_error")


def coderl_class(outcome: str) -> str:
    """CodeRL's four classes: a timeout or running out of memory is a runtime error there; a rejected program
    gets the lowest class."""
    if outcome == "rejected":
        return "does_not_parse"
    return outcome if outcome in CODERL_CLASSES else "runtime_error"


def is_python(code) -> bool:
    """Non-blank Python source that parses (parsing never runs it)."""
    if not isinstance(code, str) or not code.strip():
        return False
    try:
        ast.parse(code)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def _program(harness: TestHarness, problem: Problem, code: str) -> Program:
    """One chunk per test file: the candidate (after the prefix), then the test file as its trusted check, with
    its assertions guarded (tranx.execution.guard)."""
    return Program([harness.prefix + "\n" + code + "\n"] * len(problem.tests), setup=harness.setup,
                   checks=[guard_assertions(test) for test in problem.tests])


def execute(problems: Sequence[Problem], predictions: Mapping[str, Sequence[str]], harness: TestHarness, *,
            workers: int | None = None, timeout: float | None = None, memory_mb: int = 4096,
            progress: bool | None = None, snippets: bool = False) -> list[ProblemResult]:
    """Run every candidate of every problem under the harness; problems without predictions are skipped.

    ``snippets``: a candidate that defines no function (an expression or statements, as a CoNaLa-style model
    writes) runs as the body of the problem's ``header`` function (tranx.execution.snippet_functions.into_header).

    ``timeout`` is per test file (default: the harness's); a candidate's wall-clock limit is that times its number
    of test files, plus a second."""
    timeout = harness.seconds_per_test_file if timeout is None else timeout
    todo = [p for p in problems if p.id in predictions]
    most_tests = max((len(p.tests) for p in todo), default=1)
    limits = Limits(timeout_s=timeout * max(most_tests, 1) + 1, chunk_timeout_s=timeout, memory_mb=memory_mb,
                    output_bytes=2048)
    results = {p.id: ProblemResult(p.id, [], [], []) for p in todo}
    jobs, slots = [], []  # slots[j]: the (problem id, candidate indices) that job j decides
    for problem in todo:
        result, first = results[problem.id], {}
        for code in predictions[problem.id]:
            if snippets and problem.header:
                code = into_header(code, problem.header)
            index = len(result.outcomes)
            result.outcomes.append("does_not_parse")
            result.verdicts.append("")
            result.tests_passed.append(0)
            parses = is_python(code)
            refused = screen(code) if parses else None
            if not parses:
                result.errors.append("no code" if not isinstance(code, str) or not code.strip() else "SyntaxError")
            elif refused is not None:
                result.outcomes[index] = "rejected"
                result.errors.append(f"rejected: {refused}")
            elif code in first:  # identical samples are run once (the tests are deterministic)
                slots[first[code]][1].append(index)
                result.errors.append("")
            else:
                first[code] = len(jobs)
                jobs.append(_program(harness, problem, code))
                slots.append((problem.id, [index]))
                result.errors.append("")
    pool = SandboxPool(workers, limits, preload=harness.prefix, batch=16)
    bar = tqdm(total=len(jobs), desc="execute", unit="program", disable=None if progress is None else not progress,
               leave=False)
    with bar:
        for (problem_id, indices), run in zip(slots, pool.map(jobs)):
            result = results[problem_id]
            passed = sum(1 for chunk in run.chunks if chunk == "ok")
            for index in indices:
                result.verdicts[index] = run.verdict
                result.outcomes[index] = outcome_of(run.verdict)
                result.tests_passed[index] = passed
                if run.error_type:
                    result.errors[index] = f"{run.error_type}: {run.error_message}"[:300]
            bar.update(1)
    return [results[p.id] for p in todo]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c pass (Chen et al., 2021): 1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"pass@k needs 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


# --- reference check ------------------------------------------------------------------------------------------
def _fingerprint(problems: Sequence[Problem], harness: TestHarness) -> str:
    digest = hashlib.sha256()
    for p in problems:
        digest.update(json.dumps([p.id, p.reference, p.tests]).encode("utf-8"))
    versions = {}
    for name in harness.libraries:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    digest.update(json.dumps([_HARNESS_VERSION, asdict(harness), platform.python_version(), versions]).encode("utf-8"))
    return digest.hexdigest()[:16]


def _cache_folder() -> Path:
    return Path(os.environ.get("TRANX_CACHE") or Path.home() / ".cache" / "tranx")


def reference_failures(problems: Sequence[Problem], harness: TestHarness, *, workers: int | None = None, progress: bool | None = None,
                       use_cache: bool = True) -> dict[str, str]:
    """{problem id: why its reference fails} in this environment (library drift, missing modules, ...); a problem
    without tests is listed too (nothing would check a candidate: a pass would be vacuous).

    The result is cached (``$TRANX_CACHE``, default ``~/.cache/tranx``) under a key made of the problems, the
    Python and library versions and the harness version, so a new environment re-checks."""
    path = _cache_folder() / f"reference-check-{_fingerprint(problems, harness)}.json"
    if use_cache and path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))["failures"]
        except (ValueError, KeyError, OSError):
            pass  # a damaged cache file is recomputed
    untested = {p.id: "no unit tests" for p in problems if not p.tests}
    tested = [p for p in problems if p.tests]
    results = execute(tested, {p.id: [p.reference] for p in tested}, harness, workers=workers, progress=progress)
    failures = {**untested, **{r.id: r.errors[0] or r.verdicts[0] for r in results if r.outcomes[0] != "pass"}}
    try:
        write_json(path, {"python": sys.version.split()[0], "problems": len(problems), "failures": failures})
    except OSError:
        pass  # a read-only home only costs a re-check next time
    return failures


# --- summary ---------------------------------------------------------------------------------------------------
def summarize(problems: Sequence[Problem], results: Sequence[ProblemResult], excluded: Mapping[str, str],
              ks: Sequence[int] = (1, 5, 10)) -> dict:
    """pass@k over the problems whose reference passes, outcome counts over all their candidates, per label."""
    by_id = {r.id: r for r in results}
    scored = [p for p in problems if p.id not in excluded]
    missing = [p.id for p in scored if p.id not in by_id or not by_id[p.id].outcomes]
    samples = {len(by_id[p.id].outcomes) for p in scored if p.id not in missing}
    n = min(samples) if samples else 0
    absent = ProblemResult("", ["does_not_parse"] * max(n, 1))  # a missing prediction is a failed candidate
    rows = [(p, by_id[p.id] if p.id not in missing else absent) for p in scored]

    def rate(subset, k):
        values = [pass_at_k(len(r.outcomes), r.passed, k) for _, r in subset]
        return round(100 * sum(values) / len(values), 2) if values else 0.0

    usable_ks = [k for k in ks if k <= max(n, 1)]
    summary = {"problems": len(problems), "total": len(scored), "excluded": len(excluded),
               "passed": sum(1 for _, r in rows if r.passed > 0),  # problems with a passing candidate
               "samples_per_problem": n, "missing": len(missing)}
    for k in usable_ks:
        summary[f"pass@{k}"] = rate(rows, k)
    counts = {name: 0 for name in OUTCOMES}
    for _, r in rows:
        for outcome in r.outcomes:
            counts[outcome] += 1
    summary["outcomes"] = counts
    summary["coderl_outcomes"] = {name: sum(n for o, n in counts.items() if coderl_class(o) == name)
                                  for name in CODERL_CLASSES}
    labels: dict[str, list] = {}
    for p, r in rows:
        for label in p.labels:
            labels.setdefault(label, []).append((p, r))
    summary["labels"] = {label: {"total": len(subset), **{f"pass@{k}": rate(subset, k) for k in usable_ks}}
                         for label, subset in sorted(labels.items())}
    return summary
