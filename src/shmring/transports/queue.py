"""The queue transport: ``multiprocessing.Queue`` behind the Channel API.

``pair(max_message_size=16 MiB, maxsize=0, context="spawn")``. ``send`` is
``Queue.put`` of a ``bytes`` object (other buffers are copied into one):
pickled and handed to the queue's feeder thread, which writes it into the
queue's pipe. ``maxsize`` bounds the messages in flight (0: unbounded, like
``multiprocessing.Queue``); only a bounded queue can be full, so only there
does ``send`` wait or time out. ``recv`` is what ``Queue.get`` does (take the
read lock, wait for data, read one message, release a slot), done by the
receiving end on its own copy of the pipe's read end: it holds no copy of the
write end, so the pipe itself reports when every sender is gone.

Closing and copies. An end closes when its last copy closes. For the
sender the kernel counts: each copy's ``close`` has its feeder thread write
out everything ``put`` buffered (``Queue.close`` and a join of the feeder,
so nothing is lost) and then closes its copy of the pipe's write end; when
no copy is left, or the processes holding them have died, the receiver reads
end-of-file after the last message and raises Closed. That end-of-file is the
end-of-stream marker: unlike a marker message it also comes when a sender is
killed. The receiver's copies are counted in shared memory (pid and start
time of each holder): ``send`` raises Closed once none is open, or, checked
every 100 ms and in every wait, once their processes are all dead (zombies
count as dead; without /proc they count as alive until reaped).

What multiprocessing.Queue cannot do, and so this transport does not:

- A message is committed when the feeder thread has written it, not when
  ``send`` returns: a sender killed right after ``send`` may lose the
  messages its feeder had not written yet (a sender that closes, or exits
  normally, loses none). The receiver gets every message that was written,
  then Closed.
- A sender killed in the middle of writing a big message (over 4 KiB, with
  the pipe full) leaves a partial one: the receiver gets Corrupt after the
  whole ones. A sender killed while holding the queue's write lock blocks
  the other copies of the sender for good; likewise the read lock.
- Pickling: endpoints go only to multiprocessing children, as Process
  arguments (spawn, forkserver) or by inheritance (fork); anywhere else,
  pickling raises RuntimeError (multiprocessing's rule for queues and locks).
  The default ``context="spawn"`` makes locks that children of every start
  method can use; a lock made with context="fork" cannot go to a spawned child.
- ``close`` of a sender waits until its feeder thread has written out what
  it buffered, so while the receiver lives but does not read, it waits (as
  ``Queue.join_thread`` does); if the receiver is gone it stops waiting.
- ``send`` does what ``Queue.put`` does, on the queue's own semaphore,
  condition and buffer, so that each step's result lands by C; an
  exception that a signal handler (Ctrl-C) raises inside multiprocessing's
  or threading's own Python code there (starting the feeder thread at the
  first put, or notifying it after the message is buffered) cannot lose it
  (at worst it waits for the next put or the close), but a first put so
  interrupted may leave the feeder half started.

Interrupts elsewhere lose nothing: the receiving end reads each frame with
:mod:`._queue_frames`, so a ``recv`` interrupted (or timed out) in the middle
of a message keeps what it read, and the read lock, for its next call or its
close; an exception leaving ``send`` says in ``sent`` whether the message was
put. An endpoint serves one call at a time, as on every transport: a call
that begins while another runs raises ConcurrentUse.

On Windows the queue's pipe is a message-mode named pipe (multiprocessing's
PipeConnection); the receiving end holds its own duplicate of the read
handle, reads it with overlapped reads, waits in slices of at most 50 ms
(so Ctrl-C is seen), and the
receivers' liveness comes from :mod:`._winprocess`. Only spawn exists there.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import multiprocessing.util
import os
import sys
import time
from itertools import starmap

from .._buffers import message_view, writable_view
from ..channel import (
    ChannelError,
    Closed,
    Deadline,
    MessageTooLarge,
    Receiver,
    Sender,
    Timeout,
    check_timeout,
    concurrent_use,
)
from . import _open_ends
from ._held import CountedSends, HeldMessages, copy_into
from ._queue_frames import QueueFrames
from ._stream import DEFAULT_MAX_MESSAGE_SIZE, check_max_message_size

_WINDOWS = sys.platform == "win32"
if _WINDOWS:
    import _winapi

    from ._queue_frames import WindowsQueueFrames
    from ._winprocess import HolderTable, me
else:
    from ._holders import HolderTable, me

ADDRESS = "queue:anonymous"
SLICE = 0.05  # seconds a blocked send or close waits before looking at the receiver again
RECEIVER_CHECK_INTERVAL = 0.1  # seconds between liveness checks of the receiver by send()


def pair(*, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE, maxsize: int = 0, context="spawn"):
    """A new queue: (Sender, Receiver)."""
    max_message_size = check_max_message_size(max_message_size)
    if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0:
        raise ValueError(f"maxsize must be an int >= 0 (messages in flight; 0: unbounded), got {maxsize!r}")
    ctx = context if isinstance(context, multiprocessing.context.BaseContext) else multiprocessing.get_context(context)
    q = ctx.Queue(maxsize)
    receivers = HolderTable(ctx)
    # The receiving end reads through its own copy of the read end; the queue's
    # own copies (read and write end) belong to the sender, which closes them.
    reader = _own_read_end(q._reader)
    holder = me()
    receivers.add(holder)
    rx = QueueReceiver(reader, q._rlock, q._sem, receivers, max_message_size, holder)
    tx = QueueSender(q, receivers, max_message_size, bounded=maxsize > 0)
    return tx, rx


def _own_read_end(conn):
    """A Connection on a duplicate of the read end of the queue's pipe."""
    if _WINDOWS:
        here = _winapi.GetCurrentProcess()
        handle = _winapi.DuplicateHandle(here, conn.fileno(), here, 0, False, _winapi.DUPLICATE_SAME_ACCESS)
        return multiprocessing.connection.PipeConnection(handle, writable=False)
    return multiprocessing.connection.Connection(os.dup(conn.fileno()), writable=False)


