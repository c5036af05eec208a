"""The os.pipe baseline: length-prefixed frames over a plain pipe, stdlib only.

Written the way a careful user would: one ``writev`` per message (header and
payload together, no concatenation copy); a buffered reader, so a small
message costs one read syscall or less. It
exists so the benchmark has the classic IPC method beside the ring in the
same run.
"""

from __future__ import annotations

import io
import os
import struct
from multiprocessing.reduction import DupFd

_HEADER = struct.Struct("<Q")


class PipeSender:
    def __init__(self, fd: int):
        self._fd = fd

    def send(self, data) -> None:
        header = _HEADER.pack(len(data))
        written = os.writev(self._fd, [header, data])
        if written < len(header) + len(data):  # interrupted part-way: finish it
            rest = memoryview(header + bytes(data))[written:]
            while len(rest):
                rest = rest[os.write(self._fd, rest):]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __reduce__(self):
        return (_rebuild, (PipeSender, DupFd(self._fd)))


class PipeReceiver:
    def __init__(self, fd: int):
        self._fd = fd
        self._reader = io.open(fd, "rb", buffering=1 << 16, closefd=False)

    def _next_length(self) -> int:
        header = self._reader.read(_HEADER.size)
        if len(header) < _HEADER.size:
            raise EOFError("the pipe's writer closed")
        return _HEADER.unpack(header)[0]

    def recv(self) -> bytes:
        n = self._next_length()
        data = self._reader.read(n)
        if len(data) < n:
            raise EOFError("the pipe's writer closed mid-message")
        return data

    def recv_into(self, buffer) -> int:
        n = self._next_length()
        if self._reader.readinto(memoryview(buffer).cast("B")[:n]) < n:
            raise EOFError("the pipe's writer closed mid-message")
        return n

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __reduce__(self):
        return (_rebuild, (PipeReceiver, DupFd(self._fd)))


def _rebuild(cls, dup):
    return cls(dup.detach())


def pair():
    r, w = os.pipe()
    return PipeSender(w), PipeReceiver(r)
