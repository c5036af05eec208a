"""Waiting on child processes from the tests without sleeping."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

from tests.conformance.children import WAIT
from tests.platform_support import yield_cpu


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
    deadline = time.perf_counter() + timeout
    while _state(pid) != "S":
        if time.perf_counter() > deadline:
            raise AssertionError(f"process {pid} did not block within {timeout} s (state {_state(pid)})")
        yield_cpu()


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return stat[stat.rindex(")") + 2]


@contextmanager
def running(ctx, target, *args, hand_over=()):
    """A child process running ``target(*args)``. The parent's copies of the
    ends in ``hand_over`` are closed once it has started (the child holds its
    own); whatever happens, the child is gone at the end."""
    child = ctx.Process(target=target, args=args)
    child.start()
    for end in hand_over:
        end.close()
    try:
        yield child
    finally:
        child.kill()
        child.join()


def assert_exits_cleanly(child) -> None:
    child.join(WAIT)
    assert child.exitcode == 0
