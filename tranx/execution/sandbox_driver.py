"""The supervisor inside a sandbox session (see sandbox.py); standard library only.

It is passed to ``python -I -c`` as source, so it never imports tranx and the sandbox's ``sys.path`` holds no
project folder. The job arrives as one JSON object on stdin; results go to our caller as JSON lines on the file
descriptor ``job["report_fd"]``, which no program ever holds.

This process is PID 1 of the session's PID namespace and ignores every signal it can: the kernel drops signals to a
namespace's init that it has no handler for, SIGKILL included, so no program can stop it. Under bubblewrap as
root it is also uid 0 while every program runs as ``job["worker_uid"]``, so programs cannot trace it or reach its
files either. It imports the ``preload`` modules once (a forked worker gets them for free), then runs the
programs one at a time, each in a forked worker with fresh limits, uid and working folder; after each program it
kills every other process in the namespace and empties the shared folders (``job["wipe"]``), so nothing one
program leaves behind reaches the next.

A worker reports to the supervisor through a pipe of its own, and every record carries a token drawn for that
program: what the program itself writes to its descriptors (it can find them) cannot pass for the harness.
The harness holds its own references to ``compile``, ``exec``, the exception classes, the writer and a
pristine copy of the builtins, taken before any program runs; each chunk's trusted ``check`` part runs with a
fresh copy of those builtins and a guard (``__tranx_seen__``) through which the check's values pass: an object
whose class the program defined with its own comparison or truth methods ends the chunk as ``forged``.
"""
import builtins
import json
import os
import resource
import select
import shutil
import signal
import sys
import time

_exec, _compile, _type, _isinstance, _write = exec, compile, type, isinstance, os.write
_BaseException, _AssertionError, _MemoryError = BaseException, AssertionError, MemoryError
_BUILTINS = dict(builtins.__dict__)
_CATCHABLE = [s for s in signal.Signals if s not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD)]
_SUSPECT = frozenset({"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__len__",
                      "__hash__", "__getattr__", "__getattribute__", "__instancecheck__", "__array__",
                      "__array_ufunc__", "__array_function__", "equals"})
_type_mro = type.__dict__["__mro__"].__get__
_type_dict = type.__dict__["__dict__"].__get__
_type_flags = type.__dict__["__flags__"].__get__
_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: made by a class statement or type(), not built into a C module


class ChunkTimeout(BaseException):
    """Raised by the per-chunk alarm (BaseException, so ``except Exception`` in the program does not swallow it)."""


class Forged(BaseException):
    """A value the program made to fool the check reached it."""


def _report(fd, record):
    try:
        os.write(fd, (json.dumps(record) + "\n").encode("utf-8", "replace"))
    except OSError:
        pass


def _on_alarm(signum, frame):
    raise ChunkTimeout("chunk time limit")


def _kind(error):
    if _isinstance(error, ChunkTimeout):
        return "timeout"
    if _isinstance(error, Forged):
        return "forged"
    if _isinstance(error, _MemoryError):
        return "memory"
    if _isinstance(error, _AssertionError):
        return "assertion"
    return "error"


def _message(error):
    try:
        return str(error)[:500]
    except _BaseException:  # a hostile __str__
        return "<unprintable>"


# --- the worker: one program ---------------------------------------------------------------------------------
def _make_guard(modules):
    def seen(value):
        for klass in _type_mro(_type(value)):
            if not _type_flags(klass) & _HEAP_TYPE:
                continue
            namespace = _type_dict(klass)
            module = namespace.get("__module__")
            if (module == "__main__" or module not in modules) and not _SUSPECT.isdisjoint(namespace):
                raise Forged(f"an object of the program's own class {klass.__qualname__!s:.80} "
                             f"(with {sorted(_SUSPECT.intersection(namespace))[0]}) reached the check")
        return value
    return seen


