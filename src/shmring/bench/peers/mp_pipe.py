"""multiprocessing.Pipe(duplex=False), moving bytes with send_bytes / recv_bytes.

The ends are multiprocessing Connections, which pickle to a spawned child by
themselves. Messages go as bytes (``send_bytes``), not as pickled objects,
as code moving bytes would use it; large ones are received with
``recv_bytes_into`` a reused buffer. A waiting receiver blocks in the kernel
(the only way Connection waits).
"""

from __future__ import annotations

import multiprocessing

from ..contenders import Contender


class Sender:
    def __init__(self, conn):
        self._conn = conn
        self.send = conn.send_bytes

    def close(self) -> None:
        self._conn.close()

    def __reduce__(self):
        return (Sender, (self._conn,))


class Receiver:
    def __init__(self, conn):
        self._conn = conn
        self.recv = conn.recv_bytes
        self.recv_into = conn.recv_bytes_into

    def close(self) -> None:
        self._conn.close()

    def __reduce__(self):
        return (Receiver, (self._conn,))


def make_pair(max_size: int):
    rx, tx = multiprocessing.Pipe(duplex=False)
    return Sender(tx), Receiver(rx)


PEER = Contender("multiprocessing.Pipe", make_pair, how="Pipe(duplex=False); send_bytes, recv_bytes(_into)")
