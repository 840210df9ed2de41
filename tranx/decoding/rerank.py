"""Reranking a beam's candidates by what the intent names.

Why: beam search ranks by the decoder's probability alone, and wrong candidates near the top often drop a
variable or a quoted value the user wrote (`re.sub('all', '_', s)` for "replace all spaces in `s` with '_'").
`coverage` puts first the candidates that mention more of the intent's backquoted names and quoted values (ties keep
the model's order). Chosen on CoNaLa dev (bench/results/lever-*.json); a plain substring test, since a stricter
identifier match scored no better there.

`equivalence`, for tasks that can tell when two programs mean the same (regexes: DFA equivalence;
tranx.evaluation.meaning): the candidates are grouped by meaning and the groups ordered by the probability the beam
gives them in all (the sum of exp(log-probability) of their members): a vote over meanings rather than spellings.
Each group is represented by the model's best of it, and the other spellings come after every group's
representative, so that an n-best list shows n meanings.
"""

from __future__ import annotations

import math
import re
from typing import Callable, Sequence, TypeVar

from tranx.config import RERANKERS
from tranx.errors import TranxError

__all__ = ["RERANKERS", "check_reranker", "coverage_settled", "intent_mentions", "mention_coverage", "rerank"]


_BACKQUOTED = re.compile(r"`([^`]+)`")
_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"")

C = TypeVar("C")


def check_reranker(name: str, source: str = "rerank") -> str:
    if name not in RERANKERS:
        raise TranxError(f"{source}: unknown reranker {name!r}; known: {', '.join(RERANKERS)}")
    return name


def intent_mentions(intent: str) -> list[str]:
    """The backquoted names and the quoted values of an intent, in order."""
    quoted = [a or b for a, b in _QUOTED.findall(_BACKQUOTED.sub(" ", intent))]
    return _BACKQUOTED.findall(intent) + quoted


def mention_coverage(code: str, mentions: Sequence[str]) -> float:
    """The share of `mentions` that occur in `code` (0 when there are none)."""
    return sum(1 for m in mentions if m in code) / len(mentions) if mentions else 0.0


def coverage_settled(intent: str, n_best: int) -> Callable[[Sequence], bool]:
    """Whether candidates so far (in the model's order, each with `code`) already fix the first `n_best` of the
    coverage order, so later candidates need not be turned into code: `n_best` of them name everything the intent
    mentions (nothing later can pass them, and ties keep the model's order), or it mentions nothing."""
    mentions = intent_mentions(intent)
    if not mentions:
        return lambda candidates: len(candidates) >= n_best
    return lambda candidates: sum(mention_coverage(c.code, mentions) == 1.0 for c in candidates) >= n_best


def meaning_groups(codes: Sequence[str], same: Callable[[str, str], bool]) -> list[int]:
    """The group of each code: the first earlier code it means the same as decides (its group), else a new one."""
    heads: list[int] = []  # the first code of each group
    groups = []
    for i, code in enumerate(codes):
        group = next((g for g, head in enumerate(heads) if same(codes[head], code)), None)
        if group is None:
            group = len(heads)
            heads.append(i)
        groups.append(group)
    return groups


def rerank(candidates: Sequence[C], intent: str, how: str, *,
           same: Callable[[str, str], bool] | None = None) -> list[C]:
    """`candidates` (best first by the model) reordered by `how`; a stable sort, so ties keep the model's order.
    `equivalence` needs `same` (tranx.evaluation.meaning) and the candidates' `log_prob`."""
    check_reranker(how)
    if how == "none":
        return list(candidates)
    if how == "equivalence":
        if same is None:
            raise TranxError("the equivalence reranker needs a task that can tell when two programs mean the same")
        groups = meaning_groups([c.code for c in candidates], same)
        top = max((c.log_prob for c in candidates), default=0.0)
        mass = [0.0] * (max(groups, default=-1) + 1)
        for c, g in zip(candidates, groups):
            mass[g] += math.exp(c.log_prob - top)
        first = {g: i for i, g in reversed(list(enumerate(groups)))}  # each group's best, by the model
        order = sorted(range(len(candidates)), key=lambda i: (first[groups[i]] != i, -mass[groups[i]]))
        return [candidates[i] for i in order]
    mentions = intent_mentions(intent)
    return sorted(candidates, key=lambda c: -mention_coverage(c.code, mentions))
