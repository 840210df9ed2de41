"""How many threads torch uses, chosen from the cores that are actually free.

Measured on the 2-core machine: with another CPU-bound process running, two OpenMP threads spinning for
a core they share made a training step 2.8x slower instead of 2x, and heavier load 17x. So by default
tranx takes only the cores not already busy (usable cores minus the busy CPU time of other processes over
a tenth of a second). The wait
policy is chosen by the same measure when tranx is imported (before torch loads): on a busy machine
OpenMP threads wait passively (`OMP_WAIT_POLICY=PASSIVE`); on an idle one OpenMP's default (spin a
little, then sleep) is kept, because a decode step is many small operations and waking sleeping threads
for each made two-thread beam search three times slower (bench/results/load.md). An explicit
`--threads N` or `OMP_WAIT_POLICY` is always obeyed.
"""

from __future__ import annotations

import functools
import os
import time


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _cpu_jiffies() -> tuple[int, int] | None:
    """(busy, all) jiffies of every CPU since boot, from /proc/stat; None where there is none."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def busy_cores(window_s: float = 0.1) -> float:
    """Cores other processes keep busy now: the machine's busy CPU time over a short window, less our own.
    (The 1-minute load average lags: it still counts a job that ended a minute ago.)"""
    first, own = _cpu_jiffies(), os.times()
    if first is None:
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    time.sleep(window_s)
    second, own_after = _cpu_jiffies(), os.times()
    busy, total = second[0] - first[0], second[1] - first[1]
    if total <= 0:
        return 0.0
    cpus = os.cpu_count() or 1
    ours = (own_after.user - own.user + own_after.system - own.system) / window_s
    return max(0.0, busy / total * cpus - ours)


@functools.cache
def busy_at_start() -> float:
    """`busy_cores()` measured once per process (when tranx is imported): the wait policy and the thread count
    are chosen from the same measurement, and start-up pays for it once."""
    return busy_cores()


def free_cores() -> int:
    """Usable cores minus those other processes kept busy when tranx started (at least 1)."""
    return max(1, min(usable_cores(), round(usable_cores() - busy_at_start())))


def set_threads(threads: int | None = None) -> int:
    """Use `threads` torch threads, or the free cores when None; returns the number set."""
    import torch
    count = threads if threads else free_cores()
    torch.set_num_threads(count)
    return count


def choose_wait_policy() -> str | None:
    """Set OMP_WAIT_POLICY=PASSIVE when other processes keep some of our cores busy (unless the user set a
    policy); returns the policy in force (None: OpenMP's default). Must run before torch loads."""
    if "OMP_WAIT_POLICY" not in os.environ and free_cores() < usable_cores():
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return os.environ.get("OMP_WAIT_POLICY")
