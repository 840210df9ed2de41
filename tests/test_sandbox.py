"""The sandbox (tranx.execution.sandbox) against hostile and broken "generated solutions".

Every program here runs through the sandbox API, never in the test process. Each adversarial case must end with
the right verdict within its time limit (plus a margin for a loaded machine), and the sandbox must still run a
normal program afterwards. Limits are short so that the whole file stays fast on two cores.
"""
from __future__ import annotations

import os
import select
import shutil
import socket
import sys
import tempfile
import time

import pytest

from tranx.execution.bwrap import visible_paths
from tranx.execution.guard import guard_assertions
from tranx.execution.sandbox import _UID_BASE, Limits, Program, RunResult, SandboxPool, isolation, run_program, run_programs

FAST = Limits(timeout_s=3)  # for programs that should end by themselves
SHORT = Limits(timeout_s=2)  # for programs that must be stopped: each such case costs this much
MARGIN_S = 3.0  # start-up and clean-up allowance on a busy machine
FORK_SLOT = 7  # a pool slot (user id 61007) that nothing else uses while this file runs
NOT_PASSED_BADLY = {"error", "memory", "killed", "timeout"}


def run(chunks, limits: Limits = FAST, **kwargs) -> RunResult:
    """run_program, asserting that it came back within the program's limit plus the margin."""
    started = time.monotonic()
    result = run_program(chunks, limits=limits, **kwargs)
    elapsed = time.monotonic() - started
    assert elapsed < limits.timeout_s + MARGIN_S, (elapsed, result)
    return result


def assert_healthy(slot: int = 0) -> None:
    """A normal program still passes (the previous case left nothing behind that gets in the way)."""
    result = run("assert 1 + 1 == 2", slot=slot)
    assert result.verdict == "passed", result


