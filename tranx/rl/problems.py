"""The problems RL trains and evaluates on: a task's split as `Problem`s (intent, reference, unit tests).

Training uses the model's own train split (`train` minus the held-out dev problems: preprocess.splits), so the
dev problems that select checkpoints are never trained on. For a task with unit tests, problems whose reference
fails here (or that have no tests) are left out and counted: a reward there would say nothing about the code.
"""

from __future__ import annotations

import os

from preprocess.splits import split_examples
from preprocess.tasks import Task, get_harness

from tranx.errors import TranxError
from tranx.execution.unit_tests import Problem, problem_of, reference_failures


def load_rl_problems(task: Task, split: str, data_root: str | os.PathLike | None = None, *,
                     workers: int = 1) -> tuple[list[Problem], dict[str, str]]:
    """(usable problems, {excluded id: why}) of `split` (train, dev or test) in file order."""
    if split not in ("train", "dev", "test"):
        raise TranxError(f"unknown split {split!r} (train, dev or test)")
    try:
        examples = split_examples(task.name, data_root, splits=[split])[split]
    except ValueError as exc:
        raise TranxError(str(exc)) from None
    problems = [problem_of(e) for e in examples]
    if not task.unit_tests:
        return problems, {}
    failures = reference_failures(problems, get_harness(task.name), workers=workers, progress=False)
    return [p for p in problems if p.id not in failures], failures
