"""The program that runs inside a sandbox session (see sandbox.py); standard library only.

It is passed to ``python -I -c`` as source, so it never imports tranx and the sandbox's ``sys.path`` holds no
project folder. Protocol: the job arrives as one JSON object on stdin; results go out as JSON lines on the file
descriptor ``job["report_fd"]``, never on stdout/stderr.

This process is the session's supervisor (PID 1 of its PID namespace where there is one, so programs can neither
signal it nor outlive it). It imports the ``preload`` modules once (pandas and scikit-learn take a second or two
to import; a forked worker gets them for free), then runs the programs one at a time, each in a forked worker
with its own working directory, output files, CPU limit and time limit. After each program it kills whatever
the program left running. A worker runs ``setup`` and then each chunk in one fresh namespace and reports every
chunk's outcome, then ``done``.
"""
import json
import os
import resource
import shutil
import signal
import sys
import time


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


# --- the worker: one program ---------------------------------------------------------------------------------
def _enter(folder, output_base, cpu_seconds):
    os.setpgid(0, 0)  # its own process group, so leftovers can be killed even without a PID namespace
    os.chdir(folder)
    os.environ["HOME"] = os.environ["TMPDIR"] = folder
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    for fd, suffix in ((1, ".stdout"), (2, ".stderr")):
        target = os.open(output_base + suffix, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)


def _run_program(index, program, job, fd):
    namespace = {"__name__": "__main__"}
    tag = {"program": index}
    chunk_timeout = job.get("chunk_timeout")
    if program.get("setup"):
        try:
            exec(compile(program["setup"], "<setup>", "exec"), namespace)
        except BaseException as error:
            _report(fd, {**tag, "setup": _describe(error)})
            os._exit(0)
    for number, source in enumerate(program["chunks"]):
        try:
            code = compile(source, f"<chunk {number}>", "exec")
        except (SyntaxError, ValueError, MemoryError, RecursionError) as error:  # ValueError: NUL bytes
            _report(fd, {**tag, "chunk": number, "outcome": type(error).__name__, "kind": "syntax",
                         "message": str(error)[:500]})
            continue
        if chunk_timeout:
            signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, chunk_timeout)
        try:
            exec(code, namespace)
            record = {"chunk": number, "outcome": "ok", "kind": "ok", "message": ""}
        except BaseException as error:
            record = {"chunk": number, **_describe(error)}
        finally:
            if chunk_timeout:
                signal.setitimer(signal.ITIMER_REAL, 0)
        _report(fd, {**tag, **record})
    _report(fd, {**tag, "done": True})
    for stream in (sys.stdout, sys.stderr):  # what the program printed; then leave without its atexit hooks
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(0)


# --- the supervisor ------------------------------------------------------------------------------------------
def _wait(worker, timeout):
    """Reap children until the worker ends; kill it at the deadline. Returns (status, timed_out)."""
    deadline, timed_out = time.monotonic() + timeout, False
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return None, timed_out
        if pid == worker:
            return status, timed_out
        if pid == 0:
            if not timed_out and time.monotonic() > deadline:
                timed_out = True
                os.kill(worker, signal.SIGKILL)
            time.sleep(0.002)


def _kill_leftovers(worker):
    """Kill every process the program left behind: all of the PID namespace but us, or else its process group."""
    for _ in range(100):
        if os.getpid() == 1:
            victims = [int(p) for p in os.listdir("/proc") if p.isdigit() and p != "1"]
        else:
            victims = [-worker]
        alive = False
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
                alive = True
            except (ProcessLookupError, PermissionError):
                pass
        while True:  # reap what has died
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not alive:
            return
        time.sleep(0.001)


def _output(path, limit):
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
        return data[:limit].decode("utf-8", "replace"), len(data) > limit
    except OSError:
        return "", False


def main():
    job = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    fd, base = job["report_fd"], os.getcwd()
    if job.get("preload"):
        try:
            exec(compile(job["preload"], "<preload>", "exec"), {"__name__": "__preload__"})
        except BaseException as error:
            _report(fd, {"preload": _describe(error)})
    os.mkdir(os.path.join(base, "output"), 0o700)
    for index, program in enumerate(job["programs"]):
        folder = os.path.join(base, f"p{index}")
        output_base = os.path.join(base, "output", f"p{index}")
        os.mkdir(folder, 0o700)
        worker = os.fork()
        if worker == 0:
            try:
                _enter(folder, output_base, job["cpu_seconds"])
                _run_program(index, program, job, fd)
            finally:
                os._exit(70)
        status, timed_out = _wait(worker, job["program_timeout"])
        _kill_leftovers(worker)
        if status is None:
            ended = {}
        elif os.WIFSIGNALED(status):
            ended = {"signal": os.WTERMSIG(status)}
        else:
            ended = {"code": os.WEXITSTATUS(status)}
        stdout, out_cut = _output(output_base + ".stdout", job["output_bytes"])
        stderr, err_cut = _output(output_base + ".stderr", job["output_bytes"])
        _report(fd, {"program": index, "exit": ended, "timed_out": timed_out, "stdout": stdout, "stderr": stderr,
                     "truncated": out_cut or err_cut})
        shutil.rmtree(folder, ignore_errors=True)  # a long session must not pile up its programs' files
        for suffix in (".stdout", ".stderr"):
            try:
                os.remove(output_base + suffix)
            except OSError:
                pass
    _report(fd, {"session_done": True})
    os._exit(0)


main()
