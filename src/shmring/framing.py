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
    """Writes frames to the non-blocking file descriptor ``fd``.

    Interrupts: CPython runs signal handlers as a call returns, before the
    caller has its result. So a write's byte count is put into ``_landed``
    by C (``list.extend`` over ``map``) and added to the state by _settle,
    with no call in between; and ``committed`` says whether the frame of the
    current send began (then it goes out whole: the rest becomes the pending
    tail). The endpoint sets ``committed`` to 0 before a send and, if an
    exception leaves it, calls interrupted() to settle and learn ``sent``.
    """

    def __init__(self, fd: int, address: str):
        self._fd = fd
        self._fds = (fd,)
        self._address = address
        self._pending = None  # the unwritten rest of a committed frame: a list of bytes
        self._pending_pid = 0  # the process whose memory holds that rest
        self._landed: list = []  # a write's byte count, not yet added to the state
        self._writing_tail = False  # whether the write in progress is of the pending tail
        self._tail_written = 0  # bytes of the pending tail written, not yet cut off it
        self._frame = None  # the frame of the current send (header, payload), until it is all written
        self._frame_written = 0
        self.committed = 0  # 1 once a byte of the current send's frame went out
        self.current = False  # whether _frame is the current send's (the endpoint clears it before a send)
        self._init_waiting(fd)

    def _init_waiting(self, fd: int) -> None:
        self._poller = select.poll()
        self._poller.register(fd, select.POLLOUT)

    def stop(self) -> None:
        """Before the descriptor closes (the reader's counterpart): nothing to stop."""

    @property
    def pending(self) -> bool:
        """Whether part of a committed frame still waits to be written by this process."""
        return self._pending is not None and self._pending_pid == os.getpid()

    def send(self, payload, timeout) -> None:
        """Write one frame; ``payload`` is bytes or a flat memoryview of bytes."""
        if self._landed or self._frame is not None:  # an earlier send was cut short in its recovery
            self.interrupted()
        frame = (HEADER.pack(len(payload)), payload)
        self._frame, self._frame_written, self.current = frame, 0, True  # one step: from here on it is this send's
        if self._pending is None:
            self._write_once(frame, False)
            if self._frame_written == HEADER_SIZE + len(payload):
                self._frame = None
                return
        self._send_slowly(Deadline(timeout))

    def _send_slowly(self, deadline) -> None:
        if self._pending is not None:
            self._finish_pending(deadline)
            if self._pending is not None:
                self._frame = None
                raise Timeout(f"send() on {self._address} timed out (the stream is full)")
        while self._frame is not None:
            frame = self._frame
            rest = _advance(frame, self._frame_written)
            if not rest:
                self._frame = None
                return
            self._write_once(rest, False)
            if self._frame_written == 0 or self._frame_written < _length(frame):
                if not self._wait(deadline):
                    if self._frame_written == 0:
                        self._frame = None
                        raise Timeout(f"send() on {self._address} timed out (the stream is full)")
                    self._keep_rest_of_frame()  # committed: it goes out before the next frame
                    return

    def _finish_pending(self, deadline) -> None:
        """Write the pending tail, as far as ``deadline`` allows."""
        if self._pending_pid != os.getpid():
            self._pending = None  # a forked child's copy of its parent's tail: the parent writes it
            return
        while self._pending is not None:
            self._write_once(self._pending, True)
            self._cut_tail()
            if self._pending is not None and not self._wait(deadline):
                return

    def flush(self, timeout=None) -> None:
        """Finish the pending tail, if any (close() calls this); Closed if the reader is gone."""
        self._settle()
        self._cut_tail()
        if self._pending is not None:
            self._finish_pending(Deadline(timeout))

    def interrupted(self) -> int:
        """After an exception left send: settle the last write and keep the
        unwritten rest of a begun frame as the pending tail; 1 if this send's
        frame is committed (it goes out whole), 0 if none of it went."""
        self._settle()
        self._cut_tail()
        if self._frame is not None and self._frame_written:
            self._keep_rest_of_frame()
        self._frame = None
        return self.committed

    # ---- the bookkeeping -------------------------------------------------------

    def _write_once(self, parts, tail: bool) -> None:
        """One write of ``parts`` without waiting; its count is settled into the state."""
        self._writing_tail = tail
        try:
            self._landed.extend(map(os.writev, self._fds, (parts,)))
        except BlockingIOError:
            return
        except _PEER_GONE:
            self._pending = self._frame = None
            raise self._closed_error() from None
        self._settle()

    def _settle(self) -> None:
        """Add a landed write count to what it wrote (no call in between)."""
        landed = self._landed
        if landed:  # each branch adds and empties _landed in one statement (no call or jump between)
            n = landed[0]
            if self._writing_tail:
                self._tail_written, landed[:] = self._tail_written + n, ()
            else:
                committed = 1 if n and self.current else self.committed
                self._frame_written, self.committed, landed[:] = self._frame_written + n, committed, ()

    def _cut_tail(self) -> None:
        """Take the written bytes off the pending tail."""
        if self._tail_written and self._pending is not None:
            rest = [bytes(p) for p in _advance(self._pending, self._tail_written)]
            self._pending, self._tail_written = rest or None, 0

    def _keep_rest_of_frame(self) -> None:
        # copied: the caller may reuse its buffer once send() has returned or raised
        rest = [bytes(p) for p in _advance(self._frame, self._frame_written)]
        self._pending, self._pending_pid, self._frame = rest or None, os.getpid(), None

    def _wait(self, deadline) -> bool:
        """Wait until the stream can take a byte; False when the deadline passed first."""
        events = self._poller.poll(_poll_ms(deadline))
        # a reader that went away also wakes us (POLLERR/POLLHUP): the next write says EPIPE
        return bool(events)

    def _closed_error(self) -> Closed:
        return Closed(f"the receiver of {self._address} closed or died")


