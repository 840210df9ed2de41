"""Run untrusted programs (generated code) in a separate, contained process and return a structured verdict.

Generated code never runs in our own process. Where bubblewrap is installed (Debian package ``bubblewrap``; see
tranx.execution.bwrap) each *session* of programs runs in a sandbox built from nothing: new PID, network, IPC, UTS
and cgroup namespaces; a read-only view of only ``/usr``, the interpreter and the installed packages; private,
size-limited ``/tmp`` and ``/dev/shm``; a seccomp filter (tranx.execution.seccomp_filter: no ptrace, no sockets, no
mounts or new namespaces, ...); and a cgroup that bounds the session's total memory and process count
(tranx.execution.cgroups). Inside, a supervisor (sandbox_driver.py) runs the programs one at a time, each in a
forked worker with its own unprivileged uid (when we are root), limits (CPU seconds, address space, processes, file
size, open files, no core dumps), wall-clock timeout and optional per-chunk alarm; after each program it kills
whatever the program left running and empties ``/tmp`` and ``/dev/shm``, so no program can change the verdict of
another. ``isolation()`` *measures* what a sandboxed program can and cannot do here, with probes.

Without bubblewrap (or with ``TRANX_SANDBOX=unshare``) sessions fall back, with a loud warning, to the older
runner: ``unshare`` namespaces (network, PID) and ``setpriv`` to another uid when we are root; the program can
then read the file system and write where that uid may. ``TRANX_SANDBOX=plain`` (or no ``unshare``) runs with the
limits and a scrubbed environment only.

A *program* is a list of chunks executed in order in one namespace (a unit-test harness: prefix + solution per
test file), after ``setup``; each chunk may have a trusted ``check`` (the test file) that runs after it with the
harness's own builtins and a guard against forged values. Verdicts: ``passed`` (every chunk ran to its end),
``failed`` (an AssertionError), ``error`` (another exception, ``sys.exit`` included, or the program left before its
chunks were done), ``timeout`` (wall clock, chunk alarm or CPU limit), ``memory`` (MemoryError, or killed by the
kernel for the session's memory), ``killed`` (ended by another signal), ``syntax_error`` (a chunk does not
compile), ``forged`` (an object of the program's own class with comparison or truth methods reached a check). The
first failing chunk decides.
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
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from tranx.execution import bwrap, cgroups
from tranx.execution.probes import measure
from tranx.execution.seccomp_filter import filter_bpf

__all__ = ["VERDICTS", "Limits", "Program", "RunResult", "SandboxPool", "backend", "isolation", "run_program",
           "run_programs"]

VERDICTS = ("passed", "failed", "error", "timeout", "memory", "killed", "syntax_error", "forged")
_DRIVER = (Path(__file__).with_name("sandbox_driver.py")).read_text(encoding="utf-8")
_KIND_TO_VERDICT = {"assertion": "failed", "timeout": "timeout", "memory": "memory", "error": "error",
                    "syntax": "syntax_error", "forged": "forged"}
#: Each pool slot runs its programs as its own unprivileged user id (when we are root).
_UID_BASE = 61000
_DRAIN_AFTER_EXIT_S = 0.5
_PRELOAD_SECONDS = 60  # allowance for importing the preload modules once per session
_SUPERVISOR_PROCESSES = 4  # bwrap, its child and the supervisor count against the session's process limit
BACKENDS = ("bwrap", "unshare", "plain")


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0  # wall clock for the whole program
    chunk_timeout_s: float | None = None  # alarm per chunk (e.g. 10 s per test file)
    cpu_s: int | None = None  # CPU seconds; default: the wall-clock timeout rounded up, plus one
    memory_mb: int = 2048  # address space per process; pandas + scikit-learn import needs about 1 GiB of it
    session_memory_mb: int | None = None  # resident memory of a whole session (cgroup); default: memory_mb
    max_processes: int = 32
    max_file_mb: int = 16
    max_open_files: int = 256
    tmp_mb: int = 64  # the private /tmp (working folder and home); /dev/shm gets a quarter of it
    output_bytes: int = 16384  # stdout and stderr are each truncated to this

    def __post_init__(self):
        for name in ("timeout_s", "memory_mb", "max_processes", "max_file_mb", "output_bytes", "tmp_mb"):
            if not getattr(self, name) or getattr(self, name) <= 0:
                raise ValueError(f"sandbox limit {name} must be positive, got {getattr(self, name)!r}")
        if self.session_memory_mb is not None and self.session_memory_mb <= 0:
            raise ValueError(f"sandbox limit session_memory_mb must be positive, got {self.session_memory_mb!r}")


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


@dataclass(frozen=True)
class Program:
    """Chunks run in order in one namespace, after ``setup``; ``checks[i]`` (trusted) runs right after chunk i."""
    chunks: Sequence[str]
    setup: str = ""
    checks: Sequence[str] = ()


# --- how sessions start --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def backend() -> dict:
    """How sessions are started here: bubblewrap, else (loudly) the unshare runner, else plain processes."""
    wanted = os.environ.get("TRANX_SANDBOX", "").strip().lower() or None
    if wanted is not None and wanted not in BACKENDS:
        raise RuntimeError(f"TRANX_SANDBOX={wanted!r} is not a sandbox backend; use one of {', '.join(BACKENDS)}")
    root = os.geteuid() == 0
    no_cgroup = cgroups.cgroup_unavailable()
    plans, failures = [], []
    if wanted in (None, "bwrap"):
        if bwrap.bwrap_path() is None:
            failures.append("bubblewrap is not installed (Debian: apt-get install bubblewrap)")
        else:
            plans.append({"backend": "bwrap", "as_root": root, "drop_user": root, "cgroup": no_cgroup is None,
                          "seccomp": filter_bpf() is not None})
    unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    drop_user = root and setpriv is not None
    if wanted in (None, "unshare") and unshare:
        ns = [unshare, "--pid", "--fork", "--kill-child", "--net", "--mount-proc"]
        plans.append({"backend": "unshare", "prefix": ns if drop_user else ns[:1] + ["--user", "--map-root-user"]
                      + ns[1:], "drop_user": drop_user, "cgroup": False, "seccomp": False})
    if wanted in (None, "plain"):
        plans.append({"backend": "plain", "prefix": [], "drop_user": drop_user, "cgroup": False, "seccomp": False})
    for plan in plans:
        result = _session(plan, [Program(["import socket"])], "", Limits(timeout_s=20), slot=0)[0]
        if result.verdict == "passed":
            if plan["backend"] != "bwrap" and wanted is None:
                _warn_fallback(plan, failures)
            return plan
        failures.append(f"{plan['backend']}: {result.error_type}: {result.error_message} {result.stderr[-300:]}")
    raise RuntimeError(f"the sandbox cannot start Python ({sys.executable}) on this machine: {failures}")


def _warn_fallback(plan: dict, failures: list[str]) -> None:
    message = (f"SANDBOX WEAKENED: falling back to the {plan['backend']} runner ({'; '.join(failures)}). "
               "Programs can read the file system and write wherever their uid may; nothing bounds their total "
               "memory. Install bubblewrap (and python3-seccomp) before trusting execution results as rewards.")
    warnings.warn(message, RuntimeWarning, stacklevel=3)
    print(f"tranx: {message}", file=sys.stderr)


@functools.lru_cache(maxsize=None)
def isolation() -> dict:
    """What a sandboxed program can and cannot do here, measured once with probes (tranx.execution.probes)."""
    plan = backend()
    measured = measure(plan, lambda source: _session(plan, [Program([source])], "", Limits(timeout_s=20), slot=0)[0])
    return {"backend": plan["backend"], "drop_user": plan["drop_user"], **measured}


def run_program(chunks: str | Sequence[str], *, setup: str = "", limits: Limits = Limits(), slot: int = 0
                ) -> RunResult:
    """Run one program (a source string or a list of chunks) in its own sandbox; never raises for its faults."""
    return run_programs([Program([chunks] if isinstance(chunks, str) else list(chunks), setup)],
                        limits=limits, slot=slot)[0]


def run_programs(programs: Sequence[Program], *, preload: str = "", limits: Limits = Limits(), slot: int = 0
                 ) -> list[RunResult]:
    """Run programs one after the other in one sandbox session (see the module docstring)."""
    return _session(backend(), list(programs), preload, limits, slot)


class SandboxPool:
    """Runs many programs, ``workers`` sessions in parallel (default: CPU count), ``batch`` programs per session."""

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
        backend()  # probe once, before the threads start
        batches = [programs[i:i + self.batch] for i in range(0, len(programs), self.batch)]
        with ThreadPoolExecutor(self.workers) as executor:
            for results in executor.map(self._run, batches):
                yield from results


# --- one session ---------------------------------------------------------------------------------------------
def _environment(home: str) -> dict:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _cpu_seconds(limits: Limits) -> int:
    return limits.cpu_s or int(limits.timeout_s) + 2


def _program_rlimits(limits: Limits) -> dict:
    memory = limits.memory_mb * 2 ** 20
    return {"RLIMIT_CPU": _cpu_seconds(limits), "RLIMIT_AS": memory, "RLIMIT_NPROC": limits.max_processes,
            "RLIMIT_FSIZE": limits.max_file_mb * 2 ** 20, "RLIMIT_NOFILE": limits.max_open_files, "RLIMIT_CORE": 0}


def _start_child(limits: Limits, session_cpu: int, plan: dict, join: list[str]) -> None:
    """Runs in the child between fork and exec; what it sets is inherited by the whole session."""
    if join:
        cgroups.join(join)
    if os.geteuid() == 0:  # the supervisor is the last process the kernel's OOM killer may take
        try:
            with open("/proc/self/oom_score_adj", "w", encoding="ascii") as handle:
                handle.write("-1000")
        except OSError:
            pass
    resource.setrlimit(resource.RLIMIT_CPU, (session_cpu, session_cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if plan["backend"] != "bwrap":  # the older runners: the session inherits the program limits
        for name, value in _program_rlimits(limits).items():
            if name != "RLIMIT_CPU":
                resource.setrlimit(getattr(resource, name), (value, value))


def _session(plan: dict, programs: list[Program], preload: str, limits: Limits, slot: int) -> list[RunResult]:
    started = time.monotonic()
    uid = _UID_BASE + slot
    session_seconds = _PRELOAD_SECONDS + len(programs) * (limits.timeout_s + 1)
    folders, cgroup, seccomp_fd = [], None, None
    report_read, report_write = os.pipe()
    job = {"programs": [{"chunks": list(p.chunks), "setup": p.setup, "checks": list(p.checks)} for p in programs],
           "preload": preload, "chunk_timeout": limits.chunk_timeout_s, "program_timeout": limits.timeout_s,
           "output_bytes": limits.output_bytes, "report_fd": report_write, "rlimits": _program_rlimits(limits)}
    try:
        if plan["backend"] == "bwrap":
            if plan["cgroup"]:
                cgroup = cgroups.SessionCgroup(f"tranx-{os.getpid()}-{slot}-{threading.get_ident()}",
                                               (limits.session_memory_mb or limits.memory_mb) << 20,
                                               limits.max_processes + _SUPERVISOR_PROCESSES)
            if plan["seccomp"]:
                seccomp_fd = os.memfd_create("tranx-seccomp")
                os.write(seccomp_fd, filter_bpf())
                os.lseek(seccomp_fd, 0, os.SEEK_SET)
            job.update(workdir="/tmp", private=bwrap.PRIVATE_FOLDER, wipe=list(bwrap.TMP_FOLDERS),
                       worker_uid=uid if plan["as_root"] else None,
                       oom_control=bwrap.OOM_CONTROL if cgroup else None)
            command = bwrap.bwrap_command(as_root=plan["as_root"], tmp_bytes=limits.tmp_mb << 20,
                                          shm_bytes=max(limits.tmp_mb // 4, 1) << 20, seccomp_fd=seccomp_fd,
                                          oom_control=cgroup.oom_control if cgroup else None)
            home = "/tmp"
        else:
            workdir, private = tempfile.mkdtemp(prefix="tranx-sandbox-"), tempfile.mkdtemp(prefix="tranx-supervisor-")
            folders = [workdir, private]
            if plan["drop_user"]:
                for folder in folders:
                    os.chown(folder, uid, uid)
            job.update(workdir=workdir, private=private, wipe=[workdir], worker_uid=None, oom_control=None)
            command = list(plan["prefix"])
            if plan["drop_user"]:
                command += [shutil.which("setpriv"), "--reuid", str(uid), "--regid", str(uid), "--clear-groups", "--"]
            home = workdir
        command += [sys.executable, "-I", "-c", _DRIVER]
        passed_fds = (report_write,) + ((seccomp_fd,) if seccomp_fd is not None else ())
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=home if plan["backend"] != "bwrap" else "/", env=_environment(home), pass_fds=passed_fds,
                start_new_session=True,
                preexec_fn=functools.partial(_start_child, limits, int(session_seconds) + 1, plan,
                                             cgroup.join_paths() if cgroup else []))
        finally:
            os.close(report_write)
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        try:
            process.stdin.write(json.dumps(job).encode("utf-8"))
            process.stdin.close()
        except BrokenPipeError:
            pass
        report, stderr, session_timed_out = _collect(process, report_read, started + session_seconds)
    finally:
        os.close(report_read)
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        if cgroup is not None:
            cgroup.close()
    ends: dict[int, dict] = {}
    for line in report.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("program"), int):
            ends.setdefault(record["program"], record)
    lost = "session timed out" if session_timed_out else f"sandbox session ended: {stderr[-300:]}"
    return [_verdict(ends.get(i), len(p.chunks), limits, lost) for i, p in enumerate(programs)]


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


def _verdict(end: dict | None, n_chunks: int, limits: Limits, lost: str) -> RunResult:
    if end is None:
        return RunResult("killed", "SessionLost", lost)
    records = end["records"]
    chunk_records = [r for r in records if "chunk" in r]
    result = RunResult("error", chunks=[r["outcome"] if r["kind"] != "ok" else "ok" for r in chunk_records],
                       stdout=end["stdout"], stderr=end["stderr"], output_truncated=end["truncated"],
                       seconds=end["seconds"])
    setup = next((r["setup"] for r in records if "setup" in r), None)
    done = any(r.get("done") for r in records)
    syntax = next((r for r in chunk_records if r["kind"] == "syntax"), None)
    failure = next((r for r in chunk_records if r["kind"] != "ok"), None)
    if setup is not None:
        result.error_type, result.error_message = setup["outcome"], "setup failed: " + setup["message"]
    elif syntax is not None:
        result.verdict, result.error_type, result.error_message = "syntax_error", syntax["outcome"], syntax["message"]
    elif failure is not None:
        result.verdict = _KIND_TO_VERDICT.get(failure["kind"], "error")
        result.error_type, result.error_message = failure["outcome"], failure["message"]
    elif done and len(chunk_records) == n_chunks:
        result.verdict = "passed"
    elif end.get("oom_killed"):  # a process of the program was killed for the session's memory
        result.verdict, result.error_type = "memory", "SessionMemory"
        result.error_message = f"the session's memory limit ({limits.session_memory_mb or limits.memory_mb} MiB)"
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
