"""Target languages. `get_language(name)` is the one way to obtain one."""

from __future__ import annotations

from ..errors import TranxError
from .base import Language


def _python():
    from .python import PythonLanguage
    return PythonLanguage()


LANGUAGES = {"python": _python}
_cache: dict[str, Language] = {}


def get_language(name: str) -> Language:
    if name not in LANGUAGES:
        raise TranxError(f"unknown language '{name}'; available: {', '.join(sorted(LANGUAGES))}")
    if name not in _cache:
        _cache[name] = LANGUAGES[name]()
    return _cache[name]


__all__ = ["Language", "LANGUAGES", "get_language"]
