"""Is one system's greedy pass@1 different from another's on the same unit-test problems? A paired bootstrap over
the problems (tranx.ablation.bootstrap), from the per-problem files `tranx eval --execute --details` and
`tranx execute --details` write: one JSON object a line with the problem's `id` and the `outcomes` of its
candidates; a problem passes when its first candidate's outcome is "pass" (greedy pass@1)."""

from __future__ import annotations

import json
from pathlib import Path

from tranx.ablation.bootstrap import BootstrapResult, paired_bootstrap_accuracy
from tranx.errors import TranxError

__all__ = ["paired_pass_at_1", "paired_passes", "read_passes"]


def read_passes(path: str | Path) -> dict[str, bool]:
    """Problem id -> whether its first candidate passed, from a `--details` file."""
    path = Path(path)
    if not path.is_file():
        raise TranxError(f"details file not found: {path} (written by tranx eval --execute --details FILE)")
    passes: dict[str, bool] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            problem, outcomes = row["id"], row["outcomes"]
        except (ValueError, TypeError, KeyError):
            raise TranxError(f"{path} line {lineno}: not a details row (a JSON object with 'id' and 'outcomes')") from None
        if not isinstance(outcomes, list):
            raise TranxError(f"{path} line {lineno}: 'outcomes' is {type(outcomes).__name__}, not a list")
        if problem in passes:
            raise TranxError(f"{path} line {lineno}: problem {problem!r} appears twice")
        passes[problem] = bool(outcomes) and outcomes[0] == "pass"
    if not passes:
        raise TranxError(f"{path}: no problems in it")
    return passes


def paired_pass_at_1(a: str | Path, b: str | Path, *, resamples: int = 10_000, seed: int = 1) -> BootstrapResult:
    """Greedy pass@1 of A minus B (points) with its 95% interval and p-value; both files must cover the same
    problems, else the difference would mix in the problems only one of them ran."""
    return paired_passes(read_passes(a), read_passes(b), names=(str(a), str(b)), resamples=resamples, seed=seed)


def paired_passes(passes_a: dict[str, bool], passes_b: dict[str, bool], *, names: tuple[str, str] = ("A", "B"),
                  resamples: int = 10_000, seed: int = 1) -> BootstrapResult:
    """`paired_pass_at_1` on passes already read (`read_passes`)."""
    if passes_a.keys() != passes_b.keys():
        only_a, only_b = len(passes_a.keys() - passes_b.keys()), len(passes_b.keys() - passes_a.keys())
        raise TranxError(f"{names[0]} and {names[1]} cover different problems ({only_a} only in the first, {only_b} "
                         f"only in the second): run both on the same split")
    ids = sorted(passes_a)
    return paired_bootstrap_accuracy([passes_a[i] for i in ids], [passes_b[i] for i in ids],
                                     resamples=resamples, seed=seed)