def _length(parts) -> int:
    return sum(map(len, parts))


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


BUFFER, LARGE, TARGET = 0, 1, 2  # where a read's bytes went (FrameReader._landing)


class FrameReader:
    """Reads frames from the non-blocking file descriptor ``fd``.

    ``peer_seen=False`` is for a FIFO opened before any writer: there, read()
    returns end-of-file until a writer opens, which means "nothing yet", not
    "closed". It becomes True once a byte arrives or poll() reports a hang-up
    (a writer came and went).

    Interrupts: a read's byte count lands in ``_landed`` by C (list.extend)
    and _settle adds it to the state with no call in between, so a signal
    handler cannot drop bytes read. recv and recv_into do not consume the
    frame they return: they leave the state after it in ``after``, which
    the endpoint applies (take) once the call has returned to it, so a
    handler that raises in between leaves the frame next in line.
    """

    def __init__(self, fd: int, address: str, max_message_size: int, *, peer_seen: bool = True,
                 buffer_size: int = READ_BUFFER_SIZE):
        self._fd = fd
        self._fds = (fd,)
        self._address = address
        self._max = max_message_size
        self._peer_seen = peer_seen
        self._buf = bytearray(buffer_size)
        self._view = memoryview(self._buf)
        self._start = 0  # self._buf[_start:_end] holds bytes read but not yet consumed
        self._end = 0
        self._large = None  # the payload of a frame too big for the buffer, being filled
        self._large_filled = 0
        self._landed: list = []  # a read's byte count, not yet added to the state
        self._landing = BUFFER  # where the read in progress puts its bytes
        self._target_filled = 0  # bytes of a big frame read straight into recv_into's buffer
        self._direct = None  # that buffer, once the whole frame is in it
        self.after = (0, None, None)  # (_start, _large, _direct) once the returned frame is consumed
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
        self._settle()
        return self._end - self._start + (self._large_filled if self._large is not None else 0)

    def take(self) -> None:
        """Consume the frame the last recv or recv_into returned (the endpoint
        calls this inline: ``reader._start, reader._large, reader._direct = reader.after``)."""
        self._start, self._large, self._direct = self.after

    def stop(self) -> None:
        """Before the descriptor closes: nothing to stop here (Windows pipes: a read in flight)."""

    def keep_direct(self) -> None:
        """After an exception as recv_into returned a big frame read straight
        into the caller's buffer: copy it, so that it stays next in line."""
        if self._direct is not None:
            self._large = bytearray(self._direct)
            self._large_filled, self._direct = len(self._large), None

    def recv(self, timeout) -> bytes:
        self._settle()
        start, end = self._start, self._end
        if end - start >= HEADER_SIZE:  # (while a big frame is being read, nothing is buffered)
            n = _unpack_header(self._buf, start)[0]
            stop = start + HEADER_SIZE + n
            if stop <= end and n <= self._max:  # a whole frame is buffered: no system call
                data = bytes(self._view[start + HEADER_SIZE:stop])
                self.after = (stop, None, None)
                return data
        return self._recv_slowly(Deadline(timeout))

    def _recv_slowly(self, deadline) -> bytes:
        n = self._next_length(deadline)
        if self._large is None and HEADER_SIZE + n <= len(self._buf):
            self._fill(HEADER_SIZE + n, deadline)
            start = self._start
            data = bytes(self._view[start + HEADER_SIZE:start + HEADER_SIZE + n])
            self.after = (start + HEADER_SIZE + n, None, None)
            return data
        if self._large is None:
            self._begin_large(n)
        self._fill_large(deadline)
        data = bytes(self._large)
        self.after = (self._start, None, None)
        return data

    def recv_into(self, target: memoryview, timeout) -> int:
        """Read the next frame's payload into ``target`` (a flat writable memoryview)."""
        self._settle()
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
            self.after = (self._start, None, None)
        elif HEADER_SIZE + n <= len(self._buf):
            self._fill(HEADER_SIZE + n, deadline)
            start = self._start + HEADER_SIZE
            target[:n] = self._view[start:start + n]
            self.after = (start + n, None, None)
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
            self._read(self._view[self._end:], deadline, self._end > self._start, BUFFER)

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
        large = bytearray(n)
        large[:have] = self._view[first:first + have]
        self._large, self._large_filled, self._start, self._end = large, have, 0, 0  # one step

    def _fill_large(self, deadline) -> None:
        view = memoryview(self._large)
        while self._large_filled < len(view):
            self._read(view[self._large_filled:], deadline, True, LARGE)

    def _fill_target(self, target: memoryview, deadline) -> None:
        # A loop of its own: CPython 3.12+ leaves a loop's back edge out of the
        # enclosing try's exception table (gh-108214), so a signal handler
        # raising there would skip the caller's except clause.
        while self._target_filled < len(target):
            self._read(target[self._target_filled:], deadline, True, TARGET)

    def _read_large_into(self, target: memoryview, deadline) -> None:
        """Read a big frame straight into the caller's buffer (saves a copy)."""
        have = min(len(target), self._end - self._start - HEADER_SIZE)
        first = self._start + HEADER_SIZE
        target[:have] = self._view[first:first + have]
        self._target_filled, self._start, self._end = have, 0, 0
        try:
            self._fill_target(target, deadline)  # a call, not a loop: see _fill_target
        except BaseException:
            # Keep what was read: the message stays queued for the next call.
            self._settle()
            filled = self._target_filled
            large = bytearray(len(target))
            large[:filled] = target[:filled]
            self._large, self._large_filled = large, filled
            raise
        self.after = (0, None, None)
        self._direct = target  # until take(): keep_direct() copies it if the return is interrupted

    # ---- the system calls ----------------------------------------------------

    def _read(self, into: memoryview, deadline, mid_frame: bool, landing: int) -> None:
        """Read at least one byte into ``into``, waiting as ``deadline`` allows;
        the count is added where ``landing`` says."""
        self._landing = landing
        while True:
            if self._land(into):
                if self._landed[0]:
                    self._peer_seen = True
                    self._settle()
                    return
                del self._landed[0]  # 0: the end of the stream
                if self._peer_seen:
                    raise self._end_of_stream(mid_frame)
            if not self._wait(deadline):
                raise Timeout(f"recv() on {self._address} timed out")

    def _land(self, into: memoryview) -> bool:
        """One read without waiting; its count (0 at the end of the stream)
        lands in _landed. False when nothing is there yet."""
        try:
            self._landed.extend(map(os.readv, self._fds, ((into,),)))
        except BlockingIOError:
            return False
        except ConnectionResetError:  # a socket peer that vanished: end of stream
            self._landed.append(0)
        return True

    def _settle(self) -> None:
        """Add a landed read count where its bytes went (no call in between)."""
        landed = self._landed
        if landed:  # each branch adds and empties _landed in one statement (no call or jump between)
            n = landed[0]
            if self._landing == BUFFER:
                self._end, landed[:] = self._end + n, ()
            elif self._landing == LARGE:
                self._large_filled, landed[:] = self._large_filled + n, ()
            else:
                self._target_filled, landed[:] = self._target_filled + n, ()

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
