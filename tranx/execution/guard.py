"""Route the values a test's assertions look at through the sandbox's guard (``__tranx_seen__``).

A test file checks a candidate with ``assert result == expected``, ``assert result.equals(expected)``, ``assert
np.array_equal(...)``: every name and every call result inside an ``assert`` is wrapped, so the guard sees the
candidate's objects before they are compared and refuses one whose class the candidate defined with its own
comparison or truth methods (sandbox_driver.py). Only the trusted test source is rewritten, never the candidate's.
"""
from __future__ import annotations

import ast

__all__ = ["GUARD_NAME", "guard_assertions"]

GUARD_NAME = "__tranx_seen__"


class _Wrap(ast.NodeTransformer):
    def _guarded(self, node: ast.expr) -> ast.expr:
        return ast.copy_location(ast.Call(ast.Name(GUARD_NAME, ast.Load()), [node], []), node)

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return self._guarded(node) if isinstance(node.ctx, ast.Load) else node

    def visit_Call(self, node: ast.Call) -> ast.expr:
        return self._guarded(self.generic_visit(node))


class _Asserts(ast.NodeTransformer):
    def visit_Assert(self, node: ast.Assert) -> ast.Assert:
        node.test = _Wrap().visit(node.test)
        return node


def guard_assertions(source: str) -> str:
    """The test source with its assertions' values guarded; source that does not parse is returned as is (the
    sandbox reports its syntax error)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return source
    return ast.unparse(ast.fix_missing_locations(_Asserts().visit(tree)))
