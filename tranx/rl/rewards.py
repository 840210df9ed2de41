"""Rewards a policy cannot talk its way into, one interface: unit tests in the sandbox, exact match, sentence BLEU.

`reward(problems, candidates) -> [[Scored]]`: one score per candidate (code, or "" for a sample that did not become
code). Unit-test verdicts are cached by (problem, code), so identical samples of a problem, and samples seen at an
earlier step, are executed once; every candidate is screened and sandboxed (tranx.execution.unit_tests).

CodeRL's scale for unit tests: +1 pass, -0.3 tests fail, -0.6 runtime error, -1 does not parse; a rejected
(screened or forged), timed-out or memory-exhausting program gets the lowest, -1, so that no way of not being
checked pays more than failing a check. `pass_ratio`: the share of test files passed (0..1), -1 for the same
unchecked outcomes and for code that does not parse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from preprocess.tasks import Task, get_harness

from tranx.errors import TranxError
from tranx.evaluation.scoring import in_reference_style, task_scores
from tranx.execution.unit_tests import Problem, execute
from tranx.metrics import sentence_bleu, tokenize_for_bleu_eval

CODERL_REWARD = {"pass": 1.0, "tests_fail": -0.3, "runtime_error": -0.6, "does_not_parse": -1.0,
                 "rejected": -1.0, "timeout": -1.0, "memory": -1.0}
UNCHECKED = ("does_not_parse", "rejected", "timeout", "memory")


@dataclass(frozen=True)
class Scored:
    reward: float
    outcome: str  # unit tests: an outcome of tranx.execution.unit_tests; else "match" / "no_match" / "no_code"
    success: bool  # passes every test / matches the reference exactly


class UnitTestReward:
    def __init__(self, task: Task, *, scheme: str = "unit_tests", workers: int = 1, snippets: bool = False):
        if scheme not in ("unit_tests", "pass_ratio"):
            raise TranxError(f"unit-test reward scheme {scheme!r} is not unit_tests or pass_ratio")
        self.harness = get_harness(task.name)
        self.scheme, self.workers, self.snippets = scheme, workers, snippets
        self.cache: dict[tuple[str, str], tuple[str, int]] = {}  # (problem id, code) -> (outcome, tests passed)
        self.executed = 0  # programs run in the sandbox (cache misses): the cost of the reward

    def __call__(self, problems: Sequence[Problem], candidates: Sequence[Sequence[str]]) -> list[list[Scored]]:
        todo: dict[str, list[str]] = {}
        for problem, codes in zip(problems, candidates):
            for code in codes:
                key = (problem.id, code)
                if code and key not in self.cache and code not in todo.get(problem.id, ()):
                    todo.setdefault(problem.id, []).append(code)
        if todo:
            runnable = [p for p in problems if p.id in todo]
            unique = {p.id: p for p in runnable}
            for result in execute(list(unique.values()), todo, self.harness, workers=self.workers, progress=False,
                                  snippets=self.snippets):
                for code, outcome, passed in zip(todo[result.id], result.outcomes, result.tests_passed):
                    self.cache[(result.id, code)] = (outcome, passed)
                    self.executed += outcome not in ("does_not_parse", "rejected")
        return [[self._score(problem, code) for code in codes] for problem, codes in zip(problems, candidates)]

    def _score(self, problem: Problem, code: str) -> Scored:
        outcome, passed = self.cache.get((problem.id, code), ("does_not_parse", 0)) if code else ("does_not_parse", 0)
        if self.scheme == "unit_tests":
            reward = CODERL_REWARD[outcome]
        else:
            reward = -1.0 if outcome in UNCHECKED else passed / max(1, len(problem.tests))
        return Scored(reward, outcome, outcome == "pass")


class _PerCandidate:
    """A reward computed from each candidate and its reference alone (no execution)."""

    executed = 0

    def __init__(self, task: Task):
        self.task = task

    def __call__(self, problems, candidates) -> list[list[Scored]]:
        return [[self.score(problem, code) if code else Scored(0.0, "no_code", False) for code in codes]
                for problem, codes in zip(problems, candidates)]

    def score(self, problem: Problem, code: str) -> Scored:
        raise NotImplementedError


class ExactMatchReward(_PerCandidate):
    """1 when the candidate equals the reference under the task's exact-match comparison, else 0."""

    def score(self, problem: Problem, code: str) -> Scored:
        hit = task_scores(self.task, [code], [problem.reference])["exact_match"] == 100.0
        return Scored(float(hit), "match" if hit else "no_match", hit)


class BleuReward(_PerCandidate):
    """Smoothed sentence BLEU on the official tokens, scaled to 0..1; an exact token match counts as success."""

    def score(self, problem: Problem, code: str) -> Scored:
        tokens = tokenize_for_bleu_eval(in_reference_style(self.task, code))
        reference = tokenize_for_bleu_eval(problem.reference)
        hit = bool(tokens) and tokens == reference
        return Scored(sentence_bleu(tokens, reference) / 100.0, "match" if hit else "no_match", hit)


def build_reward(name: str, task: Task, *, workers: int = 1, snippets: bool = False):
    """`snippets`: unit-test rewards run a sample that defines no function as the body of the problem's function
    (a CoNaLa-style model on a task whose tests call a function)."""
    if name in ("unit_tests", "pass_ratio"):
        if not task.unit_tests:
            raise TranxError(f"reward {name!r} needs a task with unit tests; {task.name!r} has none "
                             "(use exact_match or bleu)")
        return UnitTestReward(task, scheme=name, workers=workers, snippets=snippets)
    if snippets:
        raise TranxError(f"snippets wrap samples for unit tests; reward {name!r} runs none")
    if name == "exact_match":
        return ExactMatchReward(task)
    if name == "bleu":
        return BleuReward(task)
    raise TranxError(f"unknown reward {name!r}")
