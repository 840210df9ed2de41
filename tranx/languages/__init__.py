"""Target languages. `get_language(name, grammar)` is the one way to obtain one.

Names: `python` (the ASDL grammar `grammars/python3.asdl` with its adapter; `asdl:python3` is the same),
`tokens:python` (Python as a flat token sequence, no grammar: the grammar-free ablation), and
`lark:NAME` for any Lark grammar: a path to a `.lark` file (`lark:my/grammar.lark`), else the grammar shipped as
`grammars/NAME.lark` (`lark:regex`). A checkpoint keeps the text of its Lark grammar (`grammar.lark`), so it loads
wherever it is copied; `lark_text` passes that text in. `tree-sitter:NAME` (a PyPI grammar wheel such as
`tree-sitter-bash`): the action grammar is induced from training `programs`
(tranx.languages.tree_sitter_grammar), and a checkpoint keeps that induction (`language.json`, `description`).
"""

from __future__ import annotations

from pathlib import Path

from tranx.errors import TranxError
from tranx.grammar.asdl import Grammar
from tranx.languages.base import Language

_GRAMMARS = Path(__file__).resolve().parents[1].parent / "grammars"


def _python(grammar: Grammar | None):
    from tranx.languages.python import PythonLanguage
    return PythonLanguage(grammar)


def _python_tokens(grammar: Grammar | None):
    from tranx.languages.python_tokens import PythonTokensLanguage
    return PythonTokensLanguage(grammar)


LANGUAGES = {"python": _python, "tokens:python": _python_tokens}
ALIASES = {"asdl:python3": "python"}
_default: dict[str, Language] = {}


def lark_grammar_text(spec: str) -> str:
    """The text of the Lark grammar a `lark:` name points at (a file, else a shipped grammar)."""
    path = Path(spec).expanduser()
    if not path.is_file():
        for folder in (_GRAMMARS, Path(__file__).resolve().parents[1] / "grammars"):
            if (folder / f"{spec}.lark").is_file():
                path = folder / f"{spec}.lark"
                break
        else:
            shipped = sorted(p.stem for p in _GRAMMARS.glob("*.lark"))
            raise TranxError(f"language 'lark:{spec}': no file {spec!r} and no shipped grammar of that name "
                             f"(shipped: {', '.join(shipped) or 'none'})")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TranxError(f"language 'lark:{spec}': cannot read {path} ({exc})") from None


def _lark(spec: str, grammar: Grammar | None, lark_text: str | None):
    from tranx.languages.lark_language import LarkLanguage
    text = lark_text if lark_text is not None else lark_grammar_text(spec)
    name = Path(spec).stem if spec.endswith(".lark") else spec
    return LarkLanguage(text, name=name, grammar=grammar)


def _tree_sitter(spec: str, grammar: Grammar | None, description: dict | None, programs):
    from tranx.languages.tree_sitter_language import TreeSitterLanguage
    if description is not None:
        return TreeSitterLanguage.from_json(description, grammar=grammar)
    if programs is None:
        raise TranxError(f"language 'tree-sitter:{spec}' is induced from training programs: train a model on a "
                         f"task in it, or load a checkpoint (its language.json)")
    return TreeSitterLanguage(spec, programs, name=spec, grammar=grammar)


_induced: dict[tuple, Language] = {}


def get_language(name: str, grammar: Grammar | None = None, *, lark_text: str | None = None,
                 description: dict | None = None, programs=None) -> Language:
    """The language `name` bound to `grammar` (a checkpoint's own), or to its own grammar when None; a tree-sitter
    language needs its training `programs` or a checkpoint's `description`."""
    name = ALIASES.get(name, name)
    if name.startswith("tree-sitter:") and name[12:]:
        if programs is not None and grammar is None and description is None:
            programs = tuple(programs)
            key = (name, hash(programs))
            if key not in _induced:
                _induced[key] = _tree_sitter(name[12:], None, None, programs)
            return _induced[key]
        return _tree_sitter(name[12:], grammar, description, programs)
    if name.startswith("lark:") and name[5:]:
        if grammar is not None or lark_text is not None:
            return _lark(name[5:], grammar, lark_text)
    elif name not in LANGUAGES:
        raise TranxError(f"unknown language '{name}'; available: {', '.join(sorted(LANGUAGES))}, "
                         f"lark:NAME_OR_PATH, tree-sitter:NAME")
    elif grammar is not None:
        return LANGUAGES[name](grammar)
    if name not in _default:
        _default[name] = _lark(name[5:], None, None) if name.startswith("lark:") else LANGUAGES[name](None)
    return _default[name]


__all__ = ["Language", "LANGUAGES", "get_language", "lark_grammar_text"]
