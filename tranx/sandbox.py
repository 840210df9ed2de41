"""Run untrusted programs (generated code) in a separate, limited process and return a structured verdict.

Generated code never runs in our own process. Each run gets:

* a fresh Python (``python -I``: no user site, no ``PYTHON*`` variables, no project folder on ``sys.path``);
* a wall-clock timeout, after which the whole process group is killed, plus an optional per-chunk alarm;
* resource limits: CPU seconds, address space (memory), process count, file size, open files, no core dumps;
* a fresh temporary working directory (also ``HOME`` and ``TMPDIR``), removed afterwards;
* a scrubbed environment (none of the parent's variables, so no secrets);
* where the platform allows (``isolation()`` says what was found): its own network namespace (no network at
  all, loopback included), its own PID namespace (it cannot see or signal other processes, and everything it
  started dies with it), and, when we are root, an unprivileged user id of its own (it cannot write outside its
  working directory except in world-writable places such as /tmp, nor signal our processes).

What is not isolated: the file system is readable as for any unprivileged user; /tmp and /dev/shm are writable
(bounded per file by the file-size limit); CPU is shared. On a platform without ``unshare`` (or where namespaces
are refused) the program runs with the limits and the scrubbed environment only and ``isolation()`` reports
``network: False``: it can then reach the network and signal processes of the same user.

A *program* is a list of chunks executed in order in one namespace (CodeInsight: prefix + solution + one test
file per chunk). Verdicts: ``passed`` (every chunk ran to its end), ``failed`` (an AssertionError),
``error`` (another exception, ``sys.exit`` included, or the program left before its chunks were done),
``timeout`` (wall clock, chunk alarm or CPU limit), ``memory`` (MemoryError), ``killed`` (ended by a signal),
``syntax_error`` (a chunk does not compile). The first failing chunk decides.
"""
from __future__ import annotations

import functools
import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

__all__ = ["VERDICTS", "Limits", "RunResult", "SandboxPool", "isolation", "run_program"]

VERDICTS = ("passed", "failed", "error", "timeout", "memory", "killed", "syntax_error")
_DRIVER = (Path(__file__).with_name("sandbox_driver.py")).read_text(encoding="utf-8")
_KIND_TO_VERDICT = {"assertion": "failed", "timeout": "timeout", "memory": "memory", "error": "error",
                    "syntax": "syntax_error"}
#: Each pool slot runs as its own unprivileged user id (when we are root), so that one program's processes do
#: not count against another's process limit.
_UID_BASE = 61000
_DRAIN_AFTER_EXIT_S = 0.5


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0  # wall clock for the whole program
    chunk_timeout_s: float | None = None  # alarm per chunk (CodeInsight: 10 s per test file)
    cpu_s: int | None = None  # CPU seconds; default: the wall-clock timeout rounded up, plus one
    memory_mb: int = 2048  # address space; pandas + scikit-learn import needs about 1 GiB of it
    max_processes: int = 32
    max_file_mb: int = 16
    max_open_files: int = 256
    output_bytes: int = 16384  # stdout and stderr are each truncated to this

    def __post_init__(self):
        for name in ("timeout_s", "memory_mb", "max_processes", "max_file_mb", "output_bytes"):
            if not getattr(self, name) or getattr(self, name) <= 0:
                raise ValueError(f"sandbox limit {name} must be positive, got {getattr(self, name)!r}")


@dataclass
class RunResult:
    verdict: str
    error_type: str | None = None  # exception class name, or the signal name for "killed"
    error_message: str = ""
    chunks: list[str] = field(default_factory=list)  # per chunk: "ok" or the exception class name
    stdout: str = ""
    stderr: str = ""
    output_truncated: bool = False
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"

    def to_json(self) -> dict:
        return asdict(self)


