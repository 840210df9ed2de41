"""tranx.threads: the busy cores are measured now (other processes' CPU time, ours left out), and the wait policy
follows them unless the user chose one."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from tranx import threads


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_another_process_counts_and_our_own_work_does_not():
    baseline = threads.busy_cores(0.3)
    spinner = threading.Thread(target=_spin, args=(0.6,))
    spinner.start()
    ours = threads.busy_cores(0.3)
    spinner.join()
    assert ours <= baseline + 0.5  # our own busy thread is not another process
    child = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 3\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.3)
        other = threads.busy_cores(0.3)
    finally:
        child.kill()
        child.wait()
    if baseline <= (os.cpu_count() or 1) - 1:  # a free core for the child to show up on
        assert other >= baseline + 0.5


def test_free_cores_are_the_usable_ones_less_the_busy_ones(monkeypatch):
    usable = threads.usable_cores()
    monkeypatch.setattr(threads, "busy_at_start", lambda: 0.0)
    assert threads.free_cores() == usable
    monkeypatch.setattr(threads, "busy_at_start", lambda: usable - 0.8)
    assert threads.free_cores() == 1
    monkeypatch.setattr(threads, "busy_at_start", lambda: usable + 3.0)  # never fewer than one
    assert threads.free_cores() == 1


def test_the_wait_policy_is_passive_only_on_a_busy_machine(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(threads, "free_cores", lambda: threads.usable_cores())
    assert threads.choose_wait_policy() is None and "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.setattr(threads, "free_cores", lambda: threads.usable_cores() - 1)
    assert threads.choose_wait_policy() == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's choice wins
    assert threads.choose_wait_policy() == "ACTIVE"
