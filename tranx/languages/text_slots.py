"""Lexical substitution on text, for languages without an AST of Python's kind (Lark grammars, tree-sitter).

Why: a slot value is found in the code as text; whether the slot name makes one token or several is the grammar's
business, so a replacement is kept only where the result still parses.
"""

from __future__ import annotations

from typing import Callable

from tranx.errors import ConversionError


def substitute_text(code: str, slots, parse: Callable[[str], object]) -> tuple[str, frozenset[str]]:
    """Each slot value found in `code` -> its slot name (longest value first), kept where `parse` still accepts the
    result; also the slot names used."""
    used = set()
    for name, value in sorted(slots.items(), key=lambda item: -len(item[1])):
        if value and value in code:
            replaced = code.replace(value, name)
            try:
                parse(replaced)
            except ConversionError:
                continue
            code = replaced
            used.add(name)
    return code, frozenset(used)


def restore_text(code: str, slots) -> str:
    """Slot names in decoded code -> their values (longest name first: `str_10` before `str_1`)."""
    for name, value in sorted(slots.items(), key=lambda item: -len(item[0])):
        code = code.replace(name, value)
    return code
