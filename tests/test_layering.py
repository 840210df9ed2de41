"""The import layering: modules import only downward, and nothing imports in a cycle.

Every import is counted, also those inside functions (a lazy import hides a cycle, it does not remove it).
`preprocess` (intent-side text processing, data-set readers, splits, the task table) never imports `tranx`;
`tranx` builds on it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from preprocess.tasks import TASKS

ROOT = Path(__file__).resolve().parent.parent

# Lowest first: the subpackages (and the few top-level modules) in the order they may import each other. A module
# may import its own layer (acyclically) and those below, never those above.
LAYERS = [
    ("base", ["tranx.errors", "tranx.io", "tranx.config", "tranx.threads", "tranx.provenance", "tranx.metrics"]),
    ("grammar", ["tranx.grammar"]),
    ("languages", ["tranx.languages"]),
    ("data", ["tranx.data"]),
    ("nn", ["tranx.nn"]),
    ("decoding", ["tranx.decoding"]),
    ("execution", ["tranx.execution"]),
    ("translator", ["tranx.translator"]),
    ("evaluation", ["tranx.evaluation"]),
    ("training", ["tranx.training"]),
    ("rl", ["tranx.rl"]),
    ("ablation", ["tranx.ablation"]),
    ("cli", ["tranx.cli", "tranx.translate_command", "tranx.eval_command", "tranx.rerank_command"]),
]


def rank(module: str) -> int | None:
    """The layer of a tranx module (a subpackage's modules share its layer); the package itself is on top (its
    public surface re-exports from every layer)."""
    if module == "tranx":
        return len(LAYERS)
    for i, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Project modules `path` imports (`from .x import y` counted as `x`, or `x.y` when that is a module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    modules = {module_name(p) for p in ROOT.glob("tranx/**/*.py")} | {module_name(p) for p in ROOT.glob("preprocess/*.py")}
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                out.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {m for m in out if m in modules and m != name}


def graph() -> dict[str, set[str]]:
    files = list(ROOT.glob("tranx/**/*.py")) + list(ROOT.glob("preprocess/*.py"))
    return {module_name(p): imports(p) for p in files}


def test_preprocess_never_imports_tranx():
    bad = {m: sorted(d for d in deps if d.startswith("tranx")) for m, deps in graph().items()
           if m.startswith("preprocess")}
    assert {m: d for m, d in bad.items() if d} == {}


def test_every_tranx_module_has_a_layer():
    missing = sorted(m for m in graph() if m.startswith("tranx") and rank(m) is None and m != "tranx.grammars")
    assert missing == [], f"give these modules a layer in tests/test_layering.py: {missing}"


def test_tranx_imports_only_downward():
    upward = []
    for module, deps in graph().items():
        if rank(module) is None:
            continue
        upward += [f"{module} -> {d}" for d in sorted(deps) if rank(d) is not None and rank(d) > rank(module)]
    assert upward == []


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def _names_in(text: str) -> list[str]:
    return [name for name in TASKS if re.search(name, text, re.IGNORECASE)]


def _names_in_code(path: Path) -> list[str]:
    """Data-set names in the string constants of a module, docstrings aside (prose may cite a benchmark)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
               and id(n) not in docstrings]
    return sorted({name for text in strings for name in _names_in(text)})


def test_no_tranx_module_names_a_data_set():
    """Behaviour that differs between data sets lives in the task table (preprocess.tasks), never in tranx."""
    named = {str(p.relative_to(ROOT)): _names_in_code(p) for p in ROOT.glob("tranx/**/*.py")}
    assert {p: n for p, n in named.items() if n} == {}


def test_preprocess_switches_on_data_set_names_only_in_the_table_and_readers():
    """Outside the task table, the readers and the splits, no string constant (docstrings aside) holds a name."""
    allowed = {"preprocess/tasks.py", "preprocess/datasets.py", "preprocess/splits.py"}
    found = {}
    for path in ROOT.glob("preprocess/*.py"):
        if str(path.relative_to(ROOT)) in allowed:
            continue
        names = _names_in_code(path)
        if names:
            found[path.name] = names
    assert found == {}


def test_every_subpackage_is_installed():
    """pyproject.toml lists its packages; one left out would be missing from a non-editable install."""
    import tomllib
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    found = {module_name(p.parent) for p in ROOT.glob("tranx/**/__init__.py")}
    assert found - listed == set()
