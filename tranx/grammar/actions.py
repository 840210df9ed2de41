"""The three actions of the transition system, as small frozen values.

`ApplyRule(constructor)` expands the frontier field, `GenToken(value)` fills a primitive field with
one whole token (or, for a piece type of the grammar, adds one piece, until `GenToken(PIECES_END)`), `Reduce()` closes a multiple field or leaves an optional one empty. Actions
serialise to short JSON lists (`["ApplyRule", "Call"]`, `["GenToken", "x"]`, `["Reduce"]`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from tranx.grammar.asdl import Constructor, Grammar
from tranx.errors import TranxError


@dataclass(frozen=True, slots=True)
class ApplyRule:
    constructor: Constructor

    def __str__(self) -> str:
        return f"ApplyRule[{self.constructor.name}]"


@dataclass(frozen=True, slots=True)
class GenToken:
    value: str

    def __str__(self) -> str:
        return f"GenToken[{self.value!r}]"


@dataclass(frozen=True, slots=True)
class Reduce:
    def __str__(self) -> str:
        return "Reduce"


Action = Union[ApplyRule, GenToken, Reduce]
REDUCE = Reduce()
PIECES_END = "</primitive>"  # closes the value of a piece type (TranX's end of a multi-token string)


def action_to_json(action: Action) -> list:
    if isinstance(action, ApplyRule):
        return ["ApplyRule", action.constructor.name]
    if isinstance(action, GenToken):
        return ["GenToken", action.value]
    return ["Reduce"]


def action_from_json(grammar: Grammar, item) -> Action:
    match item:
        case ["ApplyRule", str(name)]:
            return ApplyRule(grammar.constructor(name))
        case ["GenToken", str(value)]:
            return GenToken(value)
        case ["Reduce"]:
            return REDUCE
    raise TranxError(f"not an action: {item!r} (expected [\"ApplyRule\", name], "
                     f"[\"GenToken\", value] or [\"Reduce\"])")
