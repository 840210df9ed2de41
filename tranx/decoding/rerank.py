"""Reranking a beam's candidates by what the intent names.

Why: beam search ranks by the decoder's probability alone, and wrong candidates near the top often drop a
variable or a quoted value the user wrote (`re.sub('all', '_', s)` for "replace all spaces in `s` with '_'").
`coverage` puts first the candidates that mention more of the intent's backquoted names and quoted values (ties keep
the model's order). Chosen on CoNaLa dev (bench/results/lever-*.json); a plain substring test, since a stricter
identifier match scored no better there.
"""

from __future__ import annotations

import re
from typing import Sequence, TypeVar

from tranx.config import RERANKERS
from tranx.errors import TranxError

__all__ = ["RERANKERS", "check_reranker", "intent_mentions", "mention_coverage", "rerank"]


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


def rerank(candidates: Sequence[C], intent: str, how: str) -> list[C]:
    """`candidates` (best first by the model) reordered by `how`; a stable sort, so ties keep the model's order."""
    check_reranker(how)
    if how == "none":
        return list(candidates)
    mentions = intent_mentions(intent)
    return sorted(candidates, key=lambda c: -mention_coverage(c.code, mentions))
