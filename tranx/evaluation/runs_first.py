"""`tranx eval --runs-first`, for a task with unit tests: the beam's candidates that run on the tests' inputs without
an error go first (the order among them, and among the others, is kept).

Why: most wrong programs of a CodeInsight model do not fail an assertion, they crash (a misnamed method, a wrong
argument count), and a beam often holds a candidate that does not. Execution-guided decoding (Wang et al. 2018:
+5.3 on WikiSQL without training) and MBR-exec (Shi et al. 2022) filter candidates by running them, reading the
inputs of a problem but never the expected outputs; REFERENCE.md section 8 names it the cheap baseline to report
beside RL.

What runs: each test file of the problem with every `assert` replaced by the calls it makes of names the test file
does not define (the solution's function): `assert test(3) == 6` becomes `test(3)`, and `assert result == 6` (with
`result = test(3)` above it) becomes nothing. So the expected values are never compared or even evaluated; a
candidate "runs" when every such file ends without an exception, timeout or memory error. Candidates run in the
sandbox under the same screen and limits as `tranx execute` (tranx.execution.unit_tests.execute); a hostile one can
at most put itself first, and is then judged by the real tests like any other.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import replace
from typing import Sequence

from tranx.errors import TranxError

_BUILTINS = frozenset(dir(builtins))


def _bound_names(tree: ast.AST) -> set[str]:
    """Names the test file itself binds (assignments, imports, definitions, loop and with targets)."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound


class _CallsOnly(ast.NodeTransformer):
    def __init__(self, free: set[str]):
        self.free = free

    def _calls(self, node: ast.AST) -> list[ast.Call]:
        """The outermost calls of a free name in `node` (their arguments come with them)."""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.free:
            return [node]
        return [call for child in ast.iter_child_nodes(node) for call in self._calls(child)]

    def visit_Assert(self, node: ast.Assert):
        calls = self._calls(node.test)
        return [ast.copy_location(ast.Expr(call), node) for call in calls] or ast.copy_location(ast.Pass(), node)


def inputs_only(test_file: str) -> str:
    """`test_file` with each assert replaced by its calls of the solution (names the file does not bind and that are
    not builtins), so that running it calls the candidate on the test's inputs and checks nothing."""
    try:
        tree = ast.parse(test_file)
    except SyntaxError as exc:
        raise TranxError(f"a test file does not parse ({exc.msg}, line {exc.lineno}): cannot strip its asserts") from None
    free = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    free -= _bound_names(tree) | _BUILTINS
    return ast.unparse(ast.fix_missing_locations(_CallsOnly(free).visit(tree)))


def runs_first(rows: Sequence[dict], problems: Sequence, harness, *, workers: int | None = None,
               timeout: float | None = None, progress: bool | None = None,
               snippets: bool = False) -> tuple[list[dict], dict]:
    """Rows of a predictions file (`predictions`: the beam's candidates in order) with the candidates that run on
    their problem's test inputs moved first; and counts: problems, candidates run, candidates that ran, rows whose
    first candidate changed, problems left in the beam's order because a test file does not parse. Rows without a
    problem (or without candidates) are kept as they are."""
    from tranx.execution.unit_tests import execute
    smoke, unreadable = {}, 0
    for p in problems:
        try:
            smoke[p.id] = replace(p, tests=tuple(inputs_only(t) for t in p.tests))
        except TranxError:  # its real tests cannot run either (the reference check excludes it): keep the order
            unreadable += 1
    candidates = {r["id"]: r["predictions"] for r in rows if r["id"] in smoke and r.get("predictions")}
    results = {r.id: r for r in execute([smoke[i] for i in candidates], candidates, harness, workers=workers,
                                        timeout=timeout, progress=progress, snippets=snippets)}
    out, ran, changed = [], 0, 0
    for row in rows:
        result = results.get(row["id"])
        if result is None:
            out.append(row)
            continue
        runs = [o == "pass" for o in result.outcomes]
        order = sorted(range(len(runs)), key=lambda i: not runs[i])  # stable: the beam's order within each group
        ran += sum(runs)
        changed += order[0] != 0
        scores = row.get("scores") or [None] * len(runs)
        out.append({**row, "prediction": row["predictions"][order[0]],
                    "predictions": [row["predictions"][i] for i in order], "scores": [scores[i] for i in order],
                    "runs": [runs[i] for i in order]})
    return out, {"problems": len(results), "candidates": sum(len(c) for c in candidates.values()),
                 "candidates_that_run": ran, "first_changed": changed, "tests_unreadable": unreadable}
