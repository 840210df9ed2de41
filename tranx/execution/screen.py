"""A static screen for candidate programs before they run: what could forge a verdict is rejected, with the reason.

A reward is something a policy will exploit. A program that defines `__eq__` to return True passes every
`assert result == expected`; one that reaches the interpreter's frames, builtins or garbage collector can patch
the harness's assertion machinery; one that leaves early (`sys.exit`, `os._exit`) or signals its parent can cut
the checks short or take others down. None of that is needed to solve a data-set problem, so `screen(code)`
refuses it from the tree alone, before anything runs (outcome `rejected`). It is a first line, not the wall:
the sandbox still contains whatever gets through (the trusted-execution issue).

What is refused: defining the comparison / truth / hash protocol (`__eq__`, `__ne__`, `__hash__`, `__bool__`,
`__instancecheck__`, ...); importing modules that reach the interpreter or the process (`gc`, `ctypes`, `inspect`,
`signal`, `builtins`, `importlib`, `sys`'s frame functions, ...); the names `__builtins__`, `__import__`,
`exit`, `quit`, `globals`, `breakpoint`; frame and code attributes (`f_back`, `f_globals`, `gi_frame`,
`__code__`, `__globals__`, `__subclasses__`, ...); process exits, signals and raw file-descriptor calls
(`sys.exit`, `os._exit`, `os.kill`, `os.write`, `os.dup2`, ...); rebinding `AssertionError`; patching a module
(`np.array_equal = ...`, `setattr(pd, ...)`: the tests compare through those functions); `unittest.mock` (its `ANY`
equals everything); setting `__module__` or naming a protocol method in a string (a class made with `type()`);
the sandbox guard's names (`__tranx...`).
"""

from __future__ import annotations

import ast
import warnings

__all__ = ["screen"]

_PROTOCOL = {"__eq__", "__ne__", "__hash__", "__bool__", "__len__", "__instancecheck__", "__subclasscheck__",
             "__getattribute__", "__class_getitem__", "__init_subclass__", "__del__"}
_MODULES = {"gc", "ctypes", "inspect", "signal", "builtins", "importlib", "sys", "resource", "faulthandler",
            "traceback", "threading", "multiprocessing", "subprocess", "pty", "atexit", "code", "codeop", "marshal",
            "pickle", "socket", "mmap", "fcntl", "termios", "tracemalloc", "_thread", "posix", "pdb", "trace",
            "unittest.mock", "mock"}
#: Module names a harness or the code itself binds; attributes of these are never assigned by a solution.
_MODULE_NAMES = {"np", "pd", "numpy", "pandas", "math", "string", "datetime", "json", "itertools", "random",
                 "functools", "collections", "sklearn", "bs4", "re", "os", "sys", "operator", "copy", "typing"}
_MODULE_ALLOWED = {("sys", name) for name in ("maxsize", "float_info", "getrecursionlimit", "setrecursionlimit",
                                               "version_info", "byteorder", "stdin", "stdout", "intern", "getsizeof")}
_NAMES = {"__builtins__", "__import__", "exit", "quit", "globals", "breakpoint", "__loader__", "__spec__"}
_ATTRIBUTES = {"f_back", "f_globals", "f_locals", "f_builtins", "f_code", "gi_frame", "cr_frame", "ag_frame",
               "tb_frame", "tb_next", "__code__", "__globals__", "__closure__", "__subclasses__", "__bases__",
               "__mro__", "__dict__", "__class__", "__builtins__", "__self__", "__func__", "__reduce__",
               "__reduce_ex__", "__setattr__", "__delattr__"}
_OS_CALLS = {"_exit", "exit", "abort", "kill", "killpg", "write", "dup", "dup2", "fdopen", "fork", "forkpty",
             "execv", "execve", "execvp", "execl", "execlp", "system", "popen", "spawnl", "spawnv", "setsid",
             "setpgid", "setuid", "setgid", "chdir", "chroot", "remove", "unlink", "rmdir", "removedirs", "rename",
             "replace", "truncate", "ftruncate", "chmod", "chown", "link", "symlink", "mkfifo", "mknod", "putenv",
             "unsetenv", "pidfd_open", "ptrace", "sched_setaffinity", "nice"}


def _imported_names(tree: ast.AST) -> set[str]:
    names = set(_MODULE_NAMES)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _root(node: ast.AST) -> str | None:
    """`pd` for `pd.DataFrame.equals`."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _reason(node: ast.AST, modules: set[str]) -> str | None:
    if isinstance(node, ast.Name) and node.id.startswith("__tranx"):
        return f"uses {node.id}"
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
            node.value in _PROTOCOL or node.value == "__module__"):
        return f"names {node.value}"
    if isinstance(node, ast.Name) and node.id == "__module__" and isinstance(node.ctx, ast.Store):
        return "sets __module__"
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)) and _root(node) in modules:
        return f"patches {ast.unparse(node)}"
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in _PROTOCOL:
        return f"defines {node.name}"
    if isinstance(node, ast.Import):
        for alias in node.names:
            if (alias.name.split(".")[0] in _MODULES or alias.name in _MODULES) and alias.name != "sys":
                return f"imports {alias.name}"
    if isinstance(node, ast.ImportFrom) and node.module:
        root = node.module.split(".")[0]
        if root == "unittest" and (node.module == "unittest.mock" or any(a.name == "mock" for a in node.names)):
            return f"imports from {node.module}"
        if root in _MODULES and not all((root, a.name) in _MODULE_ALLOWED for a in node.names):
            return f"imports from {node.module}"
        if root == "os" and any(a.name in _OS_CALLS or a.name == "*" for a in node.names):
            return f"imports {', '.join(a.name for a in node.names)} from os"
    if isinstance(node, ast.Name):
        if node.id in _NAMES:
            return f"uses {node.id}"
        if node.id == "AssertionError" and isinstance(node.ctx, (ast.Store, ast.Del)):
            return "rebinds AssertionError"
    if isinstance(node, ast.Attribute):
        if node.attr in _ATTRIBUTES:
            return f"reaches .{node.attr}"
        if isinstance(node.value, ast.Name):
            owner = node.value.id
            if owner == "os" and node.attr in _OS_CALLS:
                return f"calls os.{node.attr}"
            if owner == "sys" and ("sys", node.attr) not in _MODULE_ALLOWED:
                return f"uses sys.{node.attr}"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
        target = node.args[0] if node.args else None
        if target is not None and _root(target) in {"__builtins__", "builtins"} | modules:
            return f"{node.func.id} on {ast.unparse(target)}"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open" and node.args:
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, int):
            return "opens a file descriptor"
    return None


def parse_quietly(code: str) -> ast.Module | None:
    """The module `code` parses to, or None; generated code is hostile, so no parse error or warning escapes."""
    try:
        with warnings.catch_warnings():  # invalid escapes such as '\d' warn on parsing
            warnings.simplefilter("ignore")
            return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def screen(code: str) -> str | None:
    """Why `code` is refused before running, or None. Code that does not parse is not screened (it is
    `does_not_parse` on its own)."""
    tree = parse_quietly(code)
    if tree is None:
        return None
    modules = _imported_names(tree)
    for node in ast.walk(tree):
        reason = _reason(node, modules)
        if reason is not None:
            return reason
    return None
