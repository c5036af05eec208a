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
