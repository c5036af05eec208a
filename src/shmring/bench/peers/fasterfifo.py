"""faster-fifo: a multiprocessing.Queue replacement over a circular buffer in shared memory.

Used as its README shows: ``Queue(max_size_bytes)``, ``put`` and a blocking
``get`` (a condition variable in shared memory). Messages are pickled, its
default serializer (a custom one would have to be importable in the child).
The queue pickles as an argument of the Process it is shared with.
"""

from __future__ import annotations

import functools

from ..contenders import Contender, buffer_bytes

_WAIT = 3600.0  # get() and put() give up after 10 s by default; a slow step must not look like a loss


class Sender:
    def __init__(self, queue):
        self._queue = queue
        self.send = functools.partial(queue.put, timeout=_WAIT)

    def close(self) -> None:
        pass

    def __reduce__(self):
        return (Sender, (self._queue,))


class Receiver:
    def __init__(self, queue):
        self._queue = queue
        self.recv = functools.partial(queue.get, timeout=_WAIT)

    def close(self) -> None:
        pass

    def __reduce__(self):
        return (Receiver, (self._queue,))


def make_pair(max_size: int):
    import faster_fifo

    queue = faster_fifo.Queue(max_size_bytes=buffer_bytes(max_size))
    return Sender(queue), Receiver(queue)


PEER = Contender("faster-fifo", make_pair, module="faster_fifo", package="faster-fifo",
                 how="Queue(max_size_bytes=4 messages); put, get (pickled)")