def processes_of(uid: int) -> list[int]:
    """PIDs of the processes whose real or effective user id is ``uid`` (zombies included)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="utf-8") as handle:
                uids = next((line.split()[1:] for line in handle if line.startswith("Uid:")), [])
        except OSError:  # it ended meanwhile
            continue
        if str(uid) in uids:
            found.append(int(entry))
    return found


def assert_no_leftovers(slot: int) -> None:
    if not isolation()["drop_user"]:
        return  # the programs ran as our own user: there is no user id of theirs to look for
    deadline = time.monotonic() + 3.0  # processes killed with the session may take a moment to be reaped
    while (left := processes_of(_UID_BASE + slot)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == [], f"processes of user {_UID_BASE + slot} survived their session: {left}"


def needs_own_user():
    if not isolation()["drop_user"]:
        pytest.skip("the sandbox runs programs as our own user here (not root or no setpriv): "
                    "it cannot keep them out of our files")


# --- plain behaviour -----------------------------------------------------------------------------------------
def test_passed_and_stdout_captured():
    result = run("print('hello')\nassert 1 + 1 == 2")
    assert result.verdict == "passed" and result.passed
    assert result.stdout == "hello\n" and result.stderr == "" and not result.output_truncated
    assert result.error_type is None and result.chunks == ["ok"]


def test_failed_assertion_per_chunk():
    result = run(["x = 1", "assert x == 2, 'x is not 2'", "assert x == 1"])
    assert result.verdict == "failed"
    assert result.error_type == "AssertionError" and result.error_message == "x is not 2"
    assert result.chunks == ["ok", "AssertionError", "ok"]


def test_chunks_share_one_namespace():
    # CodeInsight: a later test file uses names an earlier one defined.
    result = run(["def double(v):\n    return 2 * v\ns = 'ab'", "assert double(s) == 'abab'"])
    assert result.verdict == "passed" and result.chunks == ["ok", "ok"]


def test_runtime_error_with_type_and_message():
    result = run("1 / 0")
    assert result.verdict == "error"
    assert result.error_type == "ZeroDivisionError" and "division by zero" in result.error_message


def test_syntax_error_decides_over_other_failures():
    result = run(["x = 1", "def (:", "assert False"])
    assert result.verdict == "syntax_error" and result.error_type == "SyntaxError"
    assert result.chunks == ["ok", "SyntaxError", "AssertionError"]


def test_nul_byte_is_a_syntax_error():
    result = run("x = 1\0")
    assert result.verdict == "syntax_error" and result.error_type in {"SyntaxError", "ValueError"}


def test_exception_with_hostile_str():
    result = run("class Nasty(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\nraise Nasty()")
    assert result.verdict == "error" and result.error_type == "Nasty" and result.error_message == "<unprintable>"


def test_setup_runs_first_and_its_failure_is_an_error():
    assert run("assert y == 2", setup="y = 2").verdict == "passed"
    result = run("assert True", setup="raise ValueError('boom')")
    assert result.verdict == "error" and result.error_type == "ValueError"
    assert result.error_message.startswith("setup failed") and "boom" in result.error_message


def test_chunk_alarm_stops_a_sleeping_chunk():
    limits = Limits(timeout_s=3, chunk_timeout_s=0.3)
    result = run(["x = 1", "import time\ntime.sleep(100)", "assert x == 1"], limits)
    assert result.verdict == "timeout" and result.error_type == "ChunkTimeout"
    assert result.chunks == ["ok", "ChunkTimeout", "ok"]  # the alarm stops one chunk, the next ones still run


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="timeout_s"):
        Limits(timeout_s=0)
    with pytest.raises(ValueError, match="memory_mb"):
        Limits(memory_mb=-1)
    with pytest.raises(ValueError, match="workers"):
        SandboxPool(0)


def test_files_a_program_leaves_are_gone_for_the_next():
    programs = [Program(["import os\nopen('left.txt', 'w').write('x')\nopen('/dev/shm/left', 'w').write('x')\n"
                         "print(os.getcwd())"]),
                Program(["import os\nassert os.listdir('.') == [] and os.listdir('/dev/shm') == [], os.listdir('.')"])]
    results = run_programs(programs, limits=FAST)
    assert [r.verdict for r in results] == ["passed", "passed"], results
    folder = results[0].stdout.strip()
    assert folder and not os.path.exists(os.path.join(folder, "left.txt"))


def test_programs_of_a_session_get_fresh_namespaces():
    programs = [Program(["x = 1\nimport fractions"]),
                Program(["assert 'x' not in globals()\nimport sys\nassert 'fractions' in sys.modules"])]
    results = run_programs(programs, preload="import fractions", limits=FAST)
    assert [r.verdict for r in results] == ["passed", "passed"], results


def test_pool_keeps_input_order():
    sources = [("assert True", "passed"), ("assert False", "failed"), ("1 / 0", "error"),
               ("x = 1\nassert x == 1", "passed"), ("def (", "syntax_error"), ("import os\nos._exit(3)", "error"),
               ("assert 2 > 1", "passed")]
    results = list(SandboxPool(2, FAST, batch=2).map(Program([s]) for s, _ in sources))
    assert [r.verdict for r in results] == [v for _, v in sources]


def test_seconds_is_measured():
    result = run("import time\ntime.sleep(0.3)")
    assert result.verdict == "passed" and 0.3 <= result.seconds < FAST.timeout_s + MARGIN_S


# --- time ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source, limits", [
    ("while True:\n    pass", SHORT),
    ("import time\ntime.sleep(100)", SHORT),
    # swallows the chunk alarm: the wall clock must still stop it
    ("import time\nwhile True:\n    try:\n        time.sleep(10)\n    except BaseException:\n        pass",
     Limits(timeout_s=2, chunk_timeout_s=0.5)),
], ids=["busy-loop", "sleep", "swallows-alarm"])
def test_endless_program_times_out(source, limits):
    result = run(source, limits)
    assert result.verdict == "timeout" and result.error_type == "WallClock", result
    assert_healthy()


# --- processes -----------------------------------------------------------------------------------------------
def test_fork_bomb_is_contained():
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    result = run(bomb, SHORT, slot=FORK_SLOT)
    assert result.verdict in {"timeout", "killed"}, result
    assert_no_leftovers(FORK_SLOT)
    assert_healthy(FORK_SLOT)  # the user's process count is free again


def test_background_process_does_not_outlive_its_program():
    source = ("import subprocess\nsubprocess.Popen(['sleep', '100'], start_new_session=True)\n"
              "import os\nif os.fork() == 0:\n    os.setsid()\n    import time\n    time.sleep(100)")
    result = run(source, slot=FORK_SLOT)
    assert result.verdict == "passed", result
    assert_no_leftovers(FORK_SLOT)


def test_killing_its_parent():
    result = run(["import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", "assert False"])
    assert result.verdict != "passed", result
    assert_healthy()


def test_killing_everything_it_can():
    if not (isolation()["pid_namespace"] or isolation()["drop_user"]):
        pytest.skip("without a PID namespace or a user id of its own, kill(-1) would reach our own processes")
    me = os.getpid()
    result = run(["import os, signal\nfor target in (-1, %d):\n    try:\n        os.kill(target, signal.SIGKILL)\n"
                  "    except OSError:\n        pass" % me, "assert False"])
    assert result.verdict != "passed", result
    assert_healthy()


def test_session_goes_on_after_a_program_tried_to_kill_its_parent():
    if not isolation()["pid_namespace"]:
        pytest.skip("no PID namespace here: the session's supervisor is an ordinary process of the program's user")
    programs = [Program(["import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\nexcept OSError:\n"
                         "    pass", "assert False"]),
                Program(["import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass",
                         "assert False"]),
                Program(["assert 1 + 1 == 2"])]
    started = time.monotonic()
    results = run_programs(programs, limits=FAST)
    assert time.monotonic() - started < 3 * FAST.timeout_s + MARGIN_S
    assert [r.verdict for r in results] == ["failed", "failed", "passed"], results


# --- memory, recursion, files, output ------------------------------------------------------------------------
def test_huge_allocation_is_a_memory_error():
    result = run("x = bytearray(10**11)")
    assert result.verdict == "memory" and result.error_type == "MemoryError", result
    assert_healthy()


def test_growing_list_hits_the_memory_limit():
    result = run("x = []\nwhile True:\n    x.append(bytearray(2**20))", Limits(timeout_s=3, memory_mb=512))
    assert result.verdict == "memory" and result.error_type == "MemoryError", result
    assert_healthy()


def test_unbounded_recursion_with_raised_limit():
    result = run("import sys\nsys.setrecursionlimit(10**6)\ndef f(n):\n    return f(n + 1) + 1\nf(0)")
    assert result.verdict in NOT_PASSED_BADLY, result
    assert_healthy()


def test_plain_recursion_is_a_recursion_error():
    result = run("def f(n):\n    return f(n + 1) + 1\nf(0)")
    assert result.verdict == "error" and result.error_type == "RecursionError", result


def test_huge_file_is_stopped():
    source = "with open('big', 'wb') as f:\n    for _ in range(200):\n        f.write(b'x' * 2**20)"
    result = run(source, Limits(timeout_s=3, max_file_mb=8))
    assert result.verdict != "passed", result
    assert (result.verdict == "error" and result.error_type == "OSError" and "File too large" in result.error_message
            or result.verdict == "killed"), result
    assert_healthy()


def test_stdout_flood_is_truncated():
    limits = Limits(timeout_s=3, output_bytes=4096)
    result = run("while True:\n    print('x' * 1000)", limits)
    assert result.verdict in {"error", "timeout", "killed"}, result
    assert result.output_truncated and 0 < len(result.stdout) <= limits.output_bytes
    assert_healthy()


def test_stderr_flood_that_ignores_errors_is_stopped():
    limits = Limits(timeout_s=2, output_bytes=4096)
    result = run("import sys\nwhile True:\n    try:\n        sys.stderr.write('e' * 1000)\n"
                 "    except BaseException:\n        pass", limits)
    assert result.verdict in {"error", "timeout", "killed"}, result
    assert result.output_truncated and 0 < len(result.stderr) <= limits.output_bytes
    assert_healthy()


@pytest.fixture
def public_folder():
    """A world-readable folder in /tmp (tmp_path's parents are private to root, this one is not)."""
    folder = tempfile.mkdtemp(prefix="tranx-test-canary-")
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("where", ["tmp_path", "public"])
@pytest.mark.parametrize("attack", ["os.remove(FOLDER + '/canary')", "open(FOLDER + '/canary', 'w').write('gone')",
                                    "shutil.rmtree(FOLDER)", "os.rename(FOLDER + '/canary', FOLDER + '/moved')"],
                         ids=["remove", "overwrite", "rmtree", "rename"])
def test_cannot_touch_files_outside_its_folder(attack, where, tmp_path, public_folder):
    needs_own_user()
    folder = str(tmp_path) if where == "tmp_path" else public_folder
    canary = os.path.join(folder, "canary")
    with open(canary, "w", encoding="utf-8") as handle:
        handle.write("canary")
    os.chmod(canary, 0o644)
    result = run(f"import os, shutil\nFOLDER = {folder!r}\n{attack}")
    assert result.verdict != "passed", result
    with open(canary, encoding="utf-8") as handle:
        assert handle.read() == "canary"
    assert os.listdir(folder) == ["canary"]
    assert_healthy()


# --- network and secrets -------------------------------------------------------------------------------------
def test_no_network_not_even_loopback():
    if not isolation()["network"]:
        pytest.skip("no network namespace on this platform: sandboxed programs can reach the network")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        result = run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)")
        assert result.verdict != "passed", result
        readable, _, _ = select.select([listener], [], [], 0.3)
        assert readable == [], "the sandboxed program reached our listener"
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    assert_healthy()


