"""Length-prefixed frames over a byte stream: the pipe and socket transports share them.

A frame is an 8-byte little-endian payload length, then the payload. Both
classes work on a non-blocking file descriptor (a pipe, a FIFO or a stream
socket) and wait for it with ``poll``, so a timeout bounds every wait and a
signal handler (Ctrl-C) runs while waiting; PEP 475 retries the interrupted
call when the handler does not raise.

Writing: one ``writev`` per frame (header and payload together, no
concatenation copy). A send waits (within its timeout) until the stream
takes a first byte; after that the frame is committed: if the timeout passes,
or an exception such as KeyboardInterrupt arrives, before the stream took the
whole frame, the rest is kept in this process ("the pending tail") and goes
out before the next frame, or at close. The reader therefore never sees a
partial frame from a sender that lives on and closes properly; a sender
killed mid-frame leaves one, which the reader reports as Corrupt.

Reading: into a reusable buffer, so one ``read`` can bring several small
frames. Frames too big for the buffer are read straight into a bytearray of
their own (``recv``) or into the caller's buffer (``recv_into``). Whatever
was read stays in the reader when a timeout or exception interrupts it, so
nothing is lost and the next call goes on from there.
"""

from __future__ import annotations

import math
import os
import select
import struct

from .channel import BufferTooSmall, Closed, Corrupt, Deadline, Timeout, check_timeout

HEADER = struct.Struct("<Q")
HEADER_SIZE = HEADER.size
READ_BUFFER_SIZE = 64 * 1024

_unpack_header = HEADER.unpack_from
_PEER_GONE = (BrokenPipeError, ConnectionResetError)
_HANGUP = getattr(select, "POLLHUP", 0) | getattr(select, "POLLERR", 0)  # no poll() on Windows


def _poll_ms(deadline: Deadline) -> int | None:
    """The poll() timeout for what is left of ``deadline`` (rounded up: no busy loop)."""
    left = deadline.remaining()
    return None if left is None else math.ceil(left * 1000)


class FrameWriter:
    """Writes frames to the non-blocking file descriptor ``fd``."""

    def __init__(self, fd: int, address: str):
        self._fd = fd
        self._address = address
        self._pending = None  # the unwritten rest of a committed frame: a list of bytes
        self._pending_pid = 0  # the process whose memory holds that rest
        self._init_waiting(fd)

    def _init_waiting(self, fd: int) -> None:
        self._poller = select.poll()
        self._poller.register(fd, select.POLLOUT)

    @property
    def pending(self) -> bool:
        """Whether part of a committed frame still waits to be written by this process."""
        return self._pending is not None and self._pending_pid == os.getpid()

    def send(self, payload, timeout) -> None:
        """Write one frame; ``payload`` is bytes or a flat memoryview of bytes."""
        header = HEADER.pack(len(payload))
        if self._pending is None:
            try:
                written = os.writev(self._fd, (header, payload))
            except BlockingIOError:
                written = 0
            except _PEER_GONE:
                raise self._closed_error() from None
            if written == HEADER_SIZE + len(payload):
                return
        else:
            written = 0
        self._send_slowly([header, payload], written, Deadline(timeout))

    def _send_slowly(self, parts, written, deadline) -> None:
        if self._pending is not None:
            self._finish_pending(deadline)
            if self._pending is not None:
                raise Timeout(f"send() on {self._address} timed out (the stream is full)")
        if written:
            parts = _advance(parts, written)
        self._write(parts, deadline, started=written > 0)

    def _finish_pending(self, deadline) -> None:
        """Write the pending tail, as far as ``deadline`` allows."""
        if self._pending_pid != os.getpid():
            self._pending = None  # a forked child's copy of its parent's tail: the parent writes it
            return
        parts, self._pending = self._pending, None
        self._write(parts, deadline, started=True)

    def flush(self, timeout=None) -> None:
        """Finish the pending tail, if any (close() calls this); Closed if the reader is gone."""
        if self._pending is not None:
            self._finish_pending(Deadline(timeout))

    def _write(self, parts, deadline, started: bool) -> None:
        """Write ``parts`` (a frame or its rest).

        Before the first byte is written, running out of time raises Timeout;
        after it, the rest becomes the pending tail instead.
        """
        try:
            while parts:
                n = self._send_some(parts)
                if n:
                    started = True
                    parts = _advance(parts, n)
                elif not self._wait(deadline):
                    if not started:
                        raise Timeout(f"send() on {self._address} timed out (the stream is full)")
                    self._keep_pending(parts)
                    return
        except _PEER_GONE:
            self._pending = None
            raise self._closed_error() from None
        except BaseException:
            if started and parts:
                self._keep_pending(parts)  # e.g. KeyboardInterrupt mid-frame: the frame is still finished later
            raise

    def _send_some(self, parts) -> int:
        """Write from the start of ``parts`` without waiting; the bytes written (send() inlines this)."""
        try:
            return os.writev(self._fd, parts)
        except BlockingIOError:
            return 0

    def _keep_pending(self, parts) -> None:
        self._pending = [bytes(p) for p in parts]  # copied: the caller may reuse its buffer after send() returns
        self._pending_pid = os.getpid()

    def _wait(self, deadline) -> bool:
        """Wait until the stream can take a byte; False when the deadline passed first."""
        events = self._poller.poll(_poll_ms(deadline))
        # a reader that went away also wakes us (POLLERR/POLLHUP): the next write says EPIPE
        return bool(events)

    def _closed_error(self) -> Closed:
        return Closed(f"the receiver of {self._address} closed or died")


