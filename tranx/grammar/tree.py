"""Abstract syntax trees over an ASDL grammar.

A `Node` is a constructor plus one value per field: a `Node` (composite single), a `str` token
(primitive single), `None` (empty optional) or a tuple of those (multiple). Primitive values are
always the token strings the decoder generates; turning them into language values (ints, bytes, ...)
is the language adapter's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from tranx.grammar.asdl import Constructor

Value = Union["Node", str, None, tuple]


@dataclass(frozen=True, slots=True)
class Node:
    constructor: Constructor
    values: tuple

    def __getitem__(self, field_name: str) -> Value:
        for field, value in zip(self.constructor.fields, self.values):
            if field.name == field_name:
                return value
        raise KeyError(f"{self.constructor.name} has no field '{field_name}'")

    def __repr__(self) -> str:
        if not self.values:
            return self.constructor.name
        parts = ", ".join(f"{f.name}={v!r}" for f, v in zip(self.constructor.fields, self.values))
        return f"{self.constructor.name}({parts})"
