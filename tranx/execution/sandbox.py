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

A *program* is a list of chunks executed in order in one namespace (a unit-test harness: prefix + solution + one test
file per chunk). Programs run in *sessions*: one sandboxed Python imports the ``preload`` modules once, then runs
the session's programs one after the other, each in a freshly forked process with its own working directory,
output files, CPU and wall-clock limits; whatever a program leaves running is killed before the next starts.
Programs of one session share its user id and namespaces (``SandboxPool`` runs sessions in parallel, each with
its own user id). The limits in ``Limits`` are per program. Verdicts: ``passed`` (every chunk ran to its end), ``failed`` (an AssertionError),
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

__all__ = ["VERDICTS", "Limits", "Program", "RunResult", "SandboxPool", "isolation", "run_program", "run_programs"]

VERDICTS = ("passed", "failed", "error", "timeout", "memory", "killed", "syntax_error")
_DRIVER = (Path(__file__).with_name("sandbox_driver.py")).read_text(encoding="utf-8")
_KIND_TO_VERDICT = {"assertion": "failed", "timeout": "timeout", "memory": "memory", "error": "error",
                    "syntax": "syntax_error"}
#: Each pool slot runs as its own unprivileged user id (when we are root), so that one program's processes do
#: not count against another's process limit.
_UID_BASE = 61000
_DRAIN_AFTER_EXIT_S = 0.5
_PRELOAD_SECONDS = 60  # allowance for importing the preload modules once per session


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0  # wall clock for the whole program
    chunk_timeout_s: float | None = None  # alarm per chunk (e.g. 10 s per test file)
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
    failures = []
    for prefix, namespaces in candidates:
        plan = {"prefix": prefix, "network": namespaces, "pid_namespace": namespaces, "drop_user": drop_user}
        result = _session(plan, [Program(["import socket"])], "", Limits(timeout_s=20), slot=0)[0]
        if result.verdict == "passed":
            return plan
        failures.append(f"{result.error_type}: {result.error_message} {result.stderr[-300:]}")
    raise RuntimeError(f"the sandbox cannot start Python ({sys.executable}) on this machine: {failures}")


@dataclass(frozen=True)
class Program:
    """Chunks run in order in one namespace, after ``setup`` (e.g. the imports a harness provides)."""
    chunks: Sequence[str]
    setup: str = ""


def run_program(chunks: str | Sequence[str], *, setup: str = "", limits: Limits = Limits(), slot: int = 0
                ) -> RunResult:
    """Run one program (a source string or a list of chunks) in its own sandbox; never raises for its faults."""
    return run_programs([Program([chunks] if isinstance(chunks, str) else list(chunks), setup)],
                        limits=limits, slot=slot)[0]


def run_programs(programs: Sequence[Program], *, preload: str = "", limits: Limits = Limits(), slot: int = 0
                 ) -> list[RunResult]:
    """Run programs one after the other in one sandbox session (see the module docstring)."""
    return _session(isolation(), list(programs), preload, limits, slot)


class SandboxPool:
    """Runs many programs, ``workers`` sessions in parallel (default: CPU count), ``batch`` programs per session.

    Programs of one session run one at a time, each in a fresh forked process and working directory after the
    session imported ``preload`` once; they share the session's user id and namespaces."""

    def __init__(self, workers: int | None = None, limits: Limits = Limits(), *, preload: str = "",
                 batch: int = 16):
        self.workers = os.cpu_count() or 1 if workers is None else workers
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        self.limits, self.preload, self.batch = limits, preload, batch
        self._slots = list(range(self.workers))
        self._lock = threading.Lock()

    def _run(self, programs: list[Program]) -> list[RunResult]:
        with self._lock:
            slot = self._slots.pop()
        try:
            return run_programs(programs, preload=self.preload, limits=self.limits, slot=slot)
        finally:
            with self._lock:
                self._slots.append(slot)

    def map(self, programs: Iterable[Program]) -> Iterator[RunResult]:
        """Results in input order."""
        programs = list(programs)
        isolation()  # probe once, before the threads start
        batches = [programs[i:i + self.batch] for i in range(0, len(programs), self.batch)]
        with ThreadPoolExecutor(self.workers) as executor:
            for results in executor.map(self._run, batches):
                yield from results


# --- one session ---------------------------------------------------------------------------------------------
def _environment(workdir: str) -> dict:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _cpu_seconds(limits: Limits) -> int:
    return limits.cpu_s or int(limits.timeout_s) + 2


