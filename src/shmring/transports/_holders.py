"""Which processes hold copies of an endpoint, in shared memory, and whether they still live.

Used where the OS cannot tell one end that the other is gone (the queue
transport's sender cannot see its receiver die). One entry per copy: the
holder's pid and start time, so a dead holder whose pid was reused is not
mistaken for a live one. A copy that is being pickled counts under the
pickling process until the new process takes it over.
"""

from __future__ import annotations

import os
import sys

SLOTS = 64  # copies of one end at a time

_own = (0, 0)  # (pid, start time) of this process, refreshed after fork


def start_time(pid: int) -> int:
    """When ``pid`` started (clock ticks since boot) on Linux; 0 where unknown."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else 0


def me() -> tuple[int, int]:
    """(pid, start time) of this process."""
    global _own
    pid = os.getpid()
    if _own[0] != pid:
        _own = (pid, start_time(pid))
    return _own


def is_alive(pid: int, started: int) -> bool:
    """Whether the process (pid, start time) still runs. Zombies count as dead."""
    if sys.platform.startswith("linux"):
        fields = _proc_stat(pid)
        if fields is None:
            return False
        state, their_start = fields[0], int(fields[19])
        return state not in ("Z", "X", "x") and (started == 0 or their_start == started)
    try:  # without /proc a zombie (dead, not yet reaped) looks alive until its parent reaps it
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _proc_stat(pid: int):
    """The fields of /proc/<pid>/stat after the command name (state first); None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            line = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return line[line.rindex(")") + 2:].split()  # the name may hold spaces and parentheses


class HolderTable:
    """The copies of one end: a shared array [copies, pid0, start0, pid1, start1, ...]."""

    def __init__(self, ctx):
        self._array = ctx.Array("q", 1 + 2 * SLOTS)  # with a lock; pickles to spawned children

    @property
    def copies(self) -> int:
        """Copies not yet closed (one aligned word read without the lock: good enough to poll)."""
        return self._array.get_obj()[0]

    def add(self, holder) -> None:
        with self._array.get_lock():
            self._put(holder)

    def remove(self, holder) -> None:
        with self._array.get_lock():
            self._take(holder)

    def hand_over(self, old, new) -> None:
        """A copy counted under ``old`` (its pickler) now belongs to ``new``.

        The entry is rewritten in place: ``copies`` is read without the lock,
        and a take-then-put would show it 0 for a moment when this is the
        last copy (a sender would then take the receiver for closed).
        """
        with self._array.get_lock():  # no loop in here: see _index_of
            i = self._index_of(old)
            if i:
                self._array.get_obj()[i:i + 2] = new
            else:
                self._put(new)

    def any_alive(self) -> bool:
        return any(is_alive(pid, started) for pid, started in self.holders())

    def holders(self) -> list:
        """The (pid, start time) of each copy, read under the lock."""
        with self._array.get_lock():
            a = self._array.get_obj()[:]  # one C call: no loop runs while the lock is held (see _index_of)
        return [(a[i], a[i + 1]) for i in range(1, len(a), 2) if a[i]]

    def _index_of(self, holder) -> int:
        """Where ``holder``'s entry starts, or 0. The loop lives in its own
        function so that a KeyboardInterrupt raised at its back edge still
        passes through the caller's ``with`` and releases the lock: CPython
        3.12+ leaves a loop's back edge out of the enclosing exception
        table (gh-108214)."""
        a = self._array.get_obj()
        for i in range(1, len(a), 2):
            if (a[i], a[i + 1]) == tuple(holder):
                return i
        return 0

    def _put(self, holder) -> None:
        a = self._array.get_obj()
        for i in range(1, len(a), 2):
            if a[i] == 0:
                a[i], a[i + 1] = holder
                a[0] += 1
                return
        raise RuntimeError(f"more than {SLOTS} copies of one queue endpoint; close some first")

    def _take(self, holder) -> None:
        i = self._index_of(holder)
        if i:
            a = self._array.get_obj()
            a[i] = a[i + 1] = 0
            a[0] -= 1
