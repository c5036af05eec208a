"""Reading multiprocessing.Queue's pipe one message at a time, so that no
exception (a timeout, or one a signal handler raises) loses a message.

The queue's feeder thread writes each message framed as
``multiprocessing.Connection`` frames it: a 4-byte big-endian signed length
(-1: an 8-byte length follows), then the payload, a pickled ``bytes``.
Several receivers (copies of the receiving end, in several processes) read
the same pipe, so a receiver reads under the queue's read lock, and exactly
one frame: never ahead into the next one, which may be another receiver's.

Interrupts, by the rules of :class:`shmring.framing.FrameReader`: CPython
runs signal handlers as a call returns, before the caller has its result.
So whatever a call brings lands in a list by C (``list.extend`` over ``map``
or ``filter``): the lock acquisition's success, a read's byte count. The
state changes in statements with no call in between. A frame read whole
waits in ``whole`` until the endpoint takes it (``whole = None``, the
statement before its return). An exception in the middle of a frame keeps
the lock and the bytes read, and the next call on the endpoint, or its
close, finishes the frame; meanwhile the other receivers wait for the lock.

On Windows the queue's pipe is a message-mode named pipe without length
prefixes: :class:`WindowsQueueFrames` reads it with overlapped reads, as
``Connection.recv_bytes`` does, by the same rules.
"""

from __future__ import annotations

import os
import select
import struct
import sys
from collections.abc import Callable
from typing import Any
from itertools import starmap
from multiprocessing.reduction import ForkingPickler

from ..channel import Closed, Corrupt, Deadline, Timeout
from ..framing import _poll_ms

_SHORT = struct.Struct("!i")  # multiprocessing.Connection's length prefix
_LONG = struct.Struct("!Q")  # after a short prefix of -1: payloads of 2 GiB and more
_PICKLE_OVERHEAD = 64  # bytes a pickled bytes object takes beyond its length, with room to spare
HEAD, LONG_HEAD, BODY = 0, 1, 2  # the part of a frame being read
_EMPTY = bytearray()  # _body while no payload is being read
FIRST_READ = 4096  # Windows: bytes a message's first read takes; a longer one says ERROR_MORE_DATA
FINISH_AT_CLOSE = 5.0  # seconds close() waits for the rest of a frame it began (the sender writes it at once)


