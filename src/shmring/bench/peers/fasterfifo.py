"""faster-fifo: a multiprocessing.Queue replacement over a circular buffer in shared memory.

Used as its README shows: ``Queue(max_size_bytes)``, ``put`` and a blocking
``get`` (a condition variable in shared memory). Messages are pickled, its
default serializer (a custom one would have to be importable in the child).
The queue pickles as an argument of the Process it is shared with.
"""

from __future__ import annotations

from ..contenders import Contender, buffer_bytes
from .queue_ends import Receiver, Sender

_WAIT = 3600.0  # get() and put() give up after 10 s by default; a slow step must not look like a loss


def make_pair(max_size: int):
    import faster_fifo

    queue = faster_fifo.Queue(max_size_bytes=buffer_bytes(max_size))
    return Sender(queue, timeout=_WAIT), Receiver(queue, timeout=_WAIT)


PEER = Contender("faster-fifo", make_pair, module="faster_fifo", package="faster-fifo",
                 how="Queue(max_size_bytes=4 messages); put, get (pickled)")