def _advance(parts, n: int):
    """What is left of the buffers ``parts`` after ``n`` bytes of them were written."""
    rest = list(parts)
    while n:
        first = len(rest[0])
        if n < first:
            rest[0] = memoryview(rest[0])[n:]
            break
        n -= first
        rest.pop(0)
    while rest and not len(rest[0]):
        rest.pop(0)
    return rest


class FrameReader:
    """Reads frames from the non-blocking file descriptor ``fd``.

    ``peer_seen=False`` is for a FIFO opened before any writer: there, read()
    returns end-of-file until a writer opens, which means "nothing yet", not
    "closed". It becomes True once a byte arrives or poll() reports a hang-up
    (a writer came and went).
    """

    def __init__(self, fd: int, address: str, max_message_size: int, *, peer_seen: bool = True,
                 buffer_size: int = READ_BUFFER_SIZE):
        self._fd = fd
        self._address = address
        self._max = max_message_size
        self._peer_seen = peer_seen
        self._buf = bytearray(buffer_size)
        self._view = memoryview(self._buf)
        self._start = 0  # self._buf[_start:_end] holds bytes read but not yet consumed
        self._end = 0
        self._large = None  # the payload of a frame too big for the buffer, being filled
        self._large_filled = 0
        self._init_waiting(fd)

    def _init_waiting(self, fd: int) -> None:
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN)

    @property
    def peer_seen(self) -> bool:
        return self._peer_seen

    @property
    def buffered(self) -> int:
        """Bytes read from the stream and not yet returned."""
        return self._end - self._start + (self._large_filled if self._large is not None else 0)

    def recv(self, timeout) -> bytes:
        start, end = self._start, self._end
        if end - start >= HEADER_SIZE:  # (while a big frame is being read, nothing is buffered)
            n = _unpack_header(self._buf, start)[0]
            stop = start + HEADER_SIZE + n
            if stop <= end and n <= self._max:  # a whole frame is buffered: no system call
                self._start = stop
                return bytes(self._view[start + HEADER_SIZE:stop])
        return self._recv_slowly(Deadline(timeout))

    def _recv_slowly(self, deadline) -> bytes:
        n = self._next_length(deadline)
        if self._large is None and HEADER_SIZE + n <= len(self._buf):
            self._fill(HEADER_SIZE + n, deadline)
            start = self._start
            self._start = start + HEADER_SIZE + n
            return bytes(self._view[start + HEADER_SIZE:self._start])
        if self._large is None:
            self._begin_large(n)
        self._fill_large(deadline)
        data, self._large = bytes(self._large), None
        return data

    def recv_into(self, target: memoryview, timeout) -> int:
        """Read the next frame's payload into ``target`` (a flat writable memoryview)."""
        deadline = Deadline(check_timeout(timeout))
        n = self._next_length(deadline)
        if n > len(target):
            raise BufferTooSmall(
                f"recv_into() got a buffer of {len(target)} bytes for a message of {n}; "
                "it stays queued: call again with a larger buffer",
                n,
            )
        if self._large is not None:  # an earlier call was interrupted while reading it
            self._fill_large(deadline)
            target[:n] = self._large
            self._large = None
        elif HEADER_SIZE + n <= len(self._buf):
            self._fill(HEADER_SIZE + n, deadline)
            start = self._start + HEADER_SIZE
            target[:n] = self._view[start:start + n]
            self._start = start + n
        else:
            self._read_large_into(target[:n], deadline)
        return n

    # ---- the next frame's length --------------------------------------------

    def _next_length(self, deadline) -> int:
        if self._large is not None:
            return len(self._large)
        self._fill(HEADER_SIZE, deadline)
        n = _unpack_header(self._buf, self._start)[0]
        if n > self._max:
            raise Corrupt(
                f"{self._address}: the next frame announces {n} bytes, more than this receiver's "
                f"max_message_size of {self._max}: the sender uses a larger max_message_size, or is not "
                "a shmring frame writer; the stream cannot be resynchronised, close both ends"
            )
        return n

    # ---- frames that fit the buffer ------------------------------------------

    def _fill(self, count: int, deadline) -> None:
        """Read until at least ``count`` bytes (<= the buffer size) are buffered."""
        while self._end - self._start < count:
            if self._start == self._end:
                self._start = self._end = 0
            elif self._start + count > len(self._buf):
                self._compact()
            self._end += self._read(self._view[self._end:], deadline, self._end > self._start)

    def _compact(self) -> None:
        """Move the buffered bytes to the front of the buffer, to make room behind them."""
        kept = self._end - self._start
        self._view[:kept] = self._view[self._start:self._end]
        self._start, self._end = 0, kept

    # ---- frames bigger than the buffer -----------------------------------------

    def _begin_large(self, n: int) -> None:
        """Move the buffered start of a big frame's payload into a bytearray of its own."""
        have = min(n, self._end - self._start - HEADER_SIZE)
        first = self._start + HEADER_SIZE
        self._large = bytearray(n)
        self._large[:have] = self._view[first:first + have]
        self._large_filled = have
        self._start = self._end = 0

    def _fill_large(self, deadline) -> None:
        view = memoryview(self._large)
        while self._large_filled < len(view):
            self._large_filled += self._read(view[self._large_filled:], deadline, True)

    def _read_large_into(self, target: memoryview, deadline) -> None:
        """Read a big frame straight into the caller's buffer (saves a copy)."""
        have = min(len(target), self._end - self._start - HEADER_SIZE)
        first = self._start + HEADER_SIZE
        target[:have] = self._view[first:first + have]
        self._start = self._end = 0
        filled = have
        try:
            while filled < len(target):
                filled += self._read(target[filled:], deadline, True)
        except BaseException:
            # Keep what was read: the message stays queued for the next call.
            self._large = bytearray(len(target))
            self._large[:filled] = target[:filled]
            self._large_filled = filled
            raise

    # ---- the system calls ----------------------------------------------------

    def _read(self, into: memoryview, deadline, mid_frame: bool) -> int:
        """Read at least one byte into ``into``, waiting as ``deadline`` allows."""
        while True:
            n = self._read_some(into)
            if n > 0:
                self._peer_seen = True
                return n
            if n == 0 and self._peer_seen:
                raise self._end_of_stream(mid_frame)
            if not self._wait(deadline):
                raise Timeout(f"recv() on {self._address} timed out")

    def _read_some(self, into: memoryview) -> int:
        """One read without waiting: the bytes read, 0 at the end of the stream, -1 if none are there yet."""
        try:
            return os.readv(self._fd, (into,))
        except BlockingIOError:
            return -1
        except ConnectionResetError:  # a socket peer that vanished: end of stream
            return 0

    def _wait(self, deadline) -> bool:
        events = self._poller.poll(_poll_ms(deadline))
        if events and events[0][1] & _HANGUP:
            self._peer_seen = True
        if events and events[0][1] & select.POLLNVAL:
            raise Closed(f"{self._address}: the file descriptor was closed under this receiver")
        return bool(events)

    def _end_of_stream(self, mid_frame: bool):
        if not mid_frame:
            return Closed(f"the sender of {self._address} closed or died, and every message it sent was received")
        return Corrupt(
            f"{self._address}: the stream ended in the middle of a message ({self.buffered} bytes of it "
            "arrived): the sender died or was killed while writing it; every message before it was received"
        )
