"""What the tests need from the OS, on POSIX and on Windows.

A shmring segment is a file in /dev/shm on Linux, so the tests read, forge
and damage segments through that file. On Windows it is a named section,
"Local\\shmring-NAME", reached through OpenFileMappingW: the same reads and
writes go through a view of it. What has no Windows counterpart (a file to
truncate, unlink or write by hand, fork, SIGINT to another process) skips
there, saying why.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time

import pytest

WINDOWS = sys.platform == "win32"

# os.kill with any signal but the console ones is TerminateProcess on Windows:
# as abrupt as SIGKILL (no handler, no atexit, no close).
SIGKILL = getattr(signal, "SIGKILL", signal.SIGTERM)

# Give the CPU away while polling a condition another process changes.
yield_cpu = getattr(os, "sched_yield", lambda: time.sleep(0))

START_METHODS = [m for m in ("spawn", "fork") if m in mp.get_all_start_methods()]
# Children that are killed or started in loops: fork where it exists (fast), else spawn.
QUICK_START = mp.get_context("fork" if "fork" in START_METHODS else "spawn")

posix_only = pytest.mark.skipif(WINDOWS, reason="POSIX only")


def _under_wine() -> bool:
    """Whether this Windows is wine (its ntdll exports wine_get_version)."""
    if not WINDOWS:
        return False
    import ctypes

    return hasattr(ctypes.WinDLL("ntdll"), "wine_get_version")


UNDER_WINE = _under_wine()


def skip_on_windows(why: str) -> None:
    if WINDOWS:
        pytest.skip(f"not on Windows: {why}")


def start_method_params():
    """spawn and fork where fork exists; fork is shown as skipped on Windows."""
    return [
        pytest.param(m, marks=pytest.mark.skipif(m not in START_METHODS, reason=f"no {m} on {sys.platform}"))
        for m in ("spawn", "fork")
    ]


if WINDOWS:
    import ctypes
    from ctypes import wintypes

    _kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    _kernel32.OpenFileMappingW.restype = wintypes.HANDLE
    _kernel32.OpenFileMappingW.argtypes = [wintypes.DWORD, wintypes.BOOL, wintypes.LPCWSTR]
    _kernel32.MapViewOfFile.restype = ctypes.c_void_p
    _kernel32.MapViewOfFile.argtypes = [wintypes.HANDLE, wintypes.DWORD, wintypes.DWORD, wintypes.DWORD, ctypes.c_size_t]
    _kernel32.UnmapViewOfFile.argtypes = [ctypes.c_void_p]
    _kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
    _FILE_MAP_ALL_ACCESS = 0xF001F

    def _section_name(name: str) -> str:
        return "Local\\shmring-" + name  # as csrc/segment_win32.c names it

    def section_exists(name: str) -> bool:
        handle = _kernel32.OpenFileMappingW(_FILE_MAP_ALL_ACCESS, False, _section_name(name))
        if handle:
            _kernel32.CloseHandle(handle)
        return bool(handle)

    # A section made without shmring, but with the security descriptor shmring gives its own
    # (owner and sole grantee: this user), so that shmring's check of whose a section is
    # (segment_win32.c) passes and what follows tests the content. Without one, a section's
    # owner and DACL are the token's defaults (under wine: no owner, access for everyone).
    # this user's SID, SECURITY_ATTRIBUTES and advapi32 with its argtypes: as the fifo:// pipes make them
    from shmring.transports._winpipe import _advapi32, _SecurityAttributes, _user_sid

    _kernel32.LocalFree.argtypes = [ctypes.c_void_p]
    _kernel32.CreateFileMappingW.restype = wintypes.HANDLE
    _kernel32.CreateFileMappingW.argtypes = [wintypes.HANDLE, ctypes.c_void_p, wintypes.DWORD, wintypes.DWORD,
                                             wintypes.DWORD, wintypes.LPCWSTR]
    _PAGE_READWRITE = 0x04

    class ForgedSection:
        """Section "Local\\shmring-NAME" holding `content`, alive until close()."""

        def __init__(self, name: str, content: bytes, extra_aces: str = "") -> None:
            with _own_security(extra_aces) as attributes:
                self.handle = _kernel32.CreateFileMappingW(wintypes.HANDLE(-1), ctypes.byref(attributes),
                                                           _PAGE_READWRITE, 0, len(content), _section_name(name))
                error = ctypes.get_last_error()
            if not self.handle:
                raise ctypes.WinError(error)
            section_access(name, 0, content, 0)

        def close(self) -> None:
            _kernel32.CloseHandle(self.handle)

    _kernel32.CreateSemaphoreW.restype = wintypes.HANDLE
    _kernel32.CreateSemaphoreW.argtypes = [ctypes.c_void_p, wintypes.LONG, wintypes.LONG, wintypes.LPCWSTR]

    class ForgedSemaphore:
        """Semaphore "Local\\shmring-NAME" (NAME ending in .data or .space), alive until close()."""

        def __init__(self, name: str, extra_aces: str = "") -> None:
            with _own_security(extra_aces) as attributes:
                self.handle = _kernel32.CreateSemaphoreW(ctypes.byref(attributes), 0, 1, _section_name(name))
                error = ctypes.get_last_error()
            if not self.handle:
                raise ctypes.WinError(error)

        def close(self) -> None:
            _kernel32.CloseHandle(self.handle)

    import contextlib

    @contextlib.contextmanager
    def _own_security(extra_aces: str):
        """SECURITY_ATTRIBUTES: owner this user, a protected DACL for this user plus `extra_aces` (SDDL)."""
        sid = _user_sid()
        sd = ctypes.c_void_p()
        if not _advapi32.ConvertStringSecurityDescriptorToSecurityDescriptorW(
                f"O:{sid}D:P(A;;GA;;;{sid}){extra_aces}", 1, ctypes.byref(sd), None):
            raise ctypes.WinError(ctypes.get_last_error())
        try:
            yield _SecurityAttributes(ctypes.sizeof(_SecurityAttributes), sd, False)
        finally:
            _kernel32.LocalFree(sd)

    def section_access(name: str, offset: int, data: bytes | None, size: int) -> bytes:
        """Read `size` bytes at `offset` of the section, or write `data` there."""
        handle = _kernel32.OpenFileMappingW(_FILE_MAP_ALL_ACCESS, False, _section_name(name))
        if not handle:
            raise FileNotFoundError(ctypes.get_last_error(), f"no section {_section_name(name)}")
        try:
            view = _kernel32.MapViewOfFile(handle, _FILE_MAP_ALL_ACCESS, 0, 0, 0)
            if not view:
                raise OSError(ctypes.get_last_error(), f"MapViewOfFile of {_section_name(name)}")
            try:
                if data is not None:
                    ctypes.memmove(view + offset, data, len(data))
                    return data
                return ctypes.string_at(view + offset, size)
            finally:
                _kernel32.UnmapViewOfFile(view)
        finally:
            _kernel32.CloseHandle(handle)
