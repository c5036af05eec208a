"""The queue transport's table of end copies (transports/_holders.py)."""

from __future__ import annotations

import multiprocessing as mp

from shmring.transports._holders import HolderTable


class _CountWatch:
    """Wraps the table's shared array and records every value written to its count."""

    def __init__(self, array):
        self._array = array
        self.counts = []

    def __getitem__(self, i):
        return self._array[i]

    def __setitem__(self, i, value):
        if i == 0:
            self.counts.append(value)
        self._array[i] = value

    def __len__(self):
        return len(self._array)


def test_handing_over_the_last_copy_never_shows_zero_copies():
    # A sender reads `copies` without the lock; were it 0 for a moment while a
    # forked or unpickling child takes over the last copy, the sender would
    # take its receiver for closed (seen once in CI as a spurious Closed).
    table = HolderTable(mp.get_context("spawn"))
    table.add((100, 1))
    watch = _CountWatch(table._array.get_obj())
    table._array.get_obj = lambda: watch
    table.hand_over((100, 1), (200, 2))
    assert table.copies == 1
    assert 0 not in watch.counts


def test_a_copy_not_found_is_added():
    table = HolderTable(mp.get_context("spawn"))
    table.hand_over((100, 1), (200, 2))
    assert table.copies == 1
