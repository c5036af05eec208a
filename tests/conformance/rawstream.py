"""Raw bytes into the byte stream under a stream Sender, past its framing, as a buggy peer would write them.

``fileno()`` is a file descriptor on POSIX, where ``os.write`` does it all.
On Windows it is a handle: an overlapped pipe handle (pipe, fifo) is
written with WriteFile, a socket handle with ``send`` (the endpoint set it
non-blocking, so this waits for room with ``select``).
"""

from __future__ import annotations

import os

from tests.conformance.children import WAIT
from tests.platform_support import WINDOWS


def write_some(tx, data) -> int:
    """Write from the start of ``data`` into ``tx``'s stream; how many bytes went (as os.write)."""
    if not WINDOWS:
        return os.write(tx.fileno(), data)
    from shmring.transports.socket import SocketSender

    if isinstance(tx, SocketSender):
        return _socket_send(tx.fileno(), data)
    return _pipe_write(tx.fileno(), data)


def write_all(tx, data) -> None:
    view = memoryview(data)
    while view:
        view = view[write_some(tx, view):]


def _socket_send(handle: int, data) -> int:
    import select
    import socket

    sock = socket.socket(fileno=handle)
    try:
        _, writable, _ = select.select((), (sock,), (), WAIT)
        assert writable, f"the socket took no byte within {WAIT} s"
        return sock.send(data)
    finally:
        sock.detach()  # the endpoint owns the handle


def _pipe_write(handle: int, data) -> int:
    import _winapi

    ov, _ = _winapi.WriteFile(handle, bytes(data), overlapped=True)
    written, _ = ov.GetOverlappedResult(True)  # the tests write what fits the pipe: this does not wait long
    return written
