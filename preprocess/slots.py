"""Slots of lexical substitution: `Slot` (name, kind, value, quote) and the immutable `SlotMap`.

A slot map travels with an example as JSON (`to_list`/`from_json`); it is what `restore` needs to
put the intent's quoted values back into decoded code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Iterator

KINDS = ("var", "str")


@dataclass(frozen=True)
class Slot:
    """One slot: ``name`` (``var_0``), ``kind`` (``var``/``str``), the ``value``
    put back into the code, and ``quote`` (the quote text that opened the span in
    the intent, prefix included: ``"`"``, ``"'"``, ``'"'``, ``"''"``, ``"u'"``)."""

    name: str
    kind: str
    value: str
    quote: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"slot kind must be one of {KINDS}, got {self.kind!r}")
        if not re.fullmatch(rf"{self.kind}_\d+", self.name):
            raise ValueError(f"slot name {self.name!r} does not match kind {self.kind!r}")
        if not isinstance(self.value, str) or not isinstance(self.quote, str):
            raise TypeError("slot value and quote must be str")

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "value": self.value, "quote": self.quote}


class SlotMap(Mapping[str, str]):
    """Immutable mapping ``slot name -> value`` in slot creation order.

    ``slot(name)`` gives the full :class:`Slot` (kind, quote); ``kind(name)`` and
    ``quote(name)`` are shortcuts.  Serialise with ``to_json()`` (a JSON string)
    or ``to_list()`` (plain JSON-compatible data to embed in a record) and read
    back with ``from_json()`` (accepts either).  JSON is the storage format; the
    class holds only str, so it needs no pickle-based persistence.
    """

    __slots__ = ("_slots", "_by_name")

    def __init__(self, slots: tuple[Slot, ...] | list[Slot] = ()) -> None:
        slots = tuple(slots)
        by_name: dict[str, Slot] = {}
        values: set[str] = set()
        for s in slots:
            if not isinstance(s, Slot):
                raise TypeError(f"expected Slot, got {type(s).__name__}")
            if s.name in by_name:
                raise ValueError(f"duplicate slot name {s.name!r}")
            if s.value in values:
                raise ValueError(f"duplicate slot value {s.value!r}")
            by_name[s.name] = s
            values.add(s.value)
        object.__setattr__(self, "_slots", slots)
        object.__setattr__(self, "_by_name", by_name)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("SlotMap is immutable")

    def __delattr__(self, key: str) -> None:
        raise AttributeError("SlotMap is immutable")

    # Mapping interface
    def __getitem__(self, name: str) -> str:
        return self._by_name[name].value

    def __iter__(self) -> Iterator[str]:
        return (s.name for s in self._slots)

    def __len__(self) -> int:
        return len(self._slots)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SlotMap):
            return self._slots == other._slots
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._slots)

    def __repr__(self) -> str:
        inner = ", ".join(f"{s.name}={s.value!r}" for s in self._slots)
        return f"SlotMap({inner})"

    # slot details
    @property
    def slots(self) -> tuple[Slot, ...]:
        return self._slots

    def slot(self, name: str) -> Slot:
        return self._by_name[name]

    def kind(self, name: str) -> str:
        return self._by_name[name].kind

    def quote(self, name: str) -> str:
        return self._by_name[name].quote

    def names_of_kind(self, kind: str) -> list[str]:
        return [s.name for s in self._slots if s.kind == kind]

    # JSON
    def to_list(self) -> list[dict[str, str]]:
        return [s.to_dict() for s in self._slots]

    def to_json(self) -> str:
        return json.dumps(self.to_list(), ensure_ascii=False)

    @classmethod
    def from_json(cls, data: str | list[dict[str, str]]) -> SlotMap:
        obj = json.loads(data) if isinstance(data, str) else data
        if not isinstance(obj, list):
            raise ValueError("SlotMap JSON must be a list of slot objects")
        try:
            return cls(
                tuple(Slot(name=d["name"], kind=d["kind"], value=d["value"], quote=d["quote"]) for d in obj)
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"bad SlotMap JSON: {e}") from e


EMPTY_SLOTS = SlotMap()
