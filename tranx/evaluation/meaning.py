"""Whether two programs of a task mean the same, where the task's metric can tell: the regex tasks' DFA equivalence.

Used by the `equivalence` reranker (tranx.decoding.rerank): a beam spreads its probability over programs written
differently that denote the same thing, and summing it per meaning finds the meaning the model believes in most.
"""

from __future__ import annotations

from typing import Callable


def meaning_equivalence(task) -> Callable[[str, str], bool] | None:
    """`same(a, b)` for the task's programs, or None when the task has no such check. Programs that do not parse,
    or whose comparison exceeds the automaton's state limit, are the same as nothing else."""
    if task.metric != "dfa_accuracy":
        return None
    from tranx.evaluation.regex_equivalence import RegexStateLimitError, equivalent
    slots = dict(task.slot_values)

    def same(a: str, b: str) -> bool:
        try:
            return equivalent(a, b, slots)
        except RegexStateLimitError:
            return False
    return same


def same_for(task, rerank: str):
    """What the translator's `same` argument must be for reranker `rerank` (None unless it is `equivalence`)."""
    if rerank != "equivalence":
        return None
    same = meaning_equivalence(task)
    if same is None:
        from tranx.errors import TranxError
        raise TranxError(f"rerank 'equivalence': task {task.name} cannot tell when two programs mean the same "
                         f"(the regex tasks can)")
    return same
