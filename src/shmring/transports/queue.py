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
- Ctrl-C that lands while ``recv`` is in the middle of reading one message
  (not while waiting for one) leaves the pipe mid-message, as with
  ``Queue.get``.

On Windows the queue's pipe is a named pipe (multiprocessing's
PipeConnection); the receiving end holds its own duplicate of the read
handle, waits in slices of at most 50 ms (so Ctrl-C is seen), and the
receivers' liveness comes from :mod:`._winprocess`. Only spawn exists there.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import multiprocessing.util
import os
import queue as _queue
import sys
import time
from multiprocessing.reduction import ForkingPickler

from .._buffers import message_view, writable_view
from ..channel import (
    BufferTooSmall,
    Closed,
    Corrupt,
    Deadline,
    MessageTooLarge,
    Receiver,
    Sender,
    Timeout,
    check_timeout,
)
from . import _open_ends
from ._stream import DEFAULT_MAX_MESSAGE_SIZE, check_max_message_size

_WINDOWS = sys.platform == "win32"
if _WINDOWS:
    import _winapi

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


class QueueSender(Sender):
    """Puts messages on a multiprocessing.Queue."""

    address = ADDRESS

    def __init__(self, q, receivers: HolderTable, max_message_size: int, *, bounded: bool):
        self._queue = q
        self._receivers = receivers
        self.max_message_size = max_message_size
        self._bounded = bounded
        self._next_check = 0.0
        _open_ends.add(self)

    def send(self, data, *, timeout=None) -> None:
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
        else:
            self._queue.put(payload)  # never blocks: the feeder thread buffers it

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
            try:
                self._queue.put(payload, True, SLICE if left is None else min(SLICE, left))
                return
            except _queue.Full:
                pass
            if deadline.remaining() == 0:
                raise Timeout(f"send() on {self.address} timed out (the queue holds maxsize messages)")
            if self._receiver_gone():
                raise self._closed_error()

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


class QueueReceiver(Receiver):
    """Gets messages from a multiprocessing.Queue's pipe, as Queue.get does."""

    address = ADDRESS

    def __init__(self, reader, rlock, slots, receivers: HolderTable, max_message_size: int, holder):
        self._reader = reader  # a multiprocessing Connection: the read end of the queue's pipe
        self._rlock = rlock  # the queue's read lock: one whole message per reader at a time
        self._slots = slots  # the queue's semaphore of free places; a get gives one back
        self._receivers = receivers
        self._holder = holder  # this copy's entry in receivers
        self._fork_origin = None
        self._held = None  # a message recv_into() had no room for
        self.max_message_size = max_message_size
        _open_ends.add(self)

    def recv(self, *, timeout=None) -> bytes:
        if self._closed:
            self._check_open("recv")
        if self._held is not None:
            data, self._held = self._held, None
            return data
        return self._get(check_timeout(timeout))

    def recv_into(self, buffer, *, timeout=None) -> int:
        target = writable_view(buffer)
        data = self.recv(timeout=timeout)
        if len(data) > len(target):
            self._held = data
            raise BufferTooSmall(
                f"recv_into() got a buffer of {len(target)} bytes for a message of {len(data)}; "
                "it stays queued: call again with a larger buffer",
                len(data),
            )
        target[:len(data)] = data
        return len(data)

    def _get(self, timeout) -> bytes:
        """Queue.get(): without a timeout a plain blocking read, else lock and poll within the timeout."""
        if timeout is None and not _WINDOWS:  # (Windows: a blocking read would not see Ctrl-C)
            with self._rlock:
                raw = self._read_one()
                self._slots.release()
        else:
            raw = self._get_within(timeout)
        data = ForkingPickler.loads(raw)
        if type(data) is not bytes or len(data) > self.max_message_size:
            raise Corrupt(f"{self.address}: got a {type(data).__name__} that no shmring sender puts")
        return data

    def _get_within(self, timeout: float | None) -> bytes:
        deadline = Deadline(timeout)
        if not self._rlock.acquire(True, timeout):
            raise self._timeout()
        try:
            if not (self._poll_in_slices(deadline) if _WINDOWS else self._reader.poll(deadline.remaining())):
                raise self._timeout()
            raw = self._read_one()
            self._slots.release()
        finally:
            self._rlock.release()
        return raw

    def _poll_in_slices(self, deadline) -> bool:
        """Windows: Connection.poll in slices of at most SLICE (the waits there do not return for Ctrl-C)."""
        while True:
            left = deadline.remaining()
            try:
                if self._reader.poll(SLICE if left is None else min(SLICE, left)):
                    return True
            except BrokenPipeError:
                return True  # every sender is gone: the read says Closed
            except InterruptedError:
                pass  # Ctrl-C woke the wait: its handler runs now
            if left is not None and deadline.remaining() == 0:
                return False

    def _read_one(self) -> bytes:
        try:
            return self._reader.recv_bytes()
        except EOFError:
            raise Closed(
                f"the sender of {self.address} closed or died, and every message it wrote was received"
            ) from None
        except OSError as e:  # "got end of file during message"
            raise Corrupt(
                f"{self.address}: the pipe ended in the middle of a message ({e}): a sender died while "
                "writing it; every message before it was received"
            ) from None

    def _timeout(self) -> Timeout:
        return Timeout(f"recv() on {self.address} timed out")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _open_ends.discard(self)
        self._receivers.remove(self._holder)
        self._reader.close()

    def __reduce__(self):
        self._check_open("pickle")
        _check_spawning(self)
        holder = me()
        self._receivers.add(holder)  # counts from now, under this process until the child takes it over
        return (_rebuild_receiver, (self._reader, self._rlock, self._slots, self._receivers,
                                    self.max_message_size, holder))


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


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
