"""A snippet (what a CoNaLa-style model writes: an expression or a few statements) as a function that unit tests
can call.

The contract of a benchmark whose problems give a signature instead of a program (the everyday intents,
data/everyday): the candidate becomes the body of ``def solution(<args>)``; when its last statement is an
expression, that expression is returned, unless the problem names a variable in ``returns`` (``xs.sort()``
returns ``xs``), which is then returned after the body. A candidate that defines functions itself (a model trained on
whole functions) is kept as a module and its last top-level function is called ``solution``.

A problem that gives its function's header instead (CodeInsight's prompts: ``def test(var0, lst0):``) gets the
snippet as the body of that function (``into_header``; ``tranx execute --snippets``, ``rl.snippets``), so that a
model trained on snippets can be run, and rewarded, on it.

Only parsing happens here: the code is never run in this process (the sandbox runs it).
"""

from __future__ import annotations

import ast
import keyword
from typing import Sequence

from tranx.errors import TranxError
from tranx.execution.screen import parse_quietly

SOLUTION = "solution"

__all__ = ["SOLUTION", "as_function", "check_signature", "function_header", "into_header"]


def check_signature(args: Sequence[str], returns: str | None, *, source: str = "problem") -> None:
    """Refuse argument and return names that are not plain, distinct Python identifiers."""
    names = list(args) + ([returns] if returns is not None else [])
    for name in names:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise TranxError(f"{source}: {name!r} is not a Python identifier")
    if len(set(args)) != len(args):
        raise TranxError(f"{source}: repeated argument names in {list(args)}")


def as_function(code: str, args: Sequence[str], returns: str | None = None, *, name: str = SOLUTION) -> str | None:
    """The module text that defines `name(*args)` from `code`, or None when `code` is empty or does not parse."""
    check_signature(args, returns)
    if not isinstance(code, str) or not code.strip():
        return None
    module = parse_quietly(code)
    if module is None or not module.body:
        return None
    defined = [s for s in module.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if defined:  # a whole function: call it by the benchmark's name
        alias = ast.Assign(targets=[ast.Name(name, ast.Store())], value=ast.Name(defined[-1].name, ast.Load()))
        module.body.append(alias)
        return ast.unparse(ast.fix_missing_locations(module))
    function = ast.FunctionDef(
        name=name, args=ast.arguments(posonlyargs=[], args=[ast.arg(a) for a in args], kwonlyargs=[],
                                      kw_defaults=[], defaults=[]),
        body=[], decorator_list=[], returns=None, type_params=[])
    return _in_function(function, module.body, returns)


def _in_function(function: ast.FunctionDef, statements: list[ast.stmt], returns: str | None = None) -> str | None:
    """The module text of `function` with `statements` as its body: `returns` returned after them, or else a
    trailing expression returned; None when it cannot be written back."""
    body = list(statements)
    if returns is not None:
        body.append(ast.Return(value=ast.Name(returns, ast.Load())))
    elif isinstance(body[-1], ast.Expr):
        body[-1] = ast.Return(value=body[-1].value)
    function.body = body
    try:
        return ast.unparse(ast.fix_missing_locations(ast.Module(body=[function], type_ignores=[])))
    except (ValueError, RecursionError):
        return None


def function_header(line: str) -> ast.FunctionDef | None:
    """The function a one-line ``def`` header declares (``def test(var0, lst0=()):``, a body on the same line
    ignored), with an empty body; None when `line` is not such a header."""
    for text in (line.strip(), line.strip() + " pass"):
        module = parse_quietly(text)
        if module is not None and len(module.body) == 1 and isinstance(module.body[0], ast.FunctionDef):
            function = module.body[0]
            function.body = []
            return function
    return None


def into_header(code: str, header: str) -> str:
    """`code` as the body of the function `header` declares (a trailing expression returned), for tests that call
    that function; `code` unchanged when it defines a function itself, does not parse, or `header` is not a
    ``def`` line (it then fails or passes on its own)."""
    function = function_header(header)
    module = parse_quietly(code) if isinstance(code, str) and code.strip() else None
    if function is None or module is None or not module.body:
        return code
    if any(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) for s in module.body):
        return code
    return _in_function(function, module.body) or code
