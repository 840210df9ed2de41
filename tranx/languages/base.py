"""The protocol a target language implements, and the explicit table of languages.

A language is a grammar plus an adapter: code -> tree, tree -> code, a canonical form of code (what
exact match compares) and a tokenizer for metrics. There is no global registry: `LANGUAGES` below
is the whole list, and adding a language means adding a line there.
"""

from __future__ import annotations

from typing import Protocol

from ..asdl import Grammar
from ..tree import Node


class Language(Protocol):
    name: str
    grammar: Grammar

    def parse(self, code: str) -> Node:
        """Code -> tree. Raises ConversionError when the code does not parse."""

    def unparse(self, tree: Node) -> str:
        """Tree -> code in canonical form."""

    def canonicalize(self, code: str) -> str:
        """The canonical form of code, equal to `unparse(parse(code))`."""

    def tokenize(self, code: str) -> list[str]:
        """Tokens for metrics such as BLEU."""

    def check(self, code: str) -> str | None:
        """Why the compiler would reject code that parses (a grammar cannot see it), or None when it would not."""
