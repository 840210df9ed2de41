"""Target languages. `get_language(name, grammar)` is the one way to obtain one."""

from __future__ import annotations

from tranx.errors import TranxError
from tranx.grammar.asdl import Grammar
from tranx.languages.base import Language


def _python(grammar: Grammar | None):
    from tranx.languages.python import PythonLanguage
    return PythonLanguage(grammar)


LANGUAGES = {"python": _python}
_default: dict[str, Language] = {}


def get_language(name: str, grammar: Grammar | None = None) -> Language:
    """The language `name` bound to `grammar` (a checkpoint's own), or to its shipped grammar when None."""
    if name not in LANGUAGES:
        raise TranxError(f"unknown language '{name}'; available: {', '.join(sorted(LANGUAGES))}")
    if grammar is not None:
        return LANGUAGES[name](grammar)
    if name not in _default:
        _default[name] = LANGUAGES[name](None)
    return _default[name]


__all__ = ["Language", "LANGUAGES", "get_language"]
