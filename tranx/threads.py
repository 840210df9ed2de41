"""How many threads torch uses, chosen from the cores that are actually free.

Measured on the 2-core machine: with another CPU-bound process running, two OpenMP threads spinning for
a core they share made a training step 2.8x slower instead of 2x, and heavier load 17x. So by default
tranx takes only the cores not already busy (usable cores minus the 1-minute load average), and OpenMP
threads wait passively instead of spinning (`OMP_WAIT_POLICY=PASSIVE`, set before torch loads; see
tranx/__init__.py). An explicit `--threads N` is always obeyed.
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def free_cores() -> int:
    """Usable cores minus those other processes keep busy (at least 1)."""
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(usable_cores(), round(usable_cores() - busy)))


def set_threads(threads: int | None = None) -> int:
    """Use `threads` torch threads, or the free cores when None; returns the number set."""
    import torch
    count = threads if threads else free_cores()
    torch.set_num_threads(count)
    return count
