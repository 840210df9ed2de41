"""The bubblewrap command line of a sandbox session: what the sandbox can see, and with which rights.

The sandbox's file system is built from nothing: read-only binds of ``/usr`` (and the root's links into it), the
interpreter's installation and the virtual environment's packages, a minimal ``/dev``, its own ``/proc`` (of its
PID namespace), size-limited private tmpfs for ``/tmp`` (the programs' working folder and home) and ``/dev/shm``,
and a private folder for the supervisor's output files. Nothing else: not the project, the data, the home folder,
``/etc`` (but the loader cache) nor the caller's ``/tmp``.

Namespaces: PID, network (no interface but a downed loopback), IPC, UTS and cgroup are always new. When we are root
the user namespace is *not* unshared: the supervisor inside stays uid 0, with only the capabilities it needs to
start, stop and clean up after its workers, and runs each program as an unprivileged uid of its own, so no program
can signal, trace or write to the supervisor. Unprivileged, ``--unshare-all`` puts everything in one user
namespace under our own uid (the supervisor then relies on being PID 1 and on the seccomp filter).
"""
from __future__ import annotations

import os
import shutil
import site
import sys
from pathlib import Path

__all__ = ["SUPERVISOR_CAPABILITIES", "bwrap_command", "bwrap_path", "visible_paths"]

#: What the supervisor needs as root inside: switch to a worker's uid, signal it, and clear its files.
SUPERVISOR_CAPABILITIES = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER")
TMP_FOLDERS = ("/tmp", "/dev/shm")
PRIVATE_FOLDER = "/run/tranx"  # the supervisor's own files (root-only)
OOM_CONTROL = "/run/memory.oom_control"


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _python_trees() -> list[str]:
    """The folders the interpreter and its packages live in (the virtual environment's, not the project's)."""
    trees = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}
    trees.update(os.path.realpath(p) for p in site.getsitepackages() if os.path.isdir(p))
    # the executable may be a link out of both prefixes (a venv made from a pyenv or a distribution Python)
    trees.add(os.path.dirname(os.path.realpath(sys.executable)))
    kept = []
    for tree in sorted(trees, key=len):
        if tree.startswith("/usr/") or tree == "/usr":
            continue
        if not any(tree == k or tree.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(tree)
    return kept


def visible_paths() -> list[str]:
    """Every host path the sandbox can read (all read-only)."""
    paths = ["/usr"] + _python_trees()
    for extra in ("/etc/ld.so.cache", "/etc/localtime"):
        if os.path.exists(extra):
            paths.append(extra)
    return paths


def _parents(path: str) -> list[str]:
    parents = []
    for parent in reversed(Path(path).parents):
        if str(parent) != "/":
            parents.append(str(parent))
    return parents


def bwrap_command(*, as_root: bool, tmp_bytes: int, shm_bytes: int, seccomp_fd: int | None,
                  oom_control: str | None) -> list[str]:
    """bwrap and its options, up to and including ``--``."""
    command = [bwrap_path()]
    if as_root:
        command += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                    "--cap-drop", "ALL"]
        for capability in SUPERVISOR_CAPABILITIES:
            command += ["--cap-add", capability]
    else:
        command += ["--unshare-all"]
    command += ["--die-with-parent", "--new-session", "--as-pid-1", "--hostname", "sandbox"]
    for name in ("bin", "lib", "lib32", "lib64", "libx32", "sbin"):  # merged-/usr links, or the real folders
        path = f"/{name}"
        if os.path.islink(path):
            command += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            command += ["--ro-bind", path, path]
    made = set()
    for path in visible_paths():
        for parent in _parents(path):
            if parent not in made:  # traversable by the workers' uid, whatever the host's mode is
                command += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        command += ["--ro-bind", path, path]
    command += ["--dev", "/dev", "--proc", "/proc"]
    for folder, size in zip(TMP_FOLDERS, (tmp_bytes, shm_bytes)):
        command += ["--perms", "1777", "--size", str(size), "--tmpfs", folder]
    command += ["--perms", "0700", "--dir", PRIVATE_FOLDER]
    if oom_control is not None:
        command += ["--ro-bind", oom_control, OOM_CONTROL]
    if seccomp_fd is not None:
        command += ["--seccomp", str(seccomp_fd)]
    return command + ["--chdir", "/tmp", "--"]
