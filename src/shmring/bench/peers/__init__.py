"""Other IPC libraries, measured in the same run as shmring: one adapter module each.

An adapter module defines ``PEER``, a :class:`~shmring.bench.contenders.Contender`
whose ``make_pair(max_size)`` returns ``(sender, receiver)`` for messages up
to ``max_size`` bytes, where

- the sender has ``send(data: bytes)`` (blocking while the channel is full),
- the receiver has ``recv() -> bytes`` (blocking, or polling where the
  library's lowest-latency use is a polling loop) and, where the library
  offers it, ``recv_into(buffer) -> int``,
- both have ``close()``, and both pickle to a ``spawn``-ed child.

Ends whose library object cannot pickle (a zmq socket, an iceoryx2 port)
pickle as a name instead and open the object in the process that uses them:
such an end has ``open(create: bool)``, which the runner calls with
``create=True`` on the parent's ends before the child starts and with
``create=False`` on the child's ends in the child (named.py). Ends without
``open`` are ready as made.

An adapter imports its library only when a pair is made, so a peer that is
not installed is skipped with a reason instead of breaking the run.
"""

from __future__ import annotations

import importlib

MODULES = ("mp_pipe", "mp_queue", "fasterfifo", "zmq_pair", "posix_mq", "cloudtoid", "iceoryx2_pubsub")


def load() -> list:
    """Every peer's Contender, installed or not (Contender.unavailable says which)."""
    return [importlib.import_module(f"{__name__}.{name}").PEER for name in MODULES]
