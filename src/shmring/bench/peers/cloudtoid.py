"""cloudtoid-interprocess: a shared-memory byte queue (Publisher / Subscriber by name).

Its Python API (cloudtoid_interprocess/__init__.pyi) offers non-blocking
``try_send`` / ``try_receive`` and a ``receive(timeout)`` that sleeps in
native waits; the lowest latency is polling, so the receiver here loops on
``try_receive`` and the sender retries ``try_send`` while the queue is full.
A polling receiver keeps its CPU busy while it waits, which shows in the CPU
column. The ends travel as the queue's name (named.py); the queue holds 4 of
the largest messages, like the shm ring (contenders.buffer_bytes).
"""

from __future__ import annotations

from ..contenders import Contender, buffer_bytes
from .named import NamedEnd, unique_name


class Sender(NamedEnd):
    def _open(self, create: bool) -> None:
        from cloudtoid_interprocess import Publisher

        self._publisher = Publisher(self.name, buffer_bytes(self.max_size))
        try_send = self._publisher.try_send

        def send(data) -> None:
            while not try_send(data):
                pass

        self.send = send

    def _close(self) -> None:
        self._publisher.close()


class Receiver(NamedEnd):
    def _open(self, create: bool) -> None:
        from cloudtoid_interprocess import Subscriber

        self._subscriber = Subscriber(self.name, buffer_bytes(self.max_size))
        try_receive = self._subscriber.try_receive

        def recv() -> bytes:
            while True:
                msg = try_receive()
                if msg is not None:
                    return msg

        self.recv = recv

    def _close(self) -> None:
        self._subscriber.close()


def make_pair(max_size: int):
    name = unique_name("shmring-bench-")
    return Sender(name, max_size), Receiver(name, max_size)


PEER = Contender("cloudtoid-interprocess", make_pair, module="cloudtoid_interprocess",
                 package="cloudtoid-interprocess", how="Publisher/Subscriber; polls try_send, try_receive")