@functools.lru_cache(maxsize=None)
def isolation() -> dict:
    """What this platform gives the sandbox, found once by trying (see the module docstring)."""
    unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    drop_user = os.geteuid() == 0 and setpriv is not None
    candidates = []
    if unshare:
        ns = [unshare, "--pid", "--fork", "--kill-child", "--net", "--mount-proc"]
        candidates.append((ns if drop_user else ns[:1] + ["--user", "--map-root-user"] + ns[1:], True))
    candidates.append(([], False))
    for prefix, namespaces in candidates:
        plan = {"prefix": prefix, "network": namespaces, "pid_namespace": namespaces, "drop_user": drop_user}
        result = _execute(plan, ["import socket"], "", Limits(timeout_s=20), slot=0)
        if result.verdict == "passed":
            return plan
    raise RuntimeError(f"the sandbox cannot start Python ({sys.executable}) on this machine: "
                       f"{result.error_type}: {result.error_message} {result.stderr[-300:]}")


def run_program(chunks: str | Sequence[str], *, setup: str = "", limits: Limits = Limits(), slot: int = 0
                ) -> RunResult:
    """Run one program (a source string or a list of chunks) in the sandbox; never raises for the program's faults.

    ``setup`` runs first in the same namespace (e.g. the imports a harness provides); if it fails the verdict is
    ``error`` with its exception."""
    if isinstance(chunks, str):
        chunks = [chunks]
    return _execute(isolation(), list(chunks), setup, limits, slot)


class SandboxPool:
    """Runs many programs in parallel, each in its own sandbox (``workers`` at a time, default: CPU count)."""

    def __init__(self, workers: int | None = None, limits: Limits = Limits()):
        self.workers = workers or os.cpu_count() or 1
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.limits = limits
        self._slots = list(range(self.workers))
        self._lock = threading.Lock()

    def _run(self, job: tuple) -> RunResult:
        chunks, setup = job
        with self._lock:
            slot = self._slots.pop()
        try:
            return run_program(chunks, setup=setup, limits=self.limits, slot=slot)
        finally:
            with self._lock:
                self._slots.append(slot)

    def map(self, programs: Iterable[tuple[Sequence[str], str]]) -> Iterator[RunResult]:
        """Results in input order, for ``(chunks, setup)`` pairs."""
        isolation()  # probe once, before the threads start
        with ThreadPoolExecutor(self.workers) as executor:
            yield from executor.map(self._run, programs)


# --- one run -------------------------------------------------------------------------------------------------
def _environment(workdir: str) -> dict:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _set_limits(limits: Limits) -> None:
    """Runs in the child between fork and exec: limits are inherited by everything it starts."""
    cpu = limits.cpu_s or int(limits.timeout_s) + 2
    memory = limits.memory_mb * 2 ** 20
    for name, value in ((resource.RLIMIT_CPU, (cpu, cpu + 1)), (resource.RLIMIT_AS, (memory, memory)),
                        (resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes)),
                        (resource.RLIMIT_FSIZE, (limits.max_file_mb * 2 ** 20,) * 2),
                        (resource.RLIMIT_NOFILE, (limits.max_open_files,) * 2), (resource.RLIMIT_CORE, (0, 0))):
        resource.setrlimit(name, value)


def _command(plan: dict, slot: int) -> list[str]:
    command = list(plan["prefix"])
    if plan["drop_user"]:
        uid = str(_UID_BASE + slot)
        command += [shutil.which("setpriv"), "--reuid", uid, "--regid", uid, "--clear-groups", "--"]
    return command + [sys.executable, "-I", "-c", _DRIVER]


def _execute(plan: dict, chunks: list[str], setup: str, limits: Limits, slot: int) -> RunResult:
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="tranx-sandbox-")
    report_read, report_write = os.pipe()
    try:
        if plan["drop_user"]:
            os.chown(workdir, _UID_BASE + slot, _UID_BASE + slot)
        job = {"chunks": chunks, "setup": setup, "chunk_timeout": limits.chunk_timeout_s,
               "report_fd": report_write}
        try:
            process = subprocess.Popen(
                _command(plan, slot), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=workdir, env=_environment(workdir), pass_fds=(report_write,), start_new_session=True,
                preexec_fn=functools.partial(_set_limits, limits))
        finally:
            os.close(report_write)
        try:
            process.stdin.write(json.dumps(job).encode("utf-8"))
            process.stdin.close()
        except BrokenPipeError:
            pass
        streams, timed_out = _collect(process, report_read, limits, started)
    finally:
        os.close(report_read)
        shutil.rmtree(workdir, ignore_errors=True)
    result = _verdict(streams, process.returncode, timed_out, len(chunks), limits)
    result.seconds = round(time.monotonic() - started, 4)
    return result


