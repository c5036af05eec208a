"""Windows: whether a process still runs, for the queue transport's holder table (imported on Windows only).

:mod:`._holders` asks POSIX (``/proc``, ``os.kill(pid, 0)``); on Windows
``os.kill(pid, 0)`` is no question at all (signal 0 is CTRL_C_EVENT, and
any other number terminates the process), so the queue transport uses this
module there instead. A process is known by its pid and creation time
(``GetProcessTimes``), so a dead holder whose pid was reused is not taken
for a live one; a process counts as dead as soon as it has exited, even
while a handle to it (its parent's, say) keeps its pid.
"""

from __future__ import annotations

import sys

assert sys.platform == "win32", "a Windows-only module"  # and mypy checks the rest only with --platform win32

import ctypes
import os
from ctypes import wintypes

import _winapi

from . import _holders

PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
ERROR_ACCESS_DENIED = 5

_kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
_GetProcessTimes = _kernel32.GetProcessTimes
_GetProcessTimes.argtypes = [wintypes.HANDLE] + [ctypes.POINTER(wintypes.FILETIME)] * 4
_GetProcessTimes.restype = wintypes.BOOL

_own = (0, 0)


def _creation_time(handle: int) -> int:
    """When the process started (100 ns units since 1601), 0 if Windows does not say."""
    created, exited, kernel, user = (wintypes.FILETIME() for _ in range(4))
    if not _GetProcessTimes(handle, ctypes.byref(created), ctypes.byref(exited), ctypes.byref(kernel),
                            ctypes.byref(user)):
        return 0
    return (created.dwHighDateTime << 32) | created.dwLowDateTime


def me() -> tuple[int, int]:
    """(pid, creation time) of this process."""
    global _own
    pid = os.getpid()
    if _own[0] != pid:
        _own = (pid, _creation_time(_winapi.GetCurrentProcess()))
    return _own


def is_alive(pid: int, started: int) -> bool:
    """Whether the process (pid, creation time) still runs."""
    try:
        handle = _winapi.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | _winapi.SYNCHRONIZE, False, pid)
    except OSError as e:
        return e.winerror == ERROR_ACCESS_DENIED  # it exists, under another user
    try:
        if _winapi.WaitForSingleObject(handle, 0) == _winapi.WAIT_OBJECT_0:
            return False  # exited (its pid lives on while someone holds a handle to it)
        return started == 0 or _creation_time(handle) in (0, started)
    finally:
        _winapi.CloseHandle(handle)


class HolderTable(_holders.HolderTable):
    """_holders.HolderTable that asks Windows whether the holders live."""

    def any_alive(self) -> bool:
        return any(is_alive(pid, started) for pid, started in self.holders())
