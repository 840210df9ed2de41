"""The protocol a target language implements, and the explicit table of languages.

A language is a grammar plus an adapter, bound to one grammar (a checkpoint's own, when it is loaded): code ->
tree, tree -> code, a canonical form of code (what exact match compares), which tokens each primitive type may
hold (the grammar tables mask the rest), the literal codec between a primitive value and its tokens (one token,
or the pieces of a piece type: `Grammar.piece_types`), tokens for metrics, a compile check and a pretty printer.
There is no global registry: `LANGUAGES` in `tranx.languages` is the whole list, and adding a language means
adding a line there.
"""

from __future__ import annotations

from typing import Protocol

from tranx.grammar.asdl import Grammar
from tranx.grammar.tree import Node


class Language(Protocol):
    name: str
    grammar: Grammar

    def parse(self, code: str) -> Node:
        """Code -> tree. Raises ConversionError when the code does not parse."""

    def unparse(self, tree: Node) -> str:
        """Tree -> code in canonical form."""

    def canonicalize(self, code: str) -> str:
        """The canonical form of code, equal to `unparse(parse(code))`."""

    def token_ok(self, type_name: str, token: str) -> bool:
        """May a field of primitive type `type_name` hold `token` (one piece, for a piece type)?"""

    def encode_literal(self, type_name: str, value) -> str | tuple[str, ...]:
        """A primitive value -> its tree value: one token, or the tuple of pieces of a piece type."""

    def decode_literal(self, type_name: str, token: str | tuple[str, ...]):
        """Inverse of `encode_literal`; ConversionError names a token the type cannot hold."""

    def substitute(self, code: str, slots) -> tuple[str, frozenset[str]]:
        """Training side of lexical substitution: slot values in `code` -> slot names; also the names used."""

    def restore(self, code: str, slots) -> str:
        """After decoding: slot names in `code` -> their values."""

    def tokenize(self, code: str) -> list[str]:
        """Tokens for metrics such as BLEU."""

    def check(self, code: str) -> str | None:
        """Why the compiler would reject code that parses (a grammar cannot see it), or None when it would not."""

    def pretty(self, code: str, style: str = "plain") -> str:
        """Code as a person writes it, in one of the language's output styles."""