def _collect(process: subprocess.Popen, report_fd: int, limits: Limits, started: float) -> tuple[dict, bool]:
    """Read stdout, stderr and the report channel until they close, the process has ended (plus a short drain)
    or the wall clock runs out; then kill the process group. Returns the captured bytes and whether it timed out."""
    caps = {"stdout": limits.output_bytes, "stderr": limits.output_bytes, "report": 1 << 20}
    buffers = {name: bytearray() for name in caps}
    seen = {name: 0 for name in caps}
    selector = selectors.DefaultSelector()
    for name, fd in (("stdout", process.stdout.fileno()), ("stderr", process.stderr.fileno()),
                     ("report", report_fd)):
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ, name)
    deadline, ended_at, timed_out = started + limits.timeout_s, None, False
    while selector.get_map():
        now = time.monotonic()
        if ended_at is None and process.poll() is not None:
            ended_at = now
        limit = ended_at + _DRAIN_AFTER_EXIT_S if ended_at is not None else deadline
        if now >= limit:
            timed_out = ended_at is None
            break
        for key, _ in selector.select(timeout=min(limit - now, 0.05)):
            try:
                data = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not data:
                selector.unregister(key.fd)
                continue
            name = key.data
            seen[name] += len(data)
            room = caps[name] - len(buffers[name])
            if room > 0:
                buffers[name] += data[:room]
    selector.close()
    _kill_group(process)
    for stream in (process.stdout, process.stderr):
        stream.close()
    return {name: (bytes(buffers[name]), seen[name] > caps[name]) for name in caps}, timed_out


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _verdict(streams: dict, returncode: int, timed_out: bool, n_chunks: int, limits: Limits) -> RunResult:
    records = []
    for line in streams["report"][0].decode("utf-8", "replace").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    chunk_records = [r for r in records if "chunk" in r]
    result = RunResult("error", chunks=[r["outcome"] for r in chunk_records],
                       stdout=streams["stdout"][0].decode("utf-8", "replace"),
                       stderr=streams["stderr"][0].decode("utf-8", "replace"),
                       output_truncated=streams["stdout"][1] or streams["stderr"][1])
    setup = next((r["setup"] for r in records if "setup" in r), None)
    exit_record = next((r["exit"] for r in records if "exit" in r), None)
    done = any(r.get("done") for r in records)
    syntax = next((r for r in chunk_records if r["kind"] == "syntax"), None)
    failure = next((r for r in chunk_records if r["kind"] != "ok"), None)
    if setup is not None:
        result.error_type, result.error_message = setup["outcome"], "setup failed: " + setup["message"]
    elif syntax is not None:
        result.verdict, result.error_type, result.error_message = "syntax_error", syntax["outcome"], syntax["message"]
    elif failure is not None:
        result.verdict = _KIND_TO_VERDICT[failure["kind"]]
        result.error_type, result.error_message = failure["outcome"], failure["message"]
    elif done and len(chunk_records) == n_chunks:
        result.verdict = "passed"
    elif timed_out:
        result.verdict, result.error_type = "timeout", "WallClock"
        result.error_message = f"no result within {limits.timeout_s:g} s"
    else:
        _ended_early(result, exit_record, returncode)
    return result


def _ended_early(result: RunResult, exit_record: dict | None, returncode: int) -> None:
    """The worker stopped before finishing its chunks: by a signal, or by exiting (``os._exit``)."""
    signal_number = (exit_record or {}).get("signal")
    if signal_number is None and exit_record is None and returncode is not None and returncode < 0:
        signal_number = -returncode  # no supervisor record: the whole sandbox was killed
    if signal_number == signal.SIGXCPU:
        result.verdict, result.error_type, result.error_message = "timeout", "SIGXCPU", "CPU time limit"
    elif signal_number is not None:
        result.verdict, result.error_type = "killed", _signal_name(signal_number)
        result.error_message = {signal.SIGXFSZ: "file size limit", signal.SIGKILL: "killed",
                                signal.SIGSEGV: "segmentation fault (stack overflow?)"}.get(signal_number, "")
    else:
        code = (exit_record or {}).get("code", returncode)
        result.error_type, result.error_message = "EarlyExit", f"the program exited (status {code}) before its end"
