"""Waiting on child processes from the tests without sleeping."""

from __future__ import annotations

import os
import sys
import time


def wait_until_blocked(pid: int, timeout: float = 10.0) -> None:
    """Return once process ``pid`` sleeps in a system call (Linux: state S in /proc).

    ``pid`` may also be a thread's native id (``threading.get_native_id()``).

    Called after the child set an Event just before its blocking call, this
    makes a signal land while the call waits, not before it. Elsewhere it
    returns at once: the signal may then land a moment early, which the tests
    still tolerate.
    """
    if not sys.platform.startswith("linux"):
        return
    deadline = time.monotonic() + timeout
    while _state(pid) != "S":
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} did not block within {timeout} s (state {_state(pid)})")
        os.sched_yield()


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return stat[stat.rindex(")") + 2]