def test_secrets_in_our_environment_are_not_visible(monkeypatch):
    monkeypatch.setenv("TRANX_TEST_SECRET", "tranx-secret-value-42")
    # Our own /proc/<pid>/environ: only unreadable when the program has its own PID namespace or user id.
    ours = os.getpid() if isolation()["pid_namespace"] or isolation()["drop_user"] else None
    source = (f"import os\nassert 'TRANX_TEST_SECRET' not in os.environ\n"
              f"for pid in (os.getppid(), 1, {ours!r}):\n"
              f"    if pid is None:\n        continue\n"
              f"    try:\n        with open(f'/proc/{{pid}}/environ', 'rb') as handle:\n"
              f"            data = handle.read()\n"
              f"    except (PermissionError, FileNotFoundError, ProcessLookupError):\n        continue\n"
              f"    assert b'TRANX_TEST_SECRET' not in data and b'tranx-secret-value' not in data, pid")
    result = run(source)
    assert result.verdict == "passed", result


# --- leaving early -------------------------------------------------------------------------------------------
def test_os_exit_before_the_assertions_is_an_early_exit():
    result = run(["import os\nos._exit(0)", "assert False"])
    assert result.verdict == "error" and result.error_type == "EarlyExit", result


def test_sys_exit_before_the_assertions_is_an_error():
    result = run(["import sys\nsys.exit(0)", "assert False"])
    assert result.verdict == "error" and result.error_type == "SystemExit", result


