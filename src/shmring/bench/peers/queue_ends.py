"""Sender and Receiver over one queue object that both processes share
(multiprocessing.Queue, faster-fifo): put() to send, get() to receive.

close() does nothing: closing a queue would also stop this process's other
use of it (the parent holds both ends of a queue until the child has its
copies), and each queue flushes what this process put before it exits.
"""

from __future__ import annotations

import functools


class Sender:
    def __init__(self, queue, **put_options):
        self._queue, self._options = queue, put_options
        self.send = functools.partial(queue.put, **put_options)

    def close(self) -> None:
        pass

    def __reduce__(self):
        return (_rebuild, (Sender, self._queue, self._options))


class Receiver:
    def __init__(self, queue, **get_options):
        self._queue, self._options = queue, get_options
        self.recv = functools.partial(queue.get, **get_options)

    def close(self) -> None:
        pass

    def __reduce__(self):
        return (_rebuild, (Receiver, self._queue, self._options))


def _rebuild(cls, queue, options):
    return cls(queue, **options)
