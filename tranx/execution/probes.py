"""Measure what a sandboxed program can do here, instead of assuming it: one probe program, run like any other,
tries each thing and prints what happened; our side sets up the targets (a TCP and a UNIX-socket listener, a
world-readable canary file, the project's and the data's files) and checks afterwards what changed outside.
"""
from __future__ import annotations

import json
import os
import socket
import tempfile
import uuid
from pathlib import Path

from preprocess.datasets import DataRootError, resolve_data_root
from tranx.execution import cgroups

__all__ = ["measure"]

_PROBE = r'''
import ctypes, errno, json, os, signal, socket
seen = {}
def attempt(name, action):
    try:
        action()
        seen[name] = "allowed"
    except OSError as error:
        seen[name] = errno.errorcode.get(error.errno, str(error.errno))
    except Exception as error:
        seen[name] = type(error).__name__
def tcp():
    s = socket.create_connection(("127.0.0.1", TCP_PORT), timeout=1)
    s.close()
def unix():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(1)
    s.connect(UNIX_PATH)
def socket_call():
    socket.socket(socket.AF_INET).close()
attempt("tcp_loopback", tcp)
attempt("unix_socket", unix)
attempt("socket_call", socket_call)
for name, path in READ_TARGETS.items():
    attempt("read_" + name, lambda path=path: open(path, "rb").read(1))
for name, path in WRITE_TARGETS.items():
    attempt("write_" + name, lambda path=path: open(path, "w").write("probe"))
def ptrace():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.ptrace(16, 1, 0, 0) != 0:  # PTRACE_ATTACH to the supervisor
        raise OSError(ctypes.get_errno(), "ptrace")
attempt("ptrace_supervisor", ptrace)
attempt("signal_supervisor", lambda: os.kill(1, 0))
attempt("signal_caller", lambda: os.kill(CALLER_PID, 0))
seen["uid"] = os.getuid()
seen["pid"] = os.getpid()
seen["sees_caller"] = os.path.exists(f"/proc/{CALLER_PID}")
try:
    seen["seccomp"] = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("Seccomp:"))
except (OSError, StopIteration):
    seen["seccomp"] = "unknown"
print("PROBE " + json.dumps(seen))
'''


def _targets(scratch: Path) -> tuple[dict, dict]:
    canary = scratch / "canary.txt"
    canary.write_text("canary", encoding="utf-8")
    os.chmod(scratch, 0o755)
    os.chmod(canary, 0o644)
    reads = {"world_readable_file": str(canary), "project": str(Path(__file__).resolve().parents[1] / "__init__.py")}
    try:  # the data root the project reads (flag, environment, or the default beside the checkout)
        data_root = resolve_data_root()
    except DataRootError:
        data_root = None
    if data_root is not None:
        readme = next((str(p) for p in sorted(Path(data_root).rglob("README.md"))[:1]), None)
        if readme:
            reads["data"] = readme
    tag = uuid.uuid4().hex[:12]
    writes = {"tmp": f"/tmp/tranx-probe-{tag}", "dev_shm": f"/dev/shm/tranx-probe-{tag}",
              "home": str(Path.home() / f".tranx-probe-{tag}"), "python": os.path.join(os.path.dirname(
                  os.__file__), f"tranx-probe-{tag}")}
    return reads, writes


def _cgroup_limits() -> dict:
    """Create a group, set limits and read them back (what the sessions rely on)."""
    reason = cgroups.cgroup_unavailable()
    if reason is not None:
        return {"memory_total": f"not bounded ({reason}); per process only", "processes_total": "per uid only"}
    group = cgroups.SessionCgroup(f"tranx-probe-{os.getpid()}", 64 << 20, 8)
    try:
        memory = int(group.read("memory", "memory.limit_in_bytes"))
        pids = group.read("pids", "pids.max").strip()
    finally:
        group.close()
    return {"memory_total": "cgroup" if memory == 64 << 20 else f"cgroup limit not applied ({memory})",
            "processes_total": "cgroup" if pids == "8" else f"cgroup limit not applied ({pids})"}


def measure(plan: dict, run_source) -> dict:
    """``run_source(source)`` runs one program the way sessions of ``plan`` do and returns its RunResult."""
    with tempfile.TemporaryDirectory(prefix="tranx-probe-") as scratch:
        reads, writes = _targets(Path(scratch))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix_path = os.path.join(scratch, "listener.sock")
        try:
            tcp.bind(("127.0.0.1", 0))
            tcp.listen()
            unix.bind(unix_path)
            os.chmod(unix_path, 0o777)
            unix.listen()
            source = (f"TCP_PORT = {tcp.getsockname()[1]}\nUNIX_PATH = {unix_path!r}\nREAD_TARGETS = {reads!r}\n"
                      f"WRITE_TARGETS = {writes!r}\nCALLER_PID = {os.getpid()}\n" + _PROBE)
            result = run_source(source)
        finally:
            tcp.close()
            unix.close()
        left = {name: path for name, path in writes.items() if os.path.exists(path)}
        for path in left.values():
            os.remove(path)
    line = next((l for l in result.stdout.splitlines() if l.startswith("PROBE ")), None)
    if line is None:
        raise RuntimeError(f"the sandbox probe did not run: {result.verdict} {result.error_type} {result.error_message}")
    seen = json.loads(line[len("PROBE "):])
    refused = {name: value != "allowed" for name, value in seen.items() if isinstance(value, str)}
    limits = (_cgroup_limits() if plan.get("cgroup") else
              {"memory_total": "not bounded (per process only)", "processes_total": "per uid only"})
    return {
        "network": refused["tcp_loopback"] and refused["socket_call"],
        "unix_sockets": refused["unix_socket"],
        "host_files_hidden": {name[len("read_"):]: refused[name] for name in refused if name.startswith("read_")},
        "host_writes_kept": sorted(left),  # files the probe left on the host (none, when the sandbox holds)
        "pid_namespace": not seen["sees_caller"] and refused["signal_caller"],
        "own_uid": seen["uid"] != os.geteuid(),
        "ptrace_supervisor": seen["ptrace_supervisor"],
        "signal_supervisor": seen["signal_supervisor"],
        "seccomp": seen["seccomp"] == "2",
        **limits,
    }