class QueueFrames:
    """One frame at a time from the queue's pipe ``fd`` (non-blocking),
    under the read lock ``lock``, giving a place back to ``slots`` per frame."""

    def __init__(self, fd: int, lock, slots, address: str, max_message_size: int):
        self._fds = (fd,)
        self._acquire, self._release = lock.acquire, lock.release  # SemLock's own C methods
        self._free_slot = slots.release
        self._address = address
        self._max = max_message_size
        self._limit = max_message_size + _PICKLE_OVERHEAD
        self._locked: list = []  # [True] while this reader holds the read lock, put there by C as acquire returns
        self._slot_owed = False  # a frame was taken and its place not given back yet
        self._head = bytearray(_SHORT.size + _LONG.size)
        self._body = _EMPTY  # the payload being read (while _part is BODY)
        self._part = HEAD
        self._filled = 0  # bytes of the part being read that arrived
        self._landed: list = []  # a read's byte count, not yet added to _filled
        self.whole: bytes | None = None  # the next message, read whole and unpickled, until the endpoint takes it
        self._init_waiting(fd)

    _readv: Callable[..., int]
    _poller: Any  # select.poll, which Windows does not have

    def _init_waiting(self, fd: int) -> None:
        if sys.platform != "win32":  # (Windows reads with WindowsQueueFrames)
            self._poller = select.poll()
            self._poller.register(fd, select.POLLIN)
            self._readv = os.readv

    @property
    def mid_frame(self) -> bool:
        """Whether part of a frame was read and the rest was not."""
        return bool(self._landed) or self._part != HEAD or self._filled != 0

    def fetch(self, deadline: Deadline) -> None:
        """Make ``whole`` the next message, and give back the lock and the slot of its frame."""
        if self.whole is None:
            if self._slot_owed:  # a frame taken before (a Corrupt one): its place first
                self._slot_owed = False
                self._free_slot()
            if not self._locked:
                self._lock(deadline)
            try:
                self._read_frame(deadline)
            except BaseException:
                self._settle_at_boundary()
                if self._locked and not self.mid_frame:  # nothing of a frame read: the others may go on
                    self._locked[:] = ()
                    self._release()
                raise
        self._give_back()

    def _settle_at_boundary(self) -> None:
        """After an exception in the middle of reading (Windows: a read in flight to settle)."""

    def _lock(self, deadline: Deadline) -> None:
        left = deadline.remaining()
        self._locked.extend(filter(None, starmap(self._acquire, ((True, left),))))
        if not self._locked:
            raise Timeout(f"recv() on {self._address} timed out (another receiver was reading)")

    def _give_back(self) -> None:
        """After a whole frame: its place in the queue, then the read lock (each flag cleared before its call)."""
        if self._slot_owed:
            self._slot_owed = False
            self._free_slot()
        if self._locked:
            self._locked[:] = ()
            self._release()

    # ---- one frame -------------------------------------------------------------

    def _read_frame(self, deadline: Deadline) -> None:
        if self._part == HEAD:
            self._fill(memoryview(self._head)[:_SHORT.size], deadline)
            n = _SHORT.unpack_from(self._head)[0]
            if n == -1:
                self._part, self._filled = LONG_HEAD, 0
            else:
                self._begin_body(n)
        if self._part == LONG_HEAD:
            self._fill(memoryview(self._head)[_SHORT.size:], deadline)
            self._begin_body(_LONG.unpack_from(self._head, _SHORT.size)[0])
        self._fill(memoryview(self._body), deadline)
        data = ForkingPickler.loads(self._body)
        bad = self._bad_payload(data)
        if bad is not None:
            self._body, self._part, self._filled, self._slot_owed = _EMPTY, HEAD, 0, True  # dropped: the next frame is whole
            raise bad
        self.whole, self._body, self._part, self._filled, self._slot_owed = data, _EMPTY, HEAD, 0, True

    def _bad_payload(self, data) -> Corrupt | None:
        """Corrupt for an unpickled payload that no shmring sender puts (it is dropped), else None."""
        if type(data) is bytes and len(data) <= self._max:
            return None
        return Corrupt(f"{self._address}: got a {type(data).__name__} that no shmring sender puts; it was dropped")

    def _begin_body(self, n: int) -> None:
        if not 0 <= n <= self._limit:
            raise Corrupt(
                f"{self._address}: the next frame announces {n} bytes, more than max_message_size "
                f"{self._max} allows: something other than a shmring sender writes into this queue"
            )
        self._body, self._part, self._filled = bytearray(n), BODY, 0

    def _fill(self, into: memoryview, deadline: Deadline) -> None:
        """Read until ``into`` is full, waiting as ``deadline`` allows."""
        self._settle()
        while self._filled < len(into):
            if self._land(into[self._filled:]):
                if not self._landed[0]:
                    del self._landed[0]
                    raise self._end_of_stream()
                self._settle()
            elif not self._wait(deadline):
                raise Timeout(f"recv() on {self._address} timed out")

    def _land(self, into: memoryview) -> bool:
        """One read without waiting; its count (0 at the end of the stream) lands in _landed."""
        try:
            self._landed.extend(map(self._readv, self._fds, ((into,),)))
        except BlockingIOError:
            return False
        return True

    def _settle(self) -> None:
        landed = self._landed
        if landed:
            self._filled, landed[:] = self._filled + landed[0], ()  # one statement: no call between

    def _wait(self, deadline: Deadline) -> bool:
        return bool(self._poller.poll(_poll_ms(deadline)))

    def _end_of_stream(self):
        if not self.mid_frame:
            return Closed(f"the sender of {self._address} closed or died, and every message it wrote was received")
        return Corrupt(
            f"{self._address}: the pipe ended in the middle of a message: a sender died while writing it; "
            "every message before it was received"
        )

    # ---- close and fork --------------------------------------------------------

    def finish(self) -> None:
        """At close: read the rest of a frame begun (the other receivers must
        find the pipe at a frame's start), then give back what this reader holds.
        A frame whose rest does not come within FINISH_AT_CLOSE keeps the lock:
        another receiver would read the middle of a message as its start."""
        self._settle_at_boundary()
        if self._locked and self.mid_frame:
            try:
                self._read_frame(Deadline(FINISH_AT_CLOSE))
            except (Timeout, Closed):
                return
            except Corrupt:
                pass  # a sender died mid-frame: every reader of this pipe gets Corrupt from here on
        self.whole = None  # taken out of the queue, and this receiver closes: nobody will get it
        self._give_back()

    def forget(self) -> None:
        """In a forked child: what this reader holds and read is the parent's."""
        self._locked, self._landed, self._slot_owed = [], [], False
        self._body, self._part, self._filled, self.whole = _EMPTY, HEAD, 0, None