def _check_spawning(ep) -> None:
    if multiprocessing.context.get_spawning_popen() is None:
        raise RuntimeError(
            f"a queue endpoint can only be pickled as an argument of a multiprocessing Process being started "
            f"(multiprocessing.Queue's rule); to hand {type(ep).__name__} to a running process, use the pipe, "
            "socket or shm transport"
        )


class QueueSender(CountedSends, Sender):
    """Puts messages on a multiprocessing.Queue."""

    address = ADDRESS

    def __init__(self, q, receivers: HolderTable, max_message_size: int, *, bounded: bool):
        self._queue = q
        self._receivers = receivers
        self.max_message_size = max_message_size
        self._bounded = bounded
        self._next_check = 0.0
        self._put: list = []  # [None] once the current send's message is in the feeder's buffer: it was put
        self._place: list = []  # [True] while a place in the queue is taken for a message not yet buffered
        self._busy = False  # a call is running: one at a time (README: Reliability)
        self._sent_total = 0  # messages put, counted with no call after the put (CountedSends)
        _open_ends.add(self)

    def send(self, data, *, timeout=None) -> None:
        """Put one message. An exception leaving send carries ``sent``: 1 if
        the message was put (the feeder thread writes it), 0 if not."""
        if self._busy:
            raise concurrent_use("send", self.address)
        self._busy = True
        put = self._put
        put[:] = ()
        try:
            if self._closed:
                self._check_open("send")
            payload = data if type(data) is bytes else bytes(message_view(data))
            if len(payload) > self.max_message_size:
                raise MessageTooLarge(
                    f"a message of {len(payload)} bytes exceeds max_message_size {self.max_message_size} of "
                    f"{self.address}; pass a larger max_message_size to pair()"
                )
            timeout = check_timeout(timeout)
            self._check_receiver()
            if self._bounded:
                self._put_in_slices(payload, timeout)
            else:  # never blocks: the feeder thread buffers it
                self._put_within(payload, None)
        except BaseException as e:
            sent = 1 if put else 0
            self._sent_total += sent
            place = self._place
            if place:  # a place taken for this message: it holds the message, or goes back
                place[:] = ()
                if not sent:
                    self._queue._sem.release()
            try:  # set with no call: a second handler would run at a call and replace e
                e.sent = sent  # type: ignore[attr-defined]
            except AttributeError:
                pass
            raise
        finally:
            self._busy = False
        self._sent_total += 1

    def _check_receiver(self) -> None:
        if self._receivers.copies == 0:
            raise self._closed_error()
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + RECEIVER_CHECK_INTERVAL
            if not self._receivers.any_alive():
                raise self._closed_error()

    def _receiver_gone(self) -> bool:
        return self._receivers.copies == 0 or not self._receivers.any_alive()

    def _put_in_slices(self, payload: bytes, timeout) -> None:
        """A put into a bounded queue, looking at the receiver between slices of waiting."""
        deadline = Deadline(timeout)
        while True:
            left = deadline.remaining()
            if self._put_within(payload, SLICE if left is None else min(SLICE, left)):
                return
            if deadline.remaining() == 0:
                raise Timeout(f"send() on {self.address} timed out (the queue holds maxsize messages)")
            if self._receiver_gone():
                raise self._closed_error()

    def _put_within(self, payload: bytes, wait) -> bool:
        """multiprocessing.Queue.put(payload, True, wait), with what each step
        takes landing by C: the queue's place (``_place``), then the message in
        the feeder's buffer (``_put``); False if no place came within ``wait``."""
        q, place = self._queue, self._place
        if not place:  # (one left by an interrupted send is used again)
            place.extend(filter(None, starmap(q._sem.acquire, ((True, wait),))))
            if not place:
                return False
        with q._notempty._lock:  # the Condition's own lock, whose C __enter__ no handler can split from the with
            if q._thread is None:
                q._start_thread()
            self._put.extend(map(q._buffer.append, (payload,)))  # buffered: the feeder thread writes it
            place[:] = ()
            q._notempty.notify()
        return True

    def _closed_error(self) -> Closed:
        return Closed(f"the receiver of {self.address} closed or died")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _open_ends.discard(self)
        q = self._queue
        q.close()  # the feeder thread writes out what put() buffered, then closes its pipe ends
        try:
            self._wait_for_feeder(q)
        finally:
            q._reader.close()  # if the feeder never ran, nothing else closes this copy's pipe ends
            q._writer.close()

    def _wait_for_feeder(self, q) -> None:
        """Queue.join_thread(), but giving up once the receiver is gone (it would wait for ever)."""
        thread = getattr(q, "_thread", None)
        while thread is not None and thread.is_alive():
            thread.join(SLICE)
            if thread.is_alive() and self._receiver_gone():
                q.cancel_join_thread()
                return

    def __reduce__(self):
        self._check_open("pickle")
        _check_spawning(self)
        return (_rebuild_sender, (self._queue, self._receivers, self.max_message_size, self._bounded))