# --- the hostile suite: each attack runs between two innocent programs of the same session ---------------------
FORGE = ("import json, os\nrecords = {records!r}\nlines = ''.join(json.dumps(r) + '\\n' for r in records)\n"
         "for fd in range(0, 256):\n    for data in (lines, 'ok\\n', 'done\\n'):\n        try:\n"
         "            os.write(fd, data.encode())\n        except OSError:\n            pass\n")
PROJECT_FILE = os.path.abspath(__file__)
DATA_ROOT = os.environ.get("TRANX_DATA_ROOT", os.path.join(os.path.dirname(PROJECT_FILE), "..", "..", "shared",
                                                           "data"))
INNOCENT = Program(["def double(v):\n    return 2 * v", "import os\nopen('scratch.txt', 'w').write('x')\n"
                    "assert double(21) == 42 and open('scratch.txt').read() == 'x'"],
                   checks=["", guard_assertions("assert double(2) == 4")])
HOME = os.path.expanduser("~")
#: The project, the data, /etc and what is in the home folder (but the interpreter's installation, when it lives
#: there: the sandbox shows that read-only).
HIDDEN = [PROJECT_FILE, os.path.realpath(DATA_ROOT), "/etc/passwd"] + [
    os.path.join(HOME, name) for name in os.listdir(HOME)
    if not any(p.startswith(os.path.join(HOME, name) + os.sep) or p == os.path.join(HOME, name)
               for p in visible_paths())]
HOSTILE_LIMITS = Limits(timeout_s=3, memory_mb=1024, session_memory_mb=768, max_processes=16)

