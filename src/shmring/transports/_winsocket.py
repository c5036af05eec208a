"""Windows: the socket transport's framing and pickling on socket handles (imported on Windows only).

A socket on Windows is a handle, not a C runtime file descriptor: there is
no ``os.readv``/``os.writev`` on it and no ``poll``. The framers here are
those of :mod:`shmring.framing` with the system calls swapped: ``send`` and
``recv_into`` on a non-blocking socket (their counts land by C, as
``os.writev``'s and ``os.readv``'s do there), and ``select`` (which Windows has
for sockets) in slices of at most 50 ms, because ``select`` there does not
return for Ctrl-C; the handler runs between two slices. A frame up to 64 KiB
goes out in one ``send`` (header and payload joined); a bigger one as its
header, then its payload (no copy of it). Everything else, the pending tail
included, is framing's own code.

Pickling: a socket handle travels as ``socket.share()`` data for the
process multiprocessing is starting, and otherwise through
multiprocessing's resource sharer (as multiprocessing pickles sockets on
Windows), which needs the pickling process to live until it is unpickled.
"""

from __future__ import annotations

import sys

assert sys.platform == "win32", "a Windows-only module"  # and mypy checks the rest only with --platform win32

import select
import socket as _socket
import weakref
from multiprocessing import context, resource_sharer

from ..framing import FrameReader, FrameWriter

SLICE = 0.05  # the longest single wait, so that Ctrl-C is seen promptly
JOIN_LIMIT = 64 * 1024
_PEER_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def _wrap(owner, handle: int):
    """A socket object over ``handle`` for ``owner``, detached (never closing the handle: the
    endpoint's box does that) when ``owner`` goes."""
    sock = _socket.socket(fileno=handle)
    weakref.finalize(owner, sock.detach)
    return sock


def _select_in_slices(sock, deadline, writing: bool) -> bool:
    while True:
        left = deadline.remaining()
        wait = SLICE if left is None else min(SLICE, left)
        if writing:
            _, ready, failed = select.select((), (sock,), (sock,), wait)
        else:
            ready, _, failed = select.select((sock,), (), (sock,), wait)
        if ready or failed:
            return True
        if left is not None and deadline.remaining() == 0:
            return False


class SocketFrameWriter(FrameWriter):
    """framing.FrameWriter on a Windows socket handle."""

    def _init_waiting(self, handle: int) -> None:
        self._sock = _wrap(self, handle)

    def _write_once(self, parts, tail: bool) -> None:
        """framing.FrameWriter._write_once with a socket send of the frame
        (header and payload joined up to JOIN_LIMIT) or its rest; the count
        lands in _landed by C, as there."""
        self._writing_tail = tail
        data = parts[0]
        if len(parts) == 2 and len(data) + len(parts[1]) <= JOIN_LIMIT:
            data = b"".join(parts)
        try:
            self._landed.extend(map(self._sock.send, (data,)))
        except BlockingIOError:
            return
        except _PEER_GONE:
            self._pending = self._frame = None
            raise self._closed_error() from None
        self._settle()

    def _wait(self, deadline) -> bool:
        return _select_in_slices(self._sock, deadline, writing=True)


class SocketFrameReader(FrameReader):
    """framing.FrameReader on a Windows socket handle."""

    def _init_waiting(self, handle: int) -> None:
        self._sock = _wrap(self, handle)

    def _land(self, into: memoryview) -> bool:
        """framing.FrameReader._land with a socket receive: its count lands in _landed by C."""
        try:
            self._landed.extend(map(self._sock.recv_into, (into,)))
        except BlockingIOError:
            return False
        except _PEER_GONE:  # a peer that vanished: end of stream
            self._landed.append(0)
        return True

    def _wait(self, deadline) -> bool:
        return _select_in_slices(self._sock, deadline, writing=False)


def _set_non_blocking(handle: int) -> None:
    sock = _socket.socket(fileno=handle)
    try:
        sock.setblocking(False)
    finally:
        sock.detach()


class SocketHandles:
    """What the stream endpoints of _stream do with a Windows socket handle."""

    attach = staticmethod(_set_non_blocking)
    writer = SocketFrameWriter
    reader = SocketFrameReader
    close = staticmethod(_socket.close)

    @staticmethod
    def dup(handle: int) -> SocketCopy:
        return SocketCopy(handle)


class SocketCopy:
    """A socket handle on its way to another process (in a pickle)."""

    def __init__(self, handle: int):
        sock = _socket.socket(fileno=handle)
        self._shared: bytes | None = None
        self._sharer: resource_sharer.DupSocket | None = None
        try:
            popen = context.get_spawning_popen()
            if popen is not None:
                self._shared = sock.share(popen.pid)
            else:
                self._sharer = resource_sharer.DupSocket(sock)
        finally:
            sock.detach()

    def detach(self) -> int:
        """The socket's handle in this process (call once)."""
        if self._shared is not None:
            sock = _socket.fromshare(self._shared)
        else:
            assert self._sharer is not None
            sock = self._sharer.detach()
        return sock.detach()