def _set_limits(limits: Limits, session_cpu: int) -> None:
    """Runs in the child between fork and exec: limits are inherited by everything it starts (each program's
    worker lowers the CPU limit to its own share)."""
    memory = limits.memory_mb * 2 ** 20
    for name, value in ((resource.RLIMIT_CPU, (session_cpu, session_cpu + 1)), (resource.RLIMIT_AS, (memory, memory)),
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


def _session(plan: dict, programs: list[Program], preload: str, limits: Limits, slot: int) -> list[RunResult]:
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="tranx-sandbox-")
    report_read, report_write = os.pipe()
    job = {"programs": [{"chunks": list(p.chunks), "setup": p.setup} for p in programs], "preload": preload,
           "chunk_timeout": limits.chunk_timeout_s, "program_timeout": limits.timeout_s,
           "cpu_seconds": _cpu_seconds(limits), "output_bytes": limits.output_bytes, "report_fd": report_write}
    # The wall clock of the whole session: the preload, then each program's own limit.
    session_seconds = _PRELOAD_SECONDS + len(programs) * (limits.timeout_s + 1)
    try:
        if plan["drop_user"]:
            os.chown(workdir, _UID_BASE + slot, _UID_BASE + slot)
        try:
            process = subprocess.Popen(
                _command(plan, slot), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=workdir, env=_environment(workdir), pass_fds=(report_write,), start_new_session=True,
                preexec_fn=functools.partial(_set_limits, limits, int(session_seconds) + 1))
        finally:
            os.close(report_write)
        try:
            process.stdin.write(json.dumps(job).encode("utf-8"))
            process.stdin.close()
        except BrokenPipeError:
            pass
        report, stderr, session_timed_out = _collect(process, report_read, started + session_seconds)
    finally:
        os.close(report_read)
        shutil.rmtree(workdir, ignore_errors=True)
    records: dict[int, list[dict]] = {i: [] for i in range(len(programs))}
    for line in report.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("program") in records:
            records[record["program"]].append(record)
    lost = "session timed out" if session_timed_out else f"sandbox session ended: {stderr[-300:]}"
    return [_verdict(records[i], len(p.chunks), limits, lost) for i, p in enumerate(programs)]


def _collect(process: subprocess.Popen, report_fd: int, deadline: float) -> tuple[bytes, str, bool]:
    """Read the report channel (and the session's own stderr) until they close, the session has ended (plus a
    short drain) or the deadline; then kill the process group. Returns (report, stderr, timed out)."""
    buffers = {"report": bytearray(), "stderr": bytearray()}
    caps = {"report": 64 << 20, "stderr": 1 << 16}
    selector = selectors.DefaultSelector()
    for name, fd in (("report", report_fd), ("stderr", process.stderr.fileno()), ("stdout", process.stdout.fileno())):
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ, name)
    ended_at, timed_out = None, False
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
            elif key.data in buffers and len(buffers[key.data]) < caps[key.data]:
                buffers[key.data] += data
    selector.close()
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
    for stream in (process.stdout, process.stderr):
        stream.close()
    return bytes(buffers["report"]), buffers["stderr"].decode("utf-8", "replace"), timed_out


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _verdict(records: list[dict], n_chunks: int, limits: Limits, lost: str) -> RunResult:
    chunk_records = [r for r in records if "chunk" in r]
    end = next((r for r in records if "exit" in r), None)
    result = RunResult("error", chunks=[r["outcome"] for r in chunk_records])
    if end is not None:
        result.stdout, result.stderr, result.output_truncated = end["stdout"], end["stderr"], end["truncated"]
    setup = next((r["setup"] for r in records if "setup" in r), None)
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
    elif end is None:
        result.verdict, result.error_type, result.error_message = "killed", "SessionLost", lost
    elif end["timed_out"]:
        result.verdict, result.error_type = "timeout", "WallClock"
        result.error_message = f"no result within {limits.timeout_s:g} s"
    else:
        _ended_early(result, end["exit"])
    return result


def _ended_early(result: RunResult, ended: dict) -> None:
    """The worker stopped before finishing its chunks: by a signal, or by exiting (``os._exit``)."""
    number = ended.get("signal")
    if number == signal.SIGXCPU:
        result.verdict, result.error_type, result.error_message = "timeout", "SIGXCPU", "CPU time limit"
    elif number is not None:
        result.verdict, result.error_type = "killed", _signal_name(number)
        result.error_message = {signal.SIGXFSZ: "file size limit", signal.SIGKILL: "killed",
                                signal.SIGSEGV: "segmentation fault (stack overflow?)"}.get(number, "")
    else:
        result.error_type = "EarlyExit"
        result.error_message = f"the program exited (status {ended.get('code')}) before its end"