ATTACKS = {
    # verdict forging
    "always-equal-class": (Program(["class Equal:\n    def __eq__(self, other):\n        return True\n"
                                    "def test():\n    return Equal()"],
                                   checks=[guard_assertions("assert test() == [1, 2]")]), {"forged"}),
    "always-equal-type-call": (Program(["Equal = type('Equal', (list,), {'__eq__': lambda s, o: True})\n"
                                        "result = Equal()"],
                                       checks=[guard_assertions("assert result == [1, 2]")]), {"forged"}),
    "fake-equals-method": (Program(["class Frame:\n    def equals(self, other):\n        return True\n"
                                    "result = Frame()"],
                                   checks=[guard_assertions("assert result.equals(None)")]), {"forged"}),
    "patches-builtins": (Program(["import builtins\nbuiltins.all = lambda x: True\nbuiltins.len = lambda x: 3\n"
                                  "builtins.compile = builtins.exec = None\n"
                                  "builtins.AssertionError = type('Fake', (Exception,), {})"],
                                 checks=[guard_assertions("assert all([False]) and len([]) == 3")]), {"failed"}),
    "writes-every-fd": (Program([FORGE.format(records=[
        {"program": 0, "chunk": 0, "outcome": "ok", "kind": "ok", "message": ""}, {"program": 0, "done": True},
        {"program": 2, "chunk": 0, "outcome": "AssertionError", "kind": "assertion", "message": "forged"}])
        + "os._exit(0)", "assert False"]), {"error"}),
    # signals
    "kills-parent": (Program(["import os, signal\nfor s in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):\n"
                              "    try:\n        os.kill(os.getppid(), s)\n    except OSError:\n        pass",
                              "assert False"]), {"failed"}),
    "kills-group-and-all": (Program(["import os, signal\nfor target in (0, -1, 1):\n"
                                     "    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):\n"
                                     "        try:\n            os.kill(target, s) if target else os.killpg(0, s)\n"
                                     "        except OSError:\n            pass", "assert False"]), {"error", "killed"}),
    # files
    "reads-project-and-data": (Program([f"import os\nfor path in {tuple(HIDDEN)!r}:\n"
                                        "    assert not os.path.exists(path), path"]), {"passed"}),
    "writes-outside": (Program(["import os, site, sys\nwritten = []\n"
                                f"for folder in ({os.path.expanduser('~')!r}, "
                                f"{os.path.expanduser('~/.cache')!r}, sys.prefix, *site.getsitepackages(), "
                                "'/usr/lib', '/'):\n    try:\n        open(os.path.join(folder, 'tranx-attack'), 'w')"
                                ".write('x')\n        written.append(folder)\n    except OSError:\n        pass\n"
                                "assert written == [], written"]), {"passed"}),
    "fills-tmp-and-shm": (Program(["import os\nfor folder in ('/tmp', '/dev/shm', '.'):\n    try:\n"
                                   "        with open(os.path.join(folder, 'fill'), 'wb') as f:\n"
                                   "            for _ in range(10000):\n                f.write(b'x' * 2**20)\n"
                                   "    except OSError:\n        pass", "assert False"]), {"failed"}),
    # network and other processes
    "connects-tcp-and-unix": (None, {"passed"}),  # made in the test: needs our listeners
    "ptraces-supervisor": (Program(["import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                                    "for pid in (1, os.getppid()):\n    assert libc.ptrace(16, pid, 0, 0) == -1\n"
                                    "    assert ctypes.get_errno() == 1  # EPERM"]), {"passed"}),
    # resources
    "fork-bomb": (Program(["import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"]),
                  {"timeout", "killed"}),
    "memory-bomb-many-processes": (Program(["import os, time\nfor _ in range(12):\n    if os.fork() == 0:\n"
                                            "        block = bytearray(200 * 2**20)\n"
                                            "        for i in range(0, len(block), 4096):\n"
                                            "            block[i] = 1\n        time.sleep(30)\n"
                                            "        os._exit(0)\nwhile True:\n    os.wait()"]),
                                   {"memory"}),
    "infinite-loop": (Program(["while True:\n    pass"]), {"timeout"}),
    "stdout-flood": (Program(["import sys\nwhile True:\n    sys.stdout.write('x' * 65536)"]), {"timeout", "error"}),
    "os-exit-before-asserts": (Program(["import os\nos._exit(0)", "assert False"]), {"error"}),
    "sys-exit-before-asserts": (Program(["import sys\nsys.exit(0)", "assert False"]), {"error"}),
    "leaves-a-daemon": (Program(["import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                                 "        while True:\n            open('/tmp/daemon', 'w').write('alive')\n"
                                 "            time.sleep(0.01)\n    os._exit(0)\ntime.sleep(0.2)"]), {"passed"}),
}
#: After the attack, the second innocent program also checks that nothing of it is left: no process but the
#: supervisor and itself, nothing in its folders.
AFTER = Program(["import os\nprocs = [p for p in os.listdir('/proc') if p.isdigit()]\n"
                 "assert sorted(procs, key=int) == ['1', str(os.getpid())], procs\n"
                 "assert os.listdir('/tmp') == [] and os.listdir('/dev/shm') == [], (os.listdir('/tmp'))"])


def needs_bwrap():
    if isolation()["backend"] != "bwrap":
        pytest.skip(f"the hostile suite needs the bubblewrap sandbox; this machine has {isolation()['backend']}")


def host_state() -> dict:
    """What an escaped program could change on the host, listed."""
    folders = ["/tmp", "/dev/shm", os.path.expanduser("~"), os.path.expanduser("~/.cache"), sys.prefix]
    return {folder: sorted(os.listdir(folder)) if os.path.isdir(folder) else None for folder in folders}