def _enter(job, output_base, channel):
    """The worker's side of the fork: own session, uid, limits, folder, outputs and default signals."""
    os.setsid()
    for fd, suffix in ((1, ".stdout"), (2, ".stderr")):
        target = os.open(output_base + suffix, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    os.dup2(channel, 3)
    os.closerange(4, 1 << 16)  # nothing of the supervisor's, the report descriptor included
    try:
        with open("/proc/self/oom_score_adj", "w") as handle:  # the kernel's OOM killer takes programs first
            handle.write("1000")
    except OSError:
        pass
    uid = job.get("worker_uid")
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    os.chdir(job["workdir"])
    os.environ["HOME"] = os.environ["TMPDIR"] = job["workdir"]
    for name, value in job["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (value, value + (1 if name == "RLIMIT_CPU" else 0)))
    for number in _CATCHABLE:
        try:
            signal.signal(number, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in any Python program
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _run_program(program, job, token):
    channel = 3

    def send(*fields):
        line = " ".join([token] + [str(f).encode("utf-8", "replace").hex() for f in fields]) + "\n"
        try:
            _write(channel, line.encode("ascii"))
        except _BaseException:
            pass

    namespace = {"__name__": "__main__", "__builtins__": dict(_BUILTINS)}
    guard = _make_guard(sys.modules)  # a class of an imported library is not the program's
    chunk_timeout = job.get("chunk_timeout")
    checks = program.get("checks") or []
    if program.get("setup"):
        try:
            _exec(_compile(program["setup"], "<setup>", "exec"), namespace)
        except _BaseException as error:
            send("setup", _type(error).__name__, _message(error))
            os._exit(0)
    for number, source in enumerate(program["chunks"]):
        parts = [(source, False)] + ([(checks[number], True)] if number < len(checks) and checks[number] else [])
        try:
            codes = [(_compile(text, f"<chunk {number}>", "exec"), trusted) for text, trusted in parts]
        except (SyntaxError, ValueError, MemoryError, RecursionError) as error:  # ValueError: NUL bytes
            send("chunk", number, "syntax", _type(error).__name__, _message(error))
            continue
        if chunk_timeout:
            signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, chunk_timeout)
        try:
            for code, trusted in codes:
                if trusted:
                    namespace["__builtins__"] = {**_BUILTINS, "__tranx_seen__": guard}
                _exec(code, namespace)
            record = ("chunk", number, "ok", "ok", "")
        except _BaseException as error:
            record = ("chunk", number, _kind(error), _type(error).__name__, _message(error))
        finally:
            if chunk_timeout:
                signal.setitimer(signal.ITIMER_REAL, 0)
        send(*record)
    send("done")
    for stream in (sys.stdout, sys.stderr):  # what the program printed; then leave without its atexit hooks
        try:
            stream.flush()
        except _BaseException:
            pass
    os._exit(0)


# --- the supervisor ------------------------------------------------------------------------------------------
def _parse(line, token):
    parts = line.split(" ")
    if not parts or parts[0] != token:
        return None
    try:
        fields = [bytes.fromhex(p).decode("utf-8", "replace") for p in parts[1:]]
    except ValueError:
        return None
    if fields == ["done"]:
        return {"done": True}
    if len(fields) == 3 and fields[0] == "setup":
        return {"setup": {"outcome": fields[1], "message": fields[2]}}
    if len(fields) == 5 and fields[0] == "chunk" and fields[1].isdigit():
        return {"chunk": int(fields[1]), "kind": fields[2], "outcome": fields[3], "message": fields[4]}
    return None


def _watch(worker, channel, token, timeout):
    """Collect the worker's genuine records until it ends (or the deadline kills it)."""
    deadline, timed_out, status, buffer, records = time.monotonic() + timeout, False, None, b"", []
    while status is None:
        ready, _, _ = select.select([channel] if channel is not None else [], [], [], 0.01)
        if ready:
            data = os.read(channel, 65536)
            if not data:
                os.close(channel)
                channel = None
            elif len(buffer) < (1 << 20):
                buffer += data
        pid, wait_status = os.waitpid(worker, os.WNOHANG)
        if pid == worker:
            status = wait_status
        elif not timed_out and time.monotonic() > deadline:
            timed_out = True
            os.kill(worker, signal.SIGKILL)
    if channel is not None:  # what the worker wrote before it ended; a descendant may hold the pipe open
        while select.select([channel], [], [], 0)[0]:
            data = os.read(channel, 65536)
            if not data:
                break
            buffer += data
        os.close(channel)
    for line in buffer.decode("ascii", "replace").splitlines():
        record = _parse(line, token)
        if record is not None:
            records.append(record)
    return status, timed_out, records


def _kill_leftovers(worker):
    """Kill every process the program left: all of the namespace but us (we are its PID 1), else its group."""
    for _ in range(1000):
        try:
            os.kill(-1 if os.getpid() == 1 else -worker, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        reaped_all = False
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                reaped_all = True
                break
            if pid == 0:
                break
        if reaped_all or os.getpid() != 1:
            return
        time.sleep(0.001)


def _empty(folder):
    """Remove what is in a folder, never the folder itself."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass


def _output(path, limit):
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
        return data[:limit].decode("utf-8", "replace"), len(data) > limit
    except OSError:
        return "", False


def _oom_kills(path):
    if not path:
        return 0
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _run_one(index, program, job, fd):
    base = job["private"]
    output_base = os.path.join(base, f"p{index}")
    token = os.urandom(16).hex()
    read_end, write_end = os.pipe()
    oom_before = _oom_kills(job.get("oom_control"))
    started = time.monotonic()
    worker = os.fork()
    if worker == 0:
        try:
            os.close(read_end)
            os.close(fd)
            _enter(job, output_base, write_end)
            _run_program(program, job, token)
        finally:
            os._exit(70)
    os.close(write_end)
    status, timed_out, records = _watch(worker, read_end, token, job["program_timeout"])
    seconds = time.monotonic() - started
    _kill_leftovers(worker)
    if status is None:
        ended = {}
    elif os.WIFSIGNALED(status):
        ended = {"signal": os.WTERMSIG(status)}
    else:
        ended = {"code": os.WEXITSTATUS(status)}
    stdout, out_cut = _output(output_base + ".stdout", job["output_bytes"])
    stderr, err_cut = _output(output_base + ".stderr", job["output_bytes"])
    for suffix in (".stdout", ".stderr"):
        try:
            os.remove(output_base + suffix)
        except OSError:
            pass
    for folder in job["wipe"]:
        _empty(folder)
    _report(fd, {"program": index, "records": records, "exit": ended, "timed_out": timed_out,
                 "oom_killed": _oom_kills(job.get("oom_control")) > oom_before, "seconds": round(seconds, 4),
                 "stdout": stdout, "stderr": stderr, "truncated": out_cut or err_cut})


def main():
    for number in _CATCHABLE:  # see the module docstring; workers restore the defaults
        try:
            signal.signal(number, signal.SIG_IGN)
        except (OSError, ValueError):
            pass
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    fd = job["report_fd"]
    os.makedirs(job["private"], mode=0o700, exist_ok=True)
    if job.get("preload"):
        try:
            _exec(_compile(job["preload"], "<preload>", "exec"), {"__name__": "__preload__"})
        except _BaseException as error:
            _report(fd, {"preload": {"outcome": _type(error).__name__, "message": _message(error)}})
    for index, program in enumerate(job["programs"]):
        _run_one(index, program, job, fd)
    _report(fd, {"session_done": True})
    os._exit(0)


main()
