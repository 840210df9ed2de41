"""Where a number comes from: the command, code version, config, data and machine that produced it.

`provenance(...)` describes the running process; `write_result(path, payload, ...)` writes a result file
(bench/results/*.json) with that description attached, atomically. README numbers are read from such
files only (bench/readme_tables.py), so a number without its command cannot reach the README.

Left out: what is measured (the callers) and formatting tables (bench/readme_tables.py).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

from tranx.io import write_json

CHECKOUT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=CHECKOUT, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def file_hashes(folder: str | os.PathLike) -> dict[str, str]:
    """sha256 of every file under `folder` (README files included: they document the split), by relative path."""
    folder = Path(folder)
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        out[str(path.relative_to(folder))] = digest.hexdigest()
    return out


def machine() -> dict:
    import torch
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "usable_cpus": usable, "torch_threads": torch.get_num_threads(),
            "load_average_1min": round(load[0], 2) if load else None, "python": platform.python_version(),
            "torch": torch.__version__}


def provenance(*, config: dict | None = None, data_folders: dict[str, str | os.PathLike] | None = None,
               argv: list[str] | None = None) -> dict:
    """The command line, git commit (and whether tracked files differ from it), config, data-file hashes,
    machine and UTC date of this process."""
    argv = sys.argv if argv is None else argv
    changed = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench/results")  # outputs, not code
    return {
        "command": " ".join(shlex.quote(a) for a in [Path(argv[0]).name, *argv[1:]]),
        "commit": _git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(changed) if changed is not None else None,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config": config,
        "data": {name: file_hashes(folder) for name, folder in (data_folders or {}).items()},
        "machine": machine(),
    }


def describe_machine(machine: dict) -> str:
    """One line for a Markdown table's caption: `x86_64, 2 cores, Python 3.11.7`."""
    return f"{machine['processor']}, {machine['cpu_count']} cores, Python {machine['python']}"


def write_result(path: str | os.PathLike, payload: dict, **how) -> dict:
    """Write `payload` with its provenance (keyword arguments of `provenance`) to `path`; returns what was written."""
    out = {**payload, "provenance": provenance(**how)}
    write_json(path, out)
    return out
