"""pyzmq: a PAIR socket pair over ipc:// (a Unix domain socket), libzmq's one-to-one pattern.

The parent's end binds, the child's connects (sockets do not pickle: the
ends travel as the ipc path, named.py). Sending uses ``copy=False``, pyzmq's
advice for large messages (below its copy threshold, 64 KiB, it copies
anyway); receiving is a blocking ``recv`` or ``recv_into`` a reused buffer.
libzmq moves the bytes on its own I/O thread, whose CPU time counts against
each process.
"""

from __future__ import annotations

import functools
import os
import tempfile

from ..contenders import Contender
from .named import NamedEnd, unique_name


class _End(NamedEnd):
    def _open(self, create: bool) -> None:
        import zmq

        self._socket = zmq.Context.instance().socket(zmq.PAIR)
        self._socket.setsockopt(zmq.LINGER, 1000)  # at close, deliver what is queued, but never hang
        self._socket.setsockopt(zmq.RECONNECT_IVL, 10)  # ms; the default 100 slows the handshake
        address = f"ipc://{self.name}"
        self._bound = create
        self._socket.bind(address) if create else self._socket.connect(address)
        self._bind_ready()

    def _bind_ready(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        self._socket.close()
        if self._bound:  # libzmq leaves the socket file behind
            try:
                os.unlink(self.name)
            except FileNotFoundError:
                pass


class Sender(_End):
    def _bind_ready(self) -> None:
        self.send = functools.partial(self._socket.send, copy=False)


class Receiver(_End):
    def _bind_ready(self) -> None:
        self.recv = self._socket.recv
        self.recv_into = self._socket.recv_into


def make_pair(max_size: int):
    path = os.path.join(tempfile.gettempdir(), unique_name("shmring-bench-zmq-") + ".ipc")
    return Sender(path, max_size), Receiver(path, max_size)


PEER = Contender("pyzmq PAIR (ipc://)", make_pair, module="zmq", package="pyzmq",
                 how="PAIR over ipc://; send(copy=False), blocking recv / recv_into")
