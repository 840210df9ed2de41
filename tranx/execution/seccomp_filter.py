"""The system calls a sandboxed program may not make, compiled to a seccomp BPF program by libseccomp.

bubblewrap installs the program (``bwrap --seccomp FD``) on everything in the sandbox, under no_new_privs, so no
process there can lift it. Denied calls fail with EPERM (ENOSYS for ``clone3``, so that the C library falls back to
``clone``, whose namespace flags the filter can see). What is denied and why:

* reaching other processes: ``ptrace``, ``process_vm_readv``/``writev``, ``kcmp``, ``pidfd_getfd``;
* sockets of every family (no program of a data set needs one; the network namespace already has no route out,
  and this also closes abstract UNIX sockets and netlink);
* changing the sandbox itself: ``mount``, ``umount2``, ``pivot_root``, ``chroot``, ``unshare``, ``setns``, new
  namespaces through ``clone``, ``open_by_handle_at`` (the classic container escape);
* kernel surfaces with a history of exploits: ``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring_*``
  (its operations bypass seccomp), ``keyctl``/``add_key``/``request_key``, module loading, ``kexec``, ``reboot``,
  ``swapon``, clock setting, ``syslog``, ``acct``, ``quotactl``, ``personality``, ``ioperm``/``iopl``.

The filter comes from libseccomp's Python bindings (Debian ``python3-seccomp``); a virtual environment does not see
Debian's packages, so the bindings are loaded from there by path when ``import seccomp`` fails.
"""
from __future__ import annotations

import errno
import functools
import glob
import importlib.util
import tempfile

__all__ = ["DENIED_SYSCALLS", "bindings", "filter_bpf"]

DENIED_SYSCALLS = (
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "socket", "socketpair",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "open_by_handle_at", "name_to_handle_at",
    "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key", "init_module", "finit_module", "delete_module", "kexec_load",
    "kexec_file_load", "reboot", "swapon", "swapoff", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "syslog", "acct", "quotactl", "personality", "ioperm", "iopl", "lookup_dcookie", "vhangup",
)
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080)
_DEBIAN_PATHS = ("/usr/lib/python3/dist-packages/seccomp*.so",)


@functools.lru_cache(maxsize=None)
def bindings():
    """libseccomp's Python module, or None when it is not installed."""
    try:
        import seccomp  # noqa: PLC0415 - optional system package
        return seccomp
    except ImportError:
        pass
    for pattern in _DEBIAN_PATHS:
        for path in sorted(glob.glob(pattern)):
            spec = importlib.util.spec_from_file_location("seccomp", path)
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except ImportError:  # built for another Python
                continue
            return module
    return None


@functools.lru_cache(maxsize=None)
def filter_bpf() -> bytes | None:
    """The compiled filter, or None without libseccomp's bindings."""
    seccomp = bindings()
    if seccomp is None:
        return None
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    denied = seccomp.ERRNO(errno.EPERM)
    for name in DENIED_SYSCALLS:
        try:
            rules.add_rule(denied, name)
        except (RuntimeError, ValueError, OSError):  # a call this kernel/architecture does not have
            continue
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    for flag in _NAMESPACE_FLAGS:  # rules of one call are or-ed: any namespace flag is refused
        rules.add_rule(denied, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    return _export(rules)


def _export(rules) -> bytes:
    with tempfile.TemporaryFile() as handle:
        rules.export_bpf(handle)
        handle.seek(0)
        return handle.read()

