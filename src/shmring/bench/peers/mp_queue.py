"""multiprocessing.Queue, as most Python code uses it: put() and a blocking get().

Each message is pickled and written to a pipe by the queue's feeder thread
(whose CPU time counts against the sending process). The queue is bounded
(maxsize=64 messages; contenders.QUEUE_MAXSIZE says why) like every other
row. A Queue pickles only as an argument of the Process it is shared with,
which is how the runner passes it.
"""

from __future__ import annotations

import multiprocessing

from ..contenders import QUEUE_MAXSIZE, Contender
from .queue_ends import Receiver, Sender


def make_pair(max_size: int):
    queue = multiprocessing.get_context("spawn").Queue(QUEUE_MAXSIZE)
    return Sender(queue), Receiver(queue)


PEER = Contender("multiprocessing.Queue", make_pair, how=f"Queue(maxsize={QUEUE_MAXSIZE}); put, get")
