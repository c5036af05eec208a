"""Sender and Receiver over one queue object that both processes share
(multiprocessing.Queue, faster-fifo): put() to send, get() to receive.

close() does nothing: closing a queue would also stop this process's other
use of it (the parent holds both ends of a queue until the child has its
copies), and each queue flushes what this process put before it exits.
"""

from __future__ import annotations

import functools


class _QueueEnd:
    """One end: the queue's ``_queue_method`` (put or get) with the end's
    options, as the end's ``_end_method`` (send or recv)."""

    _queue_method: str
    _end_method: str

    def __init__(self, queue, **options):
        self._queue, self._options = queue, options
        setattr(self, self._end_method, functools.partial(getattr(queue, self._queue_method), **options))

    def close(self) -> None:
        pass

    def __reduce__(self):
        return (_rebuild, (type(self), self._queue, self._options))


class Sender(_QueueEnd):
    _queue_method, _end_method = "put", "send"


class Receiver(_QueueEnd):
    _queue_method, _end_method = "get", "recv"


def _rebuild(cls, queue, options):
    return cls(queue, **options)
