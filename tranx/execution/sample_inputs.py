"""Candidates run on a user's sample inputs, in the sandbox: those that run without an exception go first.

Why: most wrong snippets of a CoNaLa-style model do not compute a wrong value, they crash (`s.starts()`,
`int('n')`, a misnamed method), and the beam often holds one that does not. A user who can say what the intent's
variables hold (`--sample "s = 'https://example.com'"`) lets the sandbox find it: on the everyday dev intents,
running each candidate on the tests' inputs (without reading the expected values) took the demo model from 10 to
15 of 60 (bench/everyday.py --runs-first). Expected values are never given, so nothing checks that a candidate is
right, only that it runs.

Each candidate runs as `prefix + sample + candidate` (the everyday harness's imports: os, re, json, ..., numpy,
pandas) in its own sandboxed program, after the static screen (tranx.execution.screen), like any generated code.
"""

from __future__ import annotations

import ast
from typing import Sequence

from tranx.errors import TranxError
from tranx.execution.sandbox import Limits, Program, SandboxPool
from tranx.execution.screen import screen
from tranx.execution.snippet_problems import SNIPPET_HARNESS
from tranx.execution.unit_tests import is_python, outcome_of

RUNS = "runs"


def check_sample(sample: str) -> None:
    """A clear error for a sample that is not Python statements (before anything runs)."""
    if not isinstance(sample, str) or not sample.strip():
        raise TranxError("the sample must be Python statements that set the intent's variables, e.g. \"s = 'abc'\"")
    try:
        ast.parse(sample)
    except SyntaxError as exc:
        raise TranxError(f"the sample {sample!r} is not Python ({exc.msg}, line {exc.lineno})") from None


def _program(sample: str, code: str) -> Program:
    return Program([f"{SNIPPET_HARNESS.prefix}\n{sample}\n{code}\n"])


def run_on_sample(codes: Sequence[str], sample: str, *, timeout_s: float = 5.0,
                  workers: int | None = None) -> list[str]:
    """For each code: "runs", or why not (runtime_error, timeout, memory, does_not_parse, rejected). Raises
    TranxError when the sample itself does not parse or does not run (then no candidate could)."""
    check_sample(sample)
    limits = Limits(timeout_s=timeout_s + 1, chunk_timeout_s=timeout_s, output_bytes=2048)
    outcomes: list[str] = []
    jobs: dict[str, int] = {}  # distinct runnable code -> its job
    for code in codes:
        if not is_python(code):
            outcomes.append("does_not_parse")
        elif screen(code) is not None:
            outcomes.append("rejected")
        else:
            jobs.setdefault(code, len(jobs))
            outcomes.append("")
    programs = [_program(sample, "pass")] + [_program(sample, code) for code in jobs]
    runs = list(SandboxPool(workers, limits, preload=SNIPPET_HARNESS.prefix, batch=16).map(programs))
    if runs[0].verdict != "passed":
        raise TranxError(f"the sample {sample!r} does not run by itself: "
                         f"{runs[0].error_type or runs[0].verdict}: {runs[0].error_message}"[:400])
    ran = {code: _outcome(runs[1 + j].verdict) for code, j in jobs.items()}
    return [outcome or ran[code] for code, outcome in zip(codes, outcomes)]


def _outcome(verdict: str) -> str:
    outcome = outcome_of(verdict)
    # nothing is checked here, so a failed assertion is the candidate's own: an error like any other
    return RUNS if outcome == "pass" else "runtime_error" if outcome == "tests_fail" else outcome


def runs_first_order(outcomes: Sequence[str]) -> list[int]:
    """Indices with the candidates that run first, the given order kept within each group."""
    return sorted(range(len(outcomes)), key=lambda i: outcomes[i] != RUNS)
