"""The import layering: modules import only downward, and nothing imports in a cycle.

Every import is counted, also those inside functions (a lazy import hides a cycle, it does not remove it).
`preprocess` (intent-side text processing, data-set readers, splits, the task table) never imports `tranx`;
`tranx` builds on it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A module may import its own layer (acyclically) and those below, never those above.
LAYERS = {
    "base": ["errors", "io", "config", "threads", "provenance", "metrics"],
    "grammar": ["asdl", "actions", "tree", "transition", "languages", "languages.base", "languages.python"],
    "data": ["vocab", "tables", "data", "scoring", "pipeline", "roundtrip"],
    "nn": ["encoder", "encoding_cache", "lstm_encoder", "encoders", "distribution", "decoder", "model",
           "averaging", "checkpoint"],
    "decoding": ["search", "ensemble"],
    "execution": ["sandbox", "sandbox_driver", "codeinsight"],
    "application": ["translator", "evaluate", "reports", "train", "cli"],
}
RANK = {f"tranx.{m}": i for i, (_, mods) in enumerate(LAYERS.items()) for m in mods}
RANK["tranx"] = len(LAYERS)  # the package's public surface re-exports from every layer


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
    missing = sorted(m for m in graph() if m.startswith("tranx") and m not in RANK and m != "tranx.grammars")
    assert missing == [], f"give these modules a layer in tests/test_layering.py: {missing}"


def test_tranx_imports_only_downward():
    upward = []
    for module, deps in graph().items():
        if module not in RANK:
            continue
        upward += [f"{module} -> {d}" for d in sorted(deps) if d in RANK and RANK[d] > RANK[module]]
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
