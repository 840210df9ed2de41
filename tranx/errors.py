"""The exception tree of tranx.

Every error a user can cause derives from `TranxError`, so a CLI can catch one class and print a
one-line message instead of a traceback. Errors that point into a text (a grammar file) carry the
file, line and column and draw a caret under the problem.
"""

from __future__ import annotations


class TranxError(Exception):
    """Base class of all errors tranx raises on purpose."""


class GrammarError(TranxError):
    """A malformed grammar file: syntax error, undefined type, duplicate constructor, ..."""

    def __init__(self, message: str, *, file: str = "<string>", line: int = 0, column: int = 0,
                 source_line: str = ""):
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.source_line = source_line
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.file}:{self.line}:{self.column}: {self.message}"
        if not self.source_line:
            return head
        caret = " " * (max(self.column, 1) - 1) + "^"
        return f"{head}\n    {self.source_line}\n    {caret}"


class InvalidAction(TranxError):
    """An action that the grammar does not allow at the current frontier field."""

    def __init__(self, action, frontier: str, reason: str):
        self.action = action
        self.frontier = frontier
        self.reason = reason
        super().__init__(f"invalid action {action} at frontier {frontier}: {reason}")


class ConversionError(TranxError):
    """Code or a tree that a language adapter cannot convert (unparseable code, bad token, ...)."""


class CheckpointError(TranxError):
    """A missing, incomplete or corrupted checkpoint folder."""