if sys.platform == "win32":  # (mypy checks this part with --platform win32)
    import _winapi

    from ._winpipe import ERROR_IO_PENDING, PEER_GONE, _cancel, bytes_waiting, wait_for

    class WindowsQueueFrames(QueueFrames):
        """Windows: the queue's pipe is a message-mode named pipe: a read takes
        one message, or its first part (ERROR_MORE_DATA) with the rest to read
        next. The read in flight (``_reading``) and the parts read (``_parts``)
        are state, put there by C or in statements with no call between, as on
        POSIX; a message read in parts keeps the read lock until it is whole."""

        def _init_waiting(self, fd: int) -> None:
            self._handle = fd
            self._reading: list = []  # the overlapped read in flight: [(Overlapped, error)]
            self._parts: list = []  # the parts of a message read so far

        @property
        def mid_frame(self) -> bool:
            return bool(self._parts) or bool(self._reading)

        def _read_frame(self, deadline: Deadline) -> None:
            while True:
                if not self._reading:
                    if not self._parts and deadline.remaining() == 0 and not bytes_waiting(self._handle):
                        raise Timeout(f"recv() on {self._address} timed out")  # no read to start and cancel
                    size = _winapi.PeekNamedPipe(self._handle)[1] if self._parts else FIRST_READ  # then the rest of it
                    if sum(map(len, self._parts)) + size > self._limit:
                        raise Corrupt(
                            f"{self._address}: a message of more than max_message_size {self._max} bytes: something "
                            "other than a shmring sender writes into this queue"
                        )
                    try:
                        self._reading.extend(starmap(_winapi.ReadFile, ((self._handle, max(size, 1), True),)))
                    except OSError as e:
                        if e.winerror in PEER_GONE:
                            raise self._end_of_stream() from None
                        raise
                ov, err = self._reading[0]
                if err == ERROR_IO_PENDING and not wait_for(ov.event, deadline):
                    raise Timeout(f"recv() on {self._address} timed out")  # the read stays in flight (see _settle_at_boundary)
                try:
                    n, err = ov.GetOverlappedResult(True)
                except OSError as e:
                    self._reading[:] = ()
                    if e.winerror in PEER_GONE:
                        raise self._end_of_stream() from None
                    raise
                part = ov.getbuffer() or b""
                if err == _winapi.ERROR_MORE_DATA:
                    self._parts, self._reading[:] = self._parts + [part], ()  # one statement: no call between
                    continue
                if not n and not self._parts:
                    self._reading[:] = ()  # a read that completed empty: read again
                    continue
                data = ForkingPickler.loads(b"".join(self._parts + [part]))
                bad = self._bad_payload(data)
                if bad is not None:
                    self._parts, self._reading[:], self._slot_owed = [], (), True
                    raise bad
                self.whole, self._parts, self._reading[:], self._slot_owed = data, [], (), True
                return

        def _settle_at_boundary(self) -> None:
            """After an exception: cancel a read in flight; if it took nothing, no frame was begun."""
            if self._reading and not _cancel(self._reading[0][0]):
                self._reading[:] = ()

        def forget(self) -> None:
            super().forget()
            self._reading, self._parts = [], []