@pytest.fixture
def listeners():
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    tcp.setblocking(False)
    folder = tempfile.mkdtemp(prefix="tranx-test-socket-")
    os.chmod(folder, 0o755)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(os.path.join(folder, "sock"))
    os.chmod(os.path.join(folder, "sock"), 0o777)
    unix.listen()
    unix.setblocking(False)
    yield tcp, unix
    tcp.close()
    unix.close()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_contained_and_innocent_programs_keep_their_verdicts(name, listeners):
    needs_bwrap()
    program, expected = ATTACKS[name]
    tcp, unix = listeners
    if program is None:
        program = Program([f"import socket\nreached = []\nfor family, address in ((socket.AF_INET, "
                           f"('127.0.0.1', {tcp.getsockname()[1]})), (socket.AF_UNIX, {unix.getsockname()!r})):\n"
                           "    try:\n        s = socket.socket(family)\n        s.settimeout(1)\n"
                           "        s.connect(address)\n        reached.append(address)\n"
                           "    except OSError:\n        pass\nassert reached == [], reached"])
    before = host_state()
    started = time.monotonic()
    results = run_programs([INNOCENT, program, INNOCENT, AFTER], limits=HOSTILE_LIMITS, slot=FORK_SLOT)
    assert time.monotonic() - started < 4 * HOSTILE_LIMITS.timeout_s + MARGIN_S
    assert results[1].verdict in expected, results[1]
    assert [results[i].verdict for i in (0, 2, 3)] == ["passed"] * 3, results
    assert select.select([tcp, unix], [], [], 0.2)[0] == [], "a sandboxed program reached a listener of ours"
    assert host_state() == before
    assert_no_leftovers(FORK_SLOT)


def test_memory_spread_over_processes_is_the_memory_outcome():
    needs_bwrap()
    if isolation()["memory_total"] != "cgroup":
        pytest.skip("no memory cgroup here: only each process's address space is bounded")
    result = run_programs([ATTACKS["memory-bomb-many-processes"][0]], limits=HOSTILE_LIMITS)[0]
    assert result.verdict == "memory", result


def test_isolation_is_measured():
    needs_bwrap()
    measured = isolation()
    assert measured["network"] and measured["unix_sockets"] and measured["pid_namespace"] and measured["seccomp"]
    assert all(measured["host_files_hidden"].values()) and measured["host_writes_kept"] == []
    assert measured["ptrace_supervisor"] == "EPERM"
    if os.geteuid() == 0:
        assert measured["own_uid"] and measured["signal_supervisor"] == "EPERM"


def test_forced_fallback_warns_loudly(monkeypatch):
    """TRANX_SANDBOX picks the older runner, which says plainly what it does not isolate."""
    from tranx.execution import sandbox
    monkeypatch.setenv("TRANX_SANDBOX", "nonsense")
    sandbox.backend.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="TRANX_SANDBOX='nonsense' is not a sandbox backend"):
            sandbox.backend()
    finally:
        sandbox.backend.cache_clear()
    monkeypatch.setattr(sandbox.bwrap, "bwrap_path", lambda: None)
    monkeypatch.delenv("TRANX_SANDBOX")
    try:
        with pytest.warns(RuntimeWarning, match="SANDBOX WEAKENED.*bubblewrap is not installed"):
            plan = sandbox.backend()
        assert plan["backend"] in {"unshare", "plain"}
    finally:
        sandbox.backend.cache_clear()


def test_guard_wraps_every_value_an_assertion_looks_at():
    source = "x = f(1)\nassert f(x).equals(y), 'message'"
    assert guard_assertions(source) == ("x = f(1)\nassert __tranx_seen__(__tranx_seen__(__tranx_seen__(f)("
                                        "__tranx_seen__(x))).equals(__tranx_seen__(y))), 'message'")
    assert guard_assertions("def (") == "def ("  # the sandbox reports the syntax error


def test_guard_lets_library_and_builtin_values_through():
    program = Program(["import fractions\nimport collections\nresult = fractions.Fraction(1, 2)\n"
                       "counts = collections.Counter('aab')\nclass Plain:\n    x = 1\nplain = Plain()"],
                      checks=[guard_assertions("assert result == 0.5 and counts == {'a': 2, 'b': 1} "
                                               "and plain.x == 1 and len([1]) == 1")])
    assert run_programs([program], limits=FAST)[0].verdict == "passed"
