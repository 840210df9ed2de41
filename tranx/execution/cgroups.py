"""A cgroup (v1 memory and pids controllers) per sandbox session: total memory and process count of everything the
session runs, however many processes it spreads over.

Each session's group is created under the group this process is in, so limits set above us still hold. A
process joins a group by writing its pid to the group's ``cgroup.procs``; children inherit it. The memory group's
``memory.oom_control`` counts the kernel's OOM kills in the group, which is how a program killed for exceeding
the session's memory is told apart from one killed for another reason.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["SessionCgroup", "cgroup_unavailable"]

_ROOT = Path("/sys/fs/cgroup")
_CONTROLLERS = ("memory", "pids")


def _own_group(controller: str) -> Path | None:
    """The folder of this process's group of a v1 controller."""
    try:
        lines = Path("/proc/self/cgroup").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            folder = _ROOT / controller / path.lstrip("/")
            return folder if folder.is_dir() else None
    return None


def cgroup_unavailable() -> str | None:
    """Why sessions cannot get their own groups here, or None when they can."""
    for controller in _CONTROLLERS:
        folder = _own_group(controller)
        if folder is None:
            return f"no cgroup v1 {controller} controller is mounted under {_ROOT}"
        if not os.access(folder, os.W_OK):
            return f"cannot create groups in {folder} (not writable by uid {os.geteuid()})"
    return None


class SessionCgroup:
    """Memory and pids groups for one session; ``close`` removes them once their processes are gone."""

    def __init__(self, name: str, memory_bytes: int, max_processes: int):
        self.folders = {}
        try:
            for controller in _CONTROLLERS:
                folder = _own_group(controller) / name
                folder.mkdir()
                self.folders[controller] = folder
            # swap counts too where the kernel accounts it (memsw), so a bomb cannot page out past the limit
            self._write("memory", "memory.limit_in_bytes", memory_bytes)
            if (self.folders["memory"] / "memory.memsw.limit_in_bytes").exists():
                try:
                    self._write("memory", "memory.memsw.limit_in_bytes", memory_bytes)
                except OSError:
                    pass
            self._write("pids", "pids.max", max_processes)
        except BaseException:
            self.close()
            raise

    def _write(self, controller: str, file: str, value) -> None:
        (self.folders[controller] / file).write_text(str(value), encoding="ascii")

    def join_paths(self) -> list[str]:
        """The ``cgroup.procs`` files a child writes its pid to (between fork and exec)."""
        return [str(folder / "cgroup.procs") for folder in self.folders.values()]

    @property
    def oom_control(self) -> str:
        return str(self.folders["memory"] / "memory.oom_control")

    def read(self, controller: str, file: str) -> str:
        return (self.folders[controller] / file).read_text(encoding="ascii")

    def close(self) -> None:
        for folder in self.folders.values():
            for _ in range(200):  # the last processes may still be exiting
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.005)
        self.folders = {}


def join(paths: list[str]) -> None:
    """Runs in the child between fork and exec: move this process into the groups."""
    pid = str(os.getpid()).encode("ascii")
    for path in paths:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, pid)
        finally:
            os.close(fd)
