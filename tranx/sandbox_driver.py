"""The program that runs inside the sandbox (see sandbox.py); standard library only.

It is passed to ``python -I -c`` as source, so it never imports tranx and the sandbox's ``sys.path`` holds no
project folder. Protocol: the job arrives as one JSON object on stdin; results go out as JSON lines on the file
descriptor ``job["report_fd"]``, never on stdout/stderr, which belong to the program.

The process forks once: the parent is a supervisor that only reaps children and reports how the worker ended
(inside a PID namespace it is PID 1, so the program can neither signal it nor outlive it); the worker executes the
setup code and then each chunk in one shared namespace, reporting every chunk's outcome and finally ``done``.
"""
import json
import os
import signal
import sys


class ChunkTimeout(BaseException):
    """Raised by the per-chunk alarm (BaseException, so ``except Exception`` in the program does not swallow it)."""


def _report(fd, record):
    data = (json.dumps(record) + "\n").encode("utf-8", "replace")
    try:
        os.write(fd, data)
    except OSError:
        pass


def _on_alarm(signum, frame):
    raise ChunkTimeout("chunk time limit")


def _describe(error):
    if isinstance(error, ChunkTimeout):
        kind = "timeout"
    elif isinstance(error, MemoryError):
        kind = "memory"
    elif isinstance(error, AssertionError):
        kind = "assertion"
    else:
        kind = "error"
    try:
        message = str(error)[:500]
    except BaseException:  # a hostile __str__
        message = "<unprintable>"
    return {"outcome": type(error).__name__, "kind": kind, "message": message}


def _run_worker(job, fd):
    namespace = {"__name__": "__main__"}
    chunk_timeout = job.get("chunk_timeout")
    if job.get("setup"):
        try:
            exec(compile(job["setup"], "<setup>", "exec"), namespace)
        except BaseException as error:
            _report(fd, {"setup": _describe(error)})
            os._exit(0)
    for index, source in enumerate(job["chunks"]):
        try:
            code = compile(source, f"<chunk {index}>", "exec")
        except (SyntaxError, ValueError, MemoryError, RecursionError) as error:  # ValueError: NUL bytes
            _report(fd, {"chunk": index, "outcome": type(error).__name__, "kind": "syntax",
                         "message": str(error)[:500]})
            continue
        if chunk_timeout:
            signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, chunk_timeout)
        try:
            exec(code, namespace)
            record = {"chunk": index, "outcome": "ok", "kind": "ok", "message": ""}
        except BaseException as error:
            record = {"chunk": index, **_describe(error)}
        finally:
            if chunk_timeout:
                signal.setitimer(signal.ITIMER_REAL, 0)
        _report(fd, record)
    _report(fd, {"done": True})
    # Flush what the program printed, then leave without running its atexit hooks or finalizers.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(0)


def _supervise(worker, fd):
    """Reap every child (orphans re-parent to us in a PID namespace) until the worker has ended; report how."""
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == worker:
            if os.WIFSIGNALED(status):
                _report(fd, {"exit": {"signal": os.WTERMSIG(status)}})
            else:
                _report(fd, {"exit": {"code": os.WEXITSTATUS(status)}})
            break
    os._exit(0)


def main():
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    fd = job["report_fd"]
    worker = os.fork()
    if worker:
        _supervise(worker, fd)
    else:
        _run_worker(job, fd)


main()