def _rebuild_sender(q, receivers, max_message_size, bounded):
    return QueueSender(q, receivers, max_message_size, bounded=bounded)


class QueueReceiver(HeldMessages, Receiver):
    """Gets messages from a multiprocessing.Queue's pipe, as Queue.get does,
    but reading each frame with :class:`._queue_frames.QueueFrames`, which an
    exception (a timeout, a signal handler's) never makes lose a message."""

    address = ADDRESS

    def __init__(self, reader, rlock, slots, receivers: HolderTable, max_message_size: int, holder):
        self._reader = reader  # a multiprocessing Connection: the read end of the queue's pipe
        self._rlock = rlock  # the queue's read lock: one whole message per reader at a time
        self._slots = slots  # the queue's semaphore of free places; a get gives one back
        self._receivers = receivers
        self._holder = holder  # this copy's entry in receivers
        self._fork_origin = None
        self._held: list = []  # messages an interrupted recv_many took, delivered first
        self._busy = False  # a call is running: one at a time (README: Reliability), tested and set with no call between
        self.max_message_size = max_message_size
        if not _WINDOWS:
            os.set_blocking(reader.fileno(), False)  # the frames wait with poll() (every copy of the read end does)
        frames = WindowsQueueFrames if _WINDOWS else QueueFrames
        self._frames = frames(reader.fileno(), rlock, slots, self.address, max_message_size)
        _open_ends.add(self)

    def recv(self, *, timeout=None) -> bytes:
        if self._busy:
            raise concurrent_use("recv", self.address)
        self._busy = True
        try:
            held = self._held
            if held:
                message = held[0]  # taken by an interrupted recv_many: it comes first
                del held[0]
                return message
            if self._closed:
                self._check_open("recv")
            frames = self._frames
            frames.fetch(Deadline(timeout))
            message, frames.whole = frames.whole, None  # taken: no call from here to the return
            return message
        finally:
            self._busy = False

    def recv_into(self, buffer, *, timeout=None) -> int:
        if self._busy:
            raise concurrent_use("recv_into", self.address)
        self._busy = True
        try:
            target = writable_view(buffer)
            held = self._held
            if held:
                size = copy_into(target, held[0])
                del held[0]  # no call from here to the return: a handler cannot drop it
                return size
            if self._closed:
                self._check_open("recv_into")
            frames = self._frames
            frames.fetch(Deadline(timeout))
            size = copy_into(target, frames.whole)
            frames.whole = None
            return size
        finally:
            self._busy = False

    def _take_batch(self, batch: list, max_n: int, timeout) -> None:
        """Append up to ``max_n`` messages to ``batch``, waiting only for the
        first (a loop of its own: see HeldMessages)."""
        if self._closed:
            self._check_open("recv_many")
        deadline = Deadline(timeout)
        frames = self._frames
        while len(batch) < max_n:
            try:
                frames.fetch(deadline)
            except (Timeout, Closed):
                if not batch:
                    raise
                return
            except ChannelError as e:  # the messages before it are delivered first
                if not batch:
                    raise
                self._deferred_error = e
                return
            message, frames.whole = frames.whole, None
            batch.append(message)  # the message is in batch before a handler can run
            deadline = _NOW

    def close(self) -> None:
        if self._closed:
            return
        self._frames.finish()  # the rest of a frame begun, and the read lock given back
        self._closed = True
        _open_ends.discard(self)
        self._receivers.remove(self._holder)
        self._reader.close()

    def __reduce__(self):
        self._check_open("pickle")
        _check_spawning(self)
        if self._held or self._frames.whole is not None:
            raise ChannelError(
                f"{self.address} holds a message that an interrupted call took; receive it before pickling"
            )
        holder = me()
        self._receivers.add(holder)  # counts from now, under this process until the child takes it over
        return (_rebuild_receiver, (self._reader, self._rlock, self._slots, self._receivers,
                                    self.max_message_size, holder))


_NOW = Deadline(0)  # a deadline already passed: take only what is there


def _rebuild_receiver(reader, rlock, slots, receivers, max_message_size, origin):
    holder = me()
    receivers.hand_over(origin, holder)
    return QueueReceiver(reader, rlock, slots, receivers, max_message_size, holder)


# ---- copies across fork(), and closing at exit -----------------------------------

def _receivers_open():
    return _open_ends.of_type(QueueReceiver)


def _before_fork():
    for ep in _receivers_open():
        ep._fork_origin = me()
        ep._receivers.add(ep._fork_origin)  # the child's copy, counted before it exists


def _after_fork_in_parent():
    for ep in _receivers_open():
        ep._fork_origin = None


def _after_fork_in_child():
    holder = me()
    for ep in _receivers_open():
        if ep._fork_origin is not None:
            ep._receivers.hand_over(ep._fork_origin, holder)
            ep._holder, ep._fork_origin = holder, None
        ep._frames.forget()  # a frame half read, a message taken, the read lock: the parent's
        ep._held.clear()  # the parent's to deliver; copied here they would arrive twice


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
