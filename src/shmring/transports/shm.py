"""The shared-memory transport: the C ring of csrc/, bound with cffi.

Hot paths first make one non-blocking C call that keeps the GIL
(``_fastpath``): ``send`` passes a ``bytes`` object's own memory to C (other
buffers through ``ffi.from_buffer``); ``recv`` copies into a reusable scratch
buffer and builds the ``bytes`` from it. Only when that would block do they
call ``_core``, which releases the GIL and waits in C for at most one slice
(50 ms) at a time, so Python can run signal handlers (Ctrl-C) between
slices and the channel stays usable.

Interrupts: CPython runs signal handlers as a C call returns, before the
caller has stored its result. A KeyboardInterrupt raised there must not
drop a message the call took out of the ring, nor hide that a send went
out. So every C call records its result in the endpoint's call struct too
(src/shmring/_calls.h), and the ``except BaseException`` right around it
reads the record back: a receiver keeps what the interrupted call took in
``_held`` and delivers it first next time; an exception leaving a send
carries ``sent`` (channel.note_sent). Between such a call and the return to
the caller there is no other call (nor, for CPython 3.10, a jump taken:
its handlers run there too), so no other place a handler could run;
and the ``except`` clauses make no call before the message is safe (a
second signal would run its handler at the first one).

Threads: an endpoint serves one call at a time. Its calls are closures that
share one cell, ``busy``, tested and set with no call in between, so the GIL
makes that atomic; a second call meanwhile raises ConcurrentUse and changes
nothing.

Copies of an end: pickling an endpoint counts a new copy at once (so a
parent may close its own right after ``Process.start()``); the process that
unpickles it takes the copy over. ``os.fork()`` does the same for every open
endpoint. An end closes when its last copy closes or its holders all die.
"""

from __future__ import annotations

import errno
import io
import itertools
from itertools import starmap
import os
import re
import secrets
import sys
import time
import weakref

from .._core import ffi, lib
from . import _batches, _open_ends
from .._fastpath import ffi as fastffi, lib as fastlib
from ..channel import (
    AlreadyExists,
    BufferTooSmall,
    ChannelError,
    Closed,
    ConcurrentUse,
    Corrupt,
    ForeignSegment,
    IncompatibleVersion,
    InUse,
    MessageTooLarge,
    NotFound,
    Receiver,
    Sender,
    Timeout,
    MAX_TIMEOUT,
    as_batch,
    check_count,
    check_direction,
    check_timeout,
    concurrent_use,
    monotonic,
    note_sent as _note_sent,
)

DEFAULT_CAPACITY = 1 << 20
DEFAULT_SLOTS = 4096
DEFAULT_SLOT_SIZE = 256
DEFAULT_SPIN_US = 50
DEFAULT_CLAIM_TIMEOUT = 0.1  # seconds an MPMC slot may stay claimed before we ask if its claimer died
SLICE_NS = 50_000_000
# Before a blocking wait, recv polls in C this long with the GIL held (other
# threads wait no longer than that): a reply due that soon then costs no GIL
# hand-off and no trip through the slow path, which is most of a round trip's
# time. Not with spin_us=0, which asks to park at once.
POLL_NS = 4_000
SCRATCH_BYTES = 64 * 1024
BATCH_BYTES = 256 * 1024  # recv_many copies a batch into this much (MPMC: at least one slot)
NOT_READY_WAIT = 2.0  # seconds open() waits for a creator to finish initialising
ANONYMOUS = "shm:anonymous"  # the address of a pair() ring with no name (Linux: a sealed memfd)
# Linux: pair() rings live in sealed memfds, which nobody can shrink (README:
# Truncation). SHMRING_NAMED_PAIRS=1 makes them named segments as elsewhere.
_SEALED_PAIRS = sys.platform.startswith("linux") and os.environ.get("SHMRING_NAMED_PAIRS") != "1"

_SENDER = lib.SHMRING_ROLE_SENDER
_RECEIVER = lib.SHMRING_ROLE_RECEIVER
_SPSC = lib.SHMRING_KIND_SPSC
_MPMC = lib.SHMRING_KIND_MPMC
_MODES = {"spsc": _SPSC, "mpmc": _MPMC}
_EAGAIN = lib.SHMRING_EAGAIN
_ENOBUFS = lib.SHMRING_ENOBUFS
_KEEP_WAITING = (lib.SHMRING_EINTR, lib.SHMRING_ETIMEDOUT)
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,%d}" % (lib.SHMRING_NAME_MAX - 1))

class _Calls:
    """The C calls of one kind of ring: a try that keeps the GIL, and a
    blocking call that releases it."""

    def __init__(self, prefix):
        # Each takes a call struct (src/shmring/_calls.h) that also records
        # its result: see "Interrupts" below.
        self.try_send = getattr(fastlib, f"shmring_{prefix}_try_send")
        self.try_recv = getattr(fastlib, f"shmring_{prefix}_try_recv")
        self.poll_recv = getattr(fastlib, f"shmring_{prefix}_poll_recv")  # one argument: shmring_recv_call
        self.send = getattr(lib, f"shmring_{prefix}_wait_send")
        self.recv = getattr(lib, f"shmring_{prefix}_wait_recv")
        self.send_many = getattr(lib, f"shmring_{prefix}_send_many")
        self.recv_many = getattr(lib, f"shmring_{prefix}_wait_recv_many")


_CALLS = {_SPSC: _Calls("spsc"), _MPMC: _Calls("mpmc")}


def _call_in_slices(call, timeout):
    """Call ``call(slice_ns)`` until it returns a final result.

    Between slices the interpreter runs pending signal handlers, so Ctrl-C
    raises KeyboardInterrupt here with nothing sent or received. Callers
    have checked ``timeout`` (check_timeout) before their first try.
    """
    if timeout is None:
        rc = call(SLICE_NS)
        while rc in _KEEP_WAITING:
            rc = call(SLICE_NS)
        return rc
    end = monotonic() + timeout
    while True:
        left_ns = int((end - monotonic()) * 1e9)
        if left_ns <= 0:
            rc = call(0)  # one last try that never blocks
            return lib.SHMRING_ETIMEDOUT if rc == _EAGAIN else rc
        rc = call(min(left_ns, SLICE_NS))
        if rc not in _KEEP_WAITING:
            return rc


def _error(rc: int, address: str, what: str = "", trust=None) -> Exception:
    """The exception for a C error code (``trust``: what the failed open trusted)."""
    name = address.removeprefix("shm://")
    if rc == lib.SHMRING_EFOREIGN and address == ANONYMOUS:
        return ForeignSegment(
            f"{address}: the descriptor handed over is not a sealed ring of this user's alone (made by "
            "shmring.pair() on Linux); shmring mapped nothing. Hand on the endpoint itself (pickle it), "
            "not a descriptor of another file"
        )
    if rc == lib.SHMRING_EFOREIGN:
        return _foreign(name, trust)
    if rc in (lib.SHMRING_ETIMEDOUT, _EAGAIN):
        return Timeout(f"{what}() on {address} timed out")
    if rc == lib.SHMRING_ECLOSED:
        if what.startswith("send"):
            return Closed(f"the receiver of {address} closed or died")
        return Closed(f"the sender of {address} closed or died, and every message it sent was received")
    if rc == lib.SHMRING_ECORRUPT:
        return Corrupt(
            f"{address}: the segment holds impossible values (a buggy or hostile process wrote to it); "
            "close both ends and create a new ring"
        )
    if rc == lib.SHMRING_ENOENT:
        return NotFound(f"no shared-memory ring named {name!r}; create it with create=True")
    if rc == lib.SHMRING_EEXIST:
        return AlreadyExists(
            f"a shared-memory segment named {name!r} already exists; open it without create=True, "
            f"or remove a leftover with shmring.unlink({address!r})"
        )
    if rc == lib.SHMRING_ENOTSHMRING:
        return Corrupt(f"the shared-memory segment {name!r} is not a shmring segment")
    if rc == lib.SHMRING_EVERSION:
        return IncompatibleVersion(
            f"{address} was made by a shmring with another memory layout; use the same shmring version on both sides"
        )
    if rc == lib.SHMRING_ENOTREADY:
        return ChannelError(
            f"{address} exists but its creator never finished initialising it (it may have died); "
            f"remove it with shmring.unlink({address!r})"
        )
    if rc == lib.SHMRING_EINUSE:
        return InUse(
            f"that end of {address} is already held by a live process (an spsc ring has one sender and one "
            "receiver; use mode='mpmc' for many)"
        )
    if rc == lib.SHMRING_EENDCLOSED:
        return Closed(f"that end of {address} was closed for good; an end cannot be reopened, create a new ring")
    if rc == lib.SHMRING_EKIND:
        return ChannelError(f"{address} holds another kind of ring: open it with the other mode ('spsc' or 'mpmc')")
    if rc == lib.SHMRING_ENOSPACE:
        where = ("the commit limit (RAM + paging file) is reached" if sys.platform == "win32"
                 else "/dev/shm full? Docker: --shm-size")
        return OSError(
            errno.ENOSPC,
            f"no room for the segment of {address} in shared memory ({where}); "
            "free memory or use a smaller capacity",
        )
    if rc == lib.SHMRING_ESYS:
        return OSError(ffi.errno, f"{os.strerror(ffi.errno)} ({address})")
    return ChannelError(f"{address}: {ffi.string(lib.shmring_strerror(rc)).decode()}")


def _c_buffer(data):
    """A C view of any C-contiguous buffer, without copying it."""
    if isinstance(data, str):
        raise TypeError("send() takes bytes-like data, not str; encode it first")
    try:
        return ffi.from_buffer(data)
    except TypeError:
        raise TypeError(
            f"send() takes a C-contiguous bytes-like object (bytes, bytearray, memoryview, numpy array), "
            f"not {type(data).__name__}"
        ) from None
    except (BufferError, ValueError) as e:
        raise ValueError(f"send() needs a C-contiguous buffer: {e}; copy it first (bytes(x) or numpy.ascontiguousarray)") from None


def _writable(buffer):
    try:
        return ffi.from_buffer(buffer, require_writable=True)
    except (TypeError, BufferError, ValueError):
        raise TypeError(
            f"recv_into() needs a writable C-contiguous buffer (bytearray, memoryview, numpy array), "
            f"not {type(buffer).__name__}"
        ) from None


# ---- copies of endpoints across fork() --------------------------------------

_children_before_fork: set | None = None


def _before_fork():
    global _children_before_fork
    _children_before_fork = None
    for ep in _open_ends.of_type(_ShmEndpoint):
        ep._fork_origin = ep._export() if not ep._closed else None
        if ep._fork_origin is not None and _children_before_fork is None:
            _children_before_fork = _children_of_this_thread()


def _after_fork_in_parent():
    # The copies counted before the fork are the child's now: hand them to it,
    # so that its death before its own at-fork hook runs closes the ends.
    child = _forked_child(_children_before_fork)
    for ep in _open_ends.of_type(_ShmEndpoint):
        origin, ep._fork_origin = ep._fork_origin, None
        if origin is not None and child is not None:
            lib.shmring_export_to(ep._h, origin, child)


def _children_of_this_thread() -> set | None:
    """Linux: the pids of the processes this thread started, or None where the kernel does not say."""
    try:
        with io.open("/proc/thread-self/children") as f:  # (this module has an open() of its own)
            return {int(pid) for pid in f.read().split()}
    except (OSError, ValueError):
        return None


def _forked_child(before: set | None) -> int | None:
    """The child that fork() just made: the one new pid among this thread's children."""
    if before is None:
        return None
    after = _children_of_this_thread()
    new = set() if after is None else after - before
    return new.pop() if len(new) == 1 else None


def _after_fork_in_child():
    for ep in _open_ends.of_type(_ShmEndpoint):
        if isinstance(ep, ShmReceiver):
            ep._held.clear()  # the parent's to deliver; copied here they would arrive twice
        ep._reset_busy()  # a call of another thread of the parent: that thread is not here
        origin, ep._fork_origin = ep._fork_origin, None
        if origin is not None and lib.shmring_adopt_after_fork(ep._h, origin) != 0:
            ep._closed = True  # the child could not join; its copy stays unusable


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
    )


# ---- endpoints ----------------------------------------------------------------


class _ShmEndpoint:
    """State shared by the shm Sender and Receiver, of either kind of ring."""

    _role: int

    def _setup(self, handle, name: str, spin_us: float, claim_timeout: float):
        self._h = ffi.gc(handle, lib.shmring_free)
        self._name = name
        self._kind = lib.shmring_kind_of(handle)
        self._calls = _CALLS[self._kind]
        self._spin_us = spin_us
        self._claim_timeout = claim_timeout
        self._fork_origin = None
        self._in_transit: list = []  # (Popen, origin) of copies pickled for a child that Process.start() starts
        self.address = ANONYMOUS if name is None else f"shm://{name}"
        self.mode = "spsc" if self._kind == _SPSC else "mpmc"
        self.capacity = lib.shmring_capacity(handle)  # SPSC: bytes; MPMC: slots
        self.max_message_size = lib.shmring_max_message_size(handle)
        lib.shmring_set_spin(handle, int(spin_us * 1000))
        lib.shmring_set_claim_timeout(handle, int(claim_timeout * 1e9))
        _open_ends.add(self)

    def close(self) -> None:
        if not self._closed:
            self._hand_over()
            self._closed = True
            _open_ends.discard(self)
            lib.shmring_close(self._h)  # memory goes when the handle is collected

    def stats(self) -> dict:
        """MPMC: claims of dead processes taken back (see docs)."""
        info = ffi.new("shmring_info *")  # the handle's mapping lives until it is freed, closed or not
        lib.shmring_inspect_handle(self._h, info)
        return {"recovered_writes": info.recovered_writes, "recovered_reads": info.recovered_reads}

    def _export(self):
        origin = ffi.new("shmring_origin *")
        rc = lib.shmring_export(self._h, origin)
        if rc != 0:
            raise _error(rc, self.address, "pickle")
        return origin

    def _export_for_pickle(self) -> tuple:
        """Export a copy; one pickled for a child that Process.start() starts
        is handed to that child once its pid is known (now on Windows, which
        starts the child first; elsewhere at the next pickle or at close), so
        that the child's death before it unpickles closes the end."""
        from multiprocessing.context import get_spawning_popen  # loaded by whoever pickles for a child

        origin = self._export()
        popen = get_spawning_popen()
        if popen is not None:
            self._in_transit.append((popen, origin))
        self._hand_over()  # this copy, where the child exists already, and those of earlier pickles
        return (origin.pid, origin.holder, origin.start_time, origin.tag)

    def _hand_over(self) -> None:
        """Count each copy in transit to a started child under that child."""
        if not self._in_transit:
            return
        waiting = []
        for popen, origin in self._in_transit:
            pid = getattr(popen, "pid", None)
            if pid:
                lib.shmring_export_to(self._h, origin, pid)
            else:
                waiting.append((popen, origin))
        self._in_transit = waiting

    def __reduce__(self):
        self._check_open("pickle")
        if self._name is None:
            return self._reduce_sealed()
        return (_rebuild, (self._role, self._name, self._export_for_pickle(), self._spin_us,
                           self._claim_timeout, getattr(self, "_trust", None)))

    def _reduce_sealed(self):
        """A ring with no name travels as a descriptor: inherited by a child
        that Process.start() spawns, else served to the unpickler by this
        process (multiprocessing.reduction.DupFd, as multiprocessing hands
        on sockets), which must then still run."""
        from multiprocessing.reduction import DupFd

        fd = DupFd(lib.shmring_fd(self._h))  # first: if this fails, no copy is counted
        return (_rebuild_sealed, (self._role, fd, self._export_for_pickle(), self._spin_us, self._claim_timeout))

    def _raise(self, rc: int, what: str):
        self._check_open(what)
        raise _error(rc, self.address, what)

    def _concurrent(self, what: str) -> ConcurrentUse:
        return concurrent_use(what, self.address)


def _core_view(fast_struct, ctype: str):
    """The same process-local struct, typed for _core's calls (the two cffi
    modules do not share struct types)."""
    return ffi.cast(ctype, int(fastffi.cast("uintptr_t", fast_struct)))


class ShmSender(_ShmEndpoint, Sender):
    """Sends into a shared-memory ring (SPSC or MPMC)."""

    _role = _SENDER

    def _setup(self, handle, name, spin_us, claim_timeout):
        super()._setup(handle, name, spin_us, claim_timeout)
        self._try_send = self._calls.try_send
        # One struct for the try and the waits: its `outcome` is 0 once the message went.
        self._send_call = fastffi.new("shmring_send_call *", {"ring": ffi.cast("void *", handle), "outcome": -1})
        self._wait_call = _core_view(self._send_call, "shmring_send_call *")
        self._sent = ffi.new("size_t *")
        self.send, self.send_many, self._reset_busy = _sender_calls(self)

    def send(self, data, *, timeout=None) -> None:
        """Send one message: any C-contiguous buffer, all or nothing.

        An exception leaving send (Timeout, Closed, KeyboardInterrupt...)
        carries ``sent``: 1 if the message went whole, 0 if not at all.

        (Each endpoint shadows this method with a closure: see _sender_calls.)"""
        self.__dict__["send"](data, timeout=timeout)

    def _send_slowly(self, data, timeout, rc: int):
        """After a try that did not send (rc): wait for room, unless the try
        already said all there is to say."""
        call, n, send = self._wait_call, len(data), self._calls.send
        if rc == _EAGAIN and timeout != 0:
            rc = _call_in_slices(lambda ns: send(call, data, n, ns), timeout)
        if rc != 0:
            self._raise_send(rc, "send", n)

    def _raise_send(self, rc: int, what: str, size: int):
        if rc == lib.SHMRING_ETOOBIG:
            bigger = "capacity (max_message_size = capacity/2 - 8)" if self._kind == _SPSC else "slot_size"
            raise MessageTooLarge(
                f"a message of {size} bytes exceeds max_message_size {self.max_message_size} of {self.address}; "
                f"use a ring with a larger {bigger}"
            )
        self._raise(rc, what)

    def send_many(self, messages, *, timeout=None) -> None:
        """Send every message, in order: as many as fit in one C call and one
        publication, then wait for room for the rest. An exception leaving it
        (Timeout, KeyboardInterrupt...) carries ``sent``: how many went whole
        (none of the others did); a message over max_message_size fails the
        batch first.

        (Each endpoint shadows this method with a closure: see _sender_calls.)"""
        self.__dict__["send_many"](messages, timeout=timeout)

    def _send_many(self, messages, timeout, done: list) -> None:
        if timeout is not None:
            check_timeout(timeout)
        messages = as_batch(messages)
        if not messages:
            self._check_open("send_many")
            return
        data, lens = _batches.pack(messages)
        h, send_many, sent = self._h, self._calls.send_many, self._sent
        data_c, lens_c = ffi.from_buffer(data), ffi.from_buffer("uint64_t[]", lens)
        rc = send_many(h, data_c, len(data), lens_c, len(lens), 0, sent)
        if rc == 0:
            return  # it all fitted
        offset = 0

        def call(ns):  # each call goes on where the last stopped
            nonlocal offset
            step = sum(itertools.islice(lens, done[0], done[0] + sent[0]))
            # one statement with no call in it: a signal handler cannot count a batch twice or not at all
            offset, done[0], sent[0] = offset + step, done[0] + sent[0], 0
            return send_many(h, data_c + offset, len(data) - offset, lens_c + done[0], len(lens) - done[0], ns, sent)

        if rc == _EAGAIN and timeout != 0:  # room for part of it, or none: wait for the rest
            rc = _call_in_slices(call, timeout)
        if rc == lib.SHMRING_ETOOBIG:
            self._raise_send(rc, "send_many", max(lens))
        if rc != 0:
            self._raise(rc, "send_many")


_NO_ARGUMENTS = ((),)  # starmap(f, _NO_ARGUMENTS): f() once, called from C
# What _held holds: bytes, or a batch mark (n,): the n messages recv_many took
# still lie in the batch buffer (nothing overwrites it before _held is empty).


class ShmReceiver(_ShmEndpoint, Receiver):
    """Receives from a shared-memory ring (SPSC or MPMC)."""

    _role = _RECEIVER

    def _setup(self, handle, name, spin_us, claim_timeout):
        super()._setup(handle, name, spin_us, claim_timeout)
        self._try_recv = self._calls.try_recv
        self._poll_recv = self._calls.poll_recv
        # SPSC copies larger messages straight out of the ring (peek); an
        # MPMC slot is claimed and copied at once, so its scratch holds a slot.
        self._scratch_len = min(SCRATCH_BYTES, self.max_message_size) if self._kind == _SPSC else self.max_message_size
        self._scratch = ffi.new("char[]", max(1, self._scratch_len))
        self._scratch_bytes = ffi.buffer(self._scratch)  # slicing it makes bytes: cheaper than ffi.unpack
        # recv's arguments, set once; timeout 0 must not poll. The waits have a
        # struct of their own, so its record is only ever theirs.
        call = {"ring": ffi.cast("void *", handle), "buf": self._scratch, "cap": self._scratch_len, "taken": -1}
        self._polling_call = fastffi.new("shmring_recv_call *", {**call, "poll_ns": POLL_NS if spin_us > 0 else 0})
        self._try_call = fastffi.new("shmring_recv_call *", {**call, "poll_ns": 0})
        self._wait_call = ffi.new("shmring_recv_call *", {**call, "poll_ns": 0})
        self._held = []  # messages an interrupted call took out of the ring: delivered first
        self._peeked = None  # a large SPSC message copied out of the ring before its consume
        self._peek_ptr = ffi.new("void **")
        self._peek_len = ffi.new("size_t *")
        self._batch_len = max(BATCH_BYTES, self.max_message_size) if self._kind == _MPMC else BATCH_BYTES
        self._batch = None  # made on first recv_many
        self._lens = ffi.new("uint64_t[]", 1)
        self.recv, self.recv_into, self.recv_many, self._iterate, self._reset_busy = _receiver_calls(self)

    def __reduce__(self):
        if self._held:
            raise ChannelError(
                f"this receiver of {self.address} holds {len(self._held)} message(s) that an interrupted call "
                "took out of the ring; receive them before passing the receiver to another process"
            )
        return super().__reduce__()

    def recv(self, *, timeout=None) -> bytes:
        """Receive the next message.

        (Each endpoint shadows this method with a closure: see _receiver_calls.)"""
        return self.__dict__["recv"](timeout=timeout)

    def _first_held(self):
        """The first held message (a batch mark is split into its messages first)."""
        held = self._held
        if type(held[0]) is tuple:
            held[0:1] = _batches.split(self._batch_bytes, self._lens, held[0][0])  # one step: nothing lost
        return held[0]

    def _recv_slowly(self, timeout, n: int) -> bytes:
        """After a try (and poll) that found nothing or failed (n)."""
        call, scratch, cap, recv = self._wait_call, self._scratch, self._scratch_len, self._calls.recv
        if n == _EAGAIN and timeout != 0:
            n = _call_in_slices(lambda ns: recv(call, scratch, cap, ns), timeout)
        if n >= 0:
            return self._scratch_bytes[:n]
        if n == _ENOBUFS and self._kind == _SPSC:
            return self._recv_large()
        self._raise(n, "recv")

    def _recv_large(self) -> bytes:
        """SPSC: a message larger than the scratch, known to be next, copied
        straight out of the ring into its bytes."""
        h = self._h
        rc = lib.shmring_spsc_peek(h, self._peek_ptr, self._peek_len, 0)
        if rc == 0:
            data = ffi.unpack(ffi.cast("char *", self._peek_ptr[0]), self._peek_len[0])
            self._peeked = data  # what is kept if the consume is interrupted
            rc = lib.shmring_spsc_consume_call(self._wait_call)
            if rc == 0:
                return data
            self._peeked = None
        self._raise(rc, "recv")

    def __iter__(self):
        """Each message until Closed (see iterate in _receiver_calls)."""
        return self.__dict__["_iterate"]()

    def recv_into(self, buffer, *, timeout=None) -> int:
        """Receive the next message into ``buffer``; its length.

        (Each endpoint shadows this method with a closure: see _receiver_calls.)"""
        return self.__dict__["recv_into"](buffer, timeout=timeout)

    def recv_many(self, max_n: int, *, timeout=None) -> list:
        """Wait for one message, then take up to max_n of those already there
        in the same C call (one tail update for the batch).

        (Each endpoint shadows this method with a closure: see _receiver_calls.)"""
        return self.__dict__["recv_many"](max_n, timeout=timeout)

    def _recv_into_slowly(self, buf, cap: int, timeout, n: int) -> int:
        """recv_into after a try that found nothing or failed (n)."""
        if n == _EAGAIN and timeout != 0:
            call, recv = self._wait_call, self._calls.recv
            n = _call_in_slices(lambda ns: recv(call, buf, cap, ns), timeout)
        if n >= 0:
            return n
        if n == _ENOBUFS:
            needed = lib.shmring_needed(self._h)
            raise BufferTooSmall(
                f"recv_into() got a buffer of {cap} bytes for a message of {needed}; "
                "it stays queued: call again with a larger buffer",
                needed,
            )
        self._raise(n, "recv_into")

    def _too_small(self, message, target) -> BufferTooSmall:
        return BufferTooSmall(
            f"recv_into() got a buffer of {len(target)} bytes for a message of {len(message)}; "
            "it stays queued: call again with a larger buffer",
            len(message),
        )

    def _recv_many(self, max_n: int, timeout, call) -> list:
        # No more can be there than the ring holds: records take 8 bytes at least.
        max_n = min(max_n, self.capacity // 8 if self._kind == _SPSC else self.capacity)
        if self._batch is None:
            batch = ffi.new("char[]", self._batch_len)
            self._batch_bytes, self._batch = ffi.buffer(batch), batch  # both or neither, even if interrupted
        if len(self._lens) < max_n:
            self._lens = ffi.new("uint64_t[]", max_n)
        batch, cap, lens, recv_many = self._batch, self._batch_len, self._lens, self._calls.recv_many
        n = recv_many(call, batch, cap, lens, max_n, 0)
        if n == _EAGAIN and timeout != 0:
            n = _call_in_slices(lambda ns: recv_many(call, batch, cap, lens, max_n, ns), timeout)
        if n == _ENOBUFS:  # SPSC: the first message is larger than the batch buffer
            return [self._recv_large()]
        if n < 0:
            self._raise(n, "recv_many")
        return _batches.split(self._batch_bytes, lens, n)


# ---- send and recv as closures ----------------------------------------------
# A closure reads what it needs from its cells; a method reads it from
# self.__dict__, about 20 ns an attribute, on calls of 200-400 ns in all
# (measured here: send+recv 611 -> 470 ns in one process). So each endpoint
# holds its own send or recv function, which shadows the method of its class.
#
# The function must not keep its endpoint alive, or the two would form a
# cycle, and an endpoint dropped without close() would stay open until the
# next cyclic collection instead of closing at once. It refers to the
# endpoint weakly; a function kept after its endpoint was dropped (``recv =
# open(...).recv``) waits and raises through a stand-in: a copy of the
# endpoint's state made with the function, which owns nothing.
#
# Between the C call that takes a message and the return there is no call,
# so no signal handler can run there (see "Interrupts" at the top).


def _sender_calls(ep: ShmSender):
    """send, send_many and a reset of their shared ``busy`` flag."""
    try_send, call, sent, slow = ep._try_send, ep._send_call, ep._sent, _SlowPath(ep)
    busy = False

    def send(data, *, timeout=None) -> None:
        nonlocal busy
        if busy:
            raise slow.endpoint()._concurrent("send")
        busy = True
        try:
            try:
                if timeout is not None:
                    check_timeout(timeout)
                if type(data) is not bytes:
                    data = _c_buffer(data)
                n = len(data)
            except BaseException as e:
                _note_sent(e, 0)
                raise
            try:
                rc = try_send(call, data, n)
                if rc != 0:
                    slow.endpoint()._send_slowly(data, timeout, rc)
            except BaseException as e:
                try:  # no call before it is noted: a second signal would run its handler there
                    e.sent = 1 if call.outcome == 0 else 0  # each C call records its result in call.outcome
                except AttributeError:
                    pass
                raise
        finally:
            busy = False

    def send_many(messages, *, timeout=None) -> None:
        nonlocal busy
        if busy:
            raise slow.endpoint()._concurrent("send_many")
        busy = True
        done = [0]
        sent[0] = 0
        try:
            slow.endpoint()._send_many(messages, timeout, done)
        except BaseException as e:
            try:
                e.sent = done[0] + sent[0]  # the C calls count in sent[0]; done[0] what earlier ones sent
            except AttributeError:
                pass
            raise
        finally:
            busy = False

    def reset_busy() -> None:
        nonlocal busy
        busy = False

    send.__doc__ = ShmSender.send.__doc__.split("\n\n")[0]
    send_many.__doc__ = ShmSender.send_many.__doc__.split("\n\n")[0]
    return send, send_many, reset_busy


FREE, BUSY, HELD = 0, 1, 2  # a receiver's state: idle; in a call; idle, with held messages to deliver


def _receiver_calls(ep: ShmReceiver):
    """recv, recv_into, recv_many, iteration and a reset, sharing one ``state``.

    State HELD means idle with messages in ``held``, which an interrupted
    call took out of the ring: they come first, each taken off ``held``
    with no call in between, so no signal handler can drop it. One test of
    ``state`` covers both the thread rule and the held messages."""
    poll, polling, trying, scratch = ep._poll_recv, ep._polling_call, ep._try_call, ep._scratch_bytes
    try_recv, held = ep._try_recv, ep._held
    slow = _SlowPath(ep)  # its stand-in also keeps alive the ring and scratch the C structs point to
    state = FREE

    def recv(*, timeout=None) -> bytes:
        nonlocal state
        if state:
            if state == BUSY:
                raise slow.endpoint()._concurrent("recv")
            message = held[0] if type(held[0]) is bytes else slow.endpoint()._first_held()
            after = HELD if len(held) > 1 else FREE
            del held[0]  # nothing between this and the return where a handler could run
            state = after
            return message
        state = BUSY
        try:
            if timeout is None:
                try:
                    n = poll(polling)
                except BaseException:  # a signal handler raised as poll returned: keep what it took
                    n = polling.taken
                    if n >= 0:
                        polling.taken = -1
                        held.append(scratch[:n])
                    raise
            else:
                check_timeout(timeout)
                call = polling if timeout else trying
                try:
                    n = poll(call)
                except BaseException:
                    n = call.taken
                    if n >= 0:
                        call.taken = -1
                        held.append(scratch[:n])
                    raise
            if n >= 0:
                state = FREE
                return scratch[:n]
            endpoint = slow.endpoint()
            waiting = endpoint._wait_call
            waiting.taken, endpoint._peeked = -1, None
            try:
                message = endpoint._recv_slowly(timeout, n)
            except BaseException:
                n = waiting.taken
                if n >= 0:
                    waiting.taken, peeked = -1, endpoint._peeked
                    held.append(scratch[:n] if peeked is None else peeked)
                raise
            state = FREE
            return message
        except BaseException:
            state = HELD if held else FREE
            raise

    def recv_into(buffer, *, timeout=None) -> int:
        nonlocal state
        if state == BUSY:
            raise slow.endpoint()._concurrent("recv_into")
        state = BUSY
        try:
            if timeout is not None:
                check_timeout(timeout)
            if held:
                message, target = slow.endpoint()._first_held(), memoryview(buffer).cast("B")
                if len(message) > len(target):
                    raise slow.endpoint()._too_small(message, target)
                size, after = len(message), HELD if len(held) > 1 else FREE
                target[:size] = message
                del held[0]  # nothing between this and the return where a handler could run
                state = after
                return size
            buf = _writable(buffer)
            cap, copy = len(buf), ffi.buffer(buf)  # copy[:n]: bytes, with no call (see the excepts)
            try:
                n = try_recv(trying, buf, cap)
            except BaseException:
                n = trying.taken
                if n >= 0:
                    trying.taken = -1
                    held.append(copy[:n])
                raise
            if n >= 0:  # (falls through: CPython 3.10 runs handlers at a jump taken)
                state = FREE
                return n
            endpoint = slow.endpoint()
            waiting = endpoint._wait_call
            waiting.taken, endpoint._peeked = -1, None
            try:
                n = endpoint._recv_into_slowly(buf, cap, timeout, n)
            except BaseException:
                n = waiting.taken
                if n >= 0:
                    waiting.taken = -1
                    held.append(copy[:n])
                raise
            state = FREE
            return n
        except BaseException:
            state = HELD if held else FREE
            raise

    def recv_many(max_n: int, *, timeout=None) -> list:
        nonlocal state
        if state == BUSY:
            raise slow.endpoint()._concurrent("recv_many")
        state = BUSY
        try:
            if timeout is not None:
                check_timeout(timeout)
            check_count(max_n)
            if held:
                message, after = slow.endpoint()._first_held(), HELD if len(held) > 1 else FREE
                del held[0]  # nothing between this and the return where a handler could run
                state = after
                return [message]
            endpoint = slow.endpoint()
            waiting = endpoint._wait_call
            waiting.taken, endpoint._peeked = -1, None
            try:
                messages = endpoint._recv_many(max_n, timeout, waiting)
            except BaseException:
                n = waiting.taken
                if n >= 0:
                    waiting.taken, peeked = -1, endpoint._peeked
                    held.append((n,) if peeked is None else peeked)  # (n,): split when delivered
                raise
            state = FREE
            return messages
        except BaseException:
            state = HELD if held else FREE
            raise

    def iterate():
        """Each message until Closed. recv's message goes into ``held``
        inside one C call (list.extend), so no signal handler can run
        between the recv and the yield."""
        nonlocal state
        while True:
            if state == HELD:
                message = held[0] if type(held[0]) is bytes else slow.endpoint()._first_held()
                after = HELD if len(held) > 1 else FREE
                del held[0]  # nothing between this and the yield where a handler could run
                state = after
                yield message
                continue
            try:
                held.extend(starmap(recv, _NO_ARGUMENTS))  # held was empty: recv goes to the ring
            except Closed:
                return
            except BaseException:
                if held and state == FREE:
                    state = HELD  # recv returned, and the handler raised as extend did: keep it
                raise
            message = held[0]
            del held[0]
            yield message

    def reset() -> None:
        nonlocal state
        state = HELD if held else FREE

    recv.__doc__ = ShmReceiver.recv.__doc__.split("\n\n")[0]
    recv_into.__doc__ = ShmReceiver.recv_into.__doc__.split("\n\n")[0]
    recv_many.__doc__ = ShmReceiver.recv_many.__doc__.split("\n\n")[0]
    return recv, recv_into, recv_many, iterate, reset


class _SlowPath:
    """What a send or recv closure falls back on: its endpoint, or once that
    is gone, a stand-in with the endpoint's state as it was when made."""

    __slots__ = ("_owner", "_stand_in")

    def __init__(self, ep):
        self._owner = weakref.ref(ep)
        self._stand_in = object.__new__(type(ep))
        self._stand_in.__dict__.update(ep.__dict__)

    def endpoint(self):
        ep = self._owner()
        return self._stand_in if ep is None else ep


def _endpoint(handle, role: int, name: str, spin_us: float, claim_timeout: float):
    cls = ShmSender if role == _SENDER else ShmReceiver
    ep = cls.__new__(cls)
    ep._setup(handle, name, spin_us, claim_timeout)
    return ep


def _origin(exported: tuple):
    pid, holder, start_time, tag = exported
    return ffi.new("shmring_origin *", {"pid": pid, "holder": holder, "start_time": start_time, "tag": tag})


def _rebuild(role, name, exported, spin_us, claim_timeout, trust=None):
    """Unpickle an endpoint: map the ring and take over the exported copy,
    trusting the owners the original trusted (trust: (uid, gid) or None)."""
    origin = _origin(exported)
    out = ffi.new("shmring_ring **")
    c_trust = ffi.NULL if trust is None else ffi.new("shmring_trust *", {"uid": trust[0], "gid": trust[1]})
    rc = lib.shmring_import_trusting(name.encode(), role, 0, origin, c_trust, out)
    if rc != 0:
        raise _error(rc, f"shm://{name}", "unpickle")
    ep = _endpoint(out[0], role, name, spin_us, claim_timeout)
    ep._trust = trust
    return ep


def _rebuild_sealed(role, fd_holder, exported, spin_us, claim_timeout):
    """Unpickle an endpoint of a ring with no name: map its descriptor and
    take over the exported copy."""
    try:
        fd = fd_holder.detach()
    except OSError as e:
        raise ChannelError(
            f"{ANONYMOUS}: the process that pickled this endpoint is gone, and with it the only way to its "
            f"ring ({e}); a ring made by pair() is handed on while its process runs (for rings that outlive "
            "it, use shmring.open with a name)"
        ) from None
    origin = _origin(exported)
    try:
        return _open_sealed(fd, role, 0, spin_us, claim_timeout, origin)
    finally:
        os.close(fd)  # the handle keeps a duplicate


# ---- whose a segment is (issue 13: foreign segments) -----------------------------
#
# Anyone on a machine may create a segment under any free name, with a valid
# header, to feed forged messages to whoever opens that name. So the C core
# opens an end only on a segment this user owns and nobody else may use
# (shmring_open_trusting in csrc/shmring.h); sharing with other users is
# explicit on both sides: permissions= (and group=) at create, trust_owner= /
# trust_group= at open. What follows turns those options into C structs and
# a refusal into a ForeignSegment that says who owns the segment.

_WINDOWS = sys.platform == "win32"
_PRIVATE = 0o600
_NO_SHARING_ON_WINDOWS = (
    "sharing a ring between users is not supported on Windows yet: a Windows ring is always its "
    "creating user's alone (a DACL naming that user's SID only)"
)


def _user_id(value, what: str) -> int:
    """A uid from a user name or a uid."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{what} takes a user name or a uid (int), not {type(value).__name__}")
    if isinstance(value, int):
        if not 0 <= value < 2**32 - 1:
            raise ValueError(f"{what} must be a uid from 0 to {2**32 - 2}, got {value}")
        return value
    import pwd

    try:
        return pwd.getpwnam(value).pw_uid
    except KeyError:
        raise ValueError(f"{what}={value!r}: no such user on this machine (pass a user name or a uid)") from None


def _group_id(value, what: str) -> int:
    """A gid from a group name or a gid."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{what} takes a group name or a gid (int), not {type(value).__name__}")
    if isinstance(value, int):
        if not 0 <= value < 2**32 - 1:
            raise ValueError(f"{what} must be a gid from 0 to {2**32 - 2}, got {value}")
        return value
    import grp

    try:
        return grp.getgrnam(value).gr_gid
    except KeyError:
        raise ValueError(f"{what}={value!r}: no such group on this machine (pass a group name or a gid)") from None


def _perms(permissions, group):
    """The C perms of permissions= and group= (create only); NULL for the default, 0o600."""
    if permissions is None and group is None:
        return ffi.NULL
    mode = _PRIVATE if permissions is None else permissions
    if isinstance(mode, bool) or not isinstance(mode, int):
        raise TypeError(f"permissions takes POSIX mode bits as an int (e.g. 0o660), not {type(mode).__name__}")
    if _WINDOWS and (mode != _PRIVATE or group is not None):
        raise ValueError(_NO_SHARING_ON_WINDOWS)
    if not 0 <= mode <= 0o7777:
        raise ValueError(f"permissions takes POSIX mode bits from 0 to 0o7777, got {mode!r}")
    if mode & 0o007:
        raise ValueError(
            f"permissions={mode:#o} grants access to every user on this machine ('other' bits {mode & 0o007:#05o}): "
            "anyone could then read the messages and write forged ones, so shmring never makes or opens such "
            "a segment. Share with a group instead: permissions=0o660, group='yourgroup', and open with "
            "trust_group='yourgroup'"
        )
    if mode & ~0o070 != _PRIVATE:
        raise ValueError(
            f"permissions must be 0o600 (the owner reads and writes) plus group bits, if any: 0o660 lets the "
            f"group open ends, 0o640 only inspect it; got {mode:#o}"
        )
    gid = -1 if group is None else _group_id(group, "group")
    if gid >= 0 and gid != os.getegid():
        if sys.platform == "darwin":
            raise ValueError(f"group={group!r}: on macOS a segment keeps its creator's effective group "
                             f"(gid {os.getegid()}; a shm object takes no fchown there)")
        if os.geteuid() != 0 and gid not in os.getgroups():
            raise ValueError(f"group={group!r}: you are not a member of that group, so you cannot give it a segment")
    return ffi.new("shmring_perms *", {"mode": mode, "gid": gid})


def _trust(trust_owner, trust_group):
    """The C trust of trust_owner= and trust_group= (open only); NULL when nobody else is trusted."""
    if trust_owner is None and trust_group is None:
        return ffi.NULL
    if _WINDOWS:
        raise ValueError(_NO_SHARING_ON_WINDOWS)
    uid = -1 if trust_owner is None else _user_id(trust_owner, "trust_owner")
    gid = -1 if trust_group is None else _group_id(trust_group, "trust_group")
    return ffi.new("shmring_trust *", {"uid": uid, "gid": gid})


def _owner(name: str, trust=None):
    """What shmring_segment_owner says of `name` (None if it cannot say: gone, say)."""
    owner = ffi.new("shmring_owner *")
    rc = lib.shmring_segment_owner(name.encode(), ffi.NULL if trust is None else trust, owner)
    return owner if rc == 0 else None


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"#{gid}"


_FILE_TYPES = {0o120000: "symbolic link", 0o010000: "FIFO", 0o040000: "directory", 0o140000: "socket",
               0o020000: "character device", 0o060000: "block device"}


def _owner_fields(owner) -> dict:
    """Who owns a segment, as inspect() reports it."""
    if _WINDOWS:
        return {"sid": ffi.string(owner.owner_sid).decode()}
    return {"uid": owner.uid, "user": _user_name(owner.uid), "gid": owner.gid, "group": _group_name(owner.gid),
            "permissions": f"{owner.mode & 0o7777:#o}"}


def _refusals(owner) -> list[str]:
    """Why an open refuses a segment, one clause each, from its shmring_owner."""
    why, reasons = owner.refused, []
    if _WINDOWS:
        if why & lib.SHMRING_REFUSE_OWNER:
            reasons.append(f"it is owned by {ffi.string(owner.owner_sid).decode() or 'an unknown SID'}, not by you")
        if why & lib.SHMRING_REFUSE_OTHERS:
            other = ffi.string(owner.other_sid).decode()
            reasons.append(f"its DACL grants access to {other or 'a SID'} besides you, SYSTEM and Administrators")
        if why & lib.SHMRING_REFUSE_WAKE:
            reasons.append("one of its named semaphores (.data, .space) is another user's or open to others")
        return reasons
    user, group = f"{_user_name(owner.uid)} (uid {owner.uid})", f"{_group_name(owner.gid)} (gid {owner.gid})"
    if why & lib.SHMRING_REFUSE_NOT_REGULAR:
        kind = _FILE_TYPES.get(owner.mode & 0o170000, "special file")
        reasons.append(f"it is a {kind}, not a shared-memory segment")
    if why & lib.SHMRING_REFUSE_OWNER:
        me = os.geteuid()
        reasons.append(f"it belongs to user {user}, not to you ({_user_name(me)}, uid {me})")
    if why & lib.SHMRING_REFUSE_GROUP:
        reasons.append(f"its mode lets group {group} use it")
    if why & lib.SHMRING_REFUSE_OTHERS:
        reasons.append("its mode lets every user on this machine use it")
    return reasons


def _foreign(name: str, trust=None) -> ForeignSegment:
    """The ForeignSegment for `name`: who owns it, its mode, why it is refused, what to do."""
    address = f"shm://{name}"
    owner = _owner(name, trust)
    reasons = _refusals(owner) if owner is not None else []
    if not reasons:  # it changed since the open looked at it, or it cannot be described
        return ForeignSegment(
            f"{address} is not a shared-memory segment this user can trust (another user's, or open to other "
            f"users); shmring opened nothing. If you did not make it, remove it and create the ring again"
        )
    if _WINDOWS:
        return ForeignSegment(
            f"{address} is not yours to trust: {'; '.join(reasons)}. shmring opened nothing. If no process of "
            f"yours made it, another may be squatting the name to feed you forged messages: use another name "
            f"(a Windows ring goes away when no process holds it). Sharing rings between users is not supported "
            "on Windows yet"
        )
    mode = owner.mode
    described = (f"owner {_user_name(owner.uid)} (uid {owner.uid}), group {_group_name(owner.gid)} "
                 f"(gid {owner.gid}), mode {mode & 0o7777:#o}")
    if sys.platform.startswith("linux"):
        import stat

        described += f" ({stat.filemode(mode)}; ls -l {SHM_DIR}/{name})"
    never = owner.refused & (lib.SHMRING_REFUSE_NOT_REGULAR | lib.SHMRING_REFUSE_OTHERS)
    if never:
        opt_in = "shmring never opens that, whatever you trust."
    else:
        options = []
        if owner.refused & lib.SHMRING_REFUSE_GROUP:
            options.append(f"trust_group={_group_name(owner.gid)!r}")
        elif owner.refused & lib.SHMRING_REFUSE_OWNER:
            options.append(f"trust_owner={_user_name(owner.uid)!r}")
        opt_in = f"If it is shared with you on purpose, say so: open it with {' and '.join(options)}."
    return ForeignSegment(
        f"{address} is not yours to trust: {'; '.join(reasons)} [{described}]. shmring mapped nothing. "
        f"{opt_in} If you did not expect it, someone may be squatting the name to feed you forged messages: "
        f"remove it (shmring.unlink({address!r}), as its owner or root) and create the ring again, under a "
        "name others cannot guess"
    )


# ---- making and opening rings ---------------------------------------------------


def _check_capacity(capacity) -> int:
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        raise TypeError(f"capacity must be an int (bytes), not {type(capacity).__name__}")
    lo, hi = lib.SHMRING_MIN_CAPACITY, lib.SHMRING_MAX_CAPACITY
    if not lo <= capacity <= hi or capacity & (capacity - 1):
        raise ValueError(f"capacity must be a power of two from {lo} to {hi} bytes (e.g. 1 << 20), got {capacity}")
    return capacity


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"a shm ring name is 1 to {lib.SHMRING_NAME_MAX} characters of letters, digits, '.', '_' and '-' "
            f"(not starting with '.'), got {name!r}"
        )
    return name


def _check_waits(spin_us, claim_timeout) -> tuple[float, float]:
    """The waiting options of pair() and open(), checked."""
    return (_check_duration("spin_us", spin_us, "microseconds", 1_000_000),
            _check_duration("claim_timeout", claim_timeout))


def _check_duration(what: str, value, unit: str = "seconds", per_second: int = 1) -> float:
    """A spin or claim time: a number from 0 to MAX_TIMEOUT seconds, in ``unit``."""
    most = MAX_TIMEOUT * per_second
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= most:
        raise ValueError(f"{what} must be a number of {unit} from 0 to {most:,}, got {value!r}")
    return float(value)


def _check_power_of_two(what: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not lo <= value <= hi or value & (value - 1):
        raise ValueError(f"{what} must be a power of two from {lo} to {hi}, got {value}")
    return value


class _Shape:
    """What a new ring looks like, checked: mode and its sizes."""

    def __init__(self, mode, capacity, slots, slot_size):
        if not isinstance(mode, str) or mode not in _MODES:
            raise ValueError(f"mode must be 'spsc' (one sender, one receiver) or 'mpmc' (many of each), got {mode!r}")
        self.kind = _MODES[mode]
        if self.kind == _SPSC:
            if slots is not None or slot_size is not None:
                raise TypeError("slots and slot_size are for mode='mpmc'; an spsc ring takes capacity (bytes)")
            self.capacity = capacity
        else:
            if capacity is not None:
                raise TypeError("capacity is for mode='spsc'; an mpmc ring takes slots and slot_size")
            self.slots, self.slot_size = slots, slot_size

    def _sizes(self) -> tuple:
        """The checked sizes the C create calls take: (capacity,) or (slots, slot_size)."""
        if self.kind == _SPSC:
            return (_check_capacity(DEFAULT_CAPACITY if self.capacity is None else self.capacity),)
        slots = _check_power_of_two("slots", DEFAULT_SLOTS if self.slots is None else self.slots,
                                    lib.SHMRING_MIN_SLOTS, lib.SHMRING_MAX_SLOTS)
        slot_size = DEFAULT_SLOT_SIZE if self.slot_size is None else self.slot_size
        if isinstance(slot_size, bool) or not isinstance(slot_size, int):
            raise TypeError(f"slot_size must be an int (bytes), not {type(slot_size).__name__}")
        if not 1 <= slot_size <= lib.SHMRING_MAX_SLOT_SIZE:
            raise ValueError(f"slot_size must be from 1 to {lib.SHMRING_MAX_SLOT_SIZE} bytes, got {slot_size}")
        return slots, slot_size

    def _check_created(self, rc: int, sizes: tuple, address: str) -> None:
        if rc == lib.SHMRING_EINVAL and self.kind == _MPMC:  # perms were checked by _perms(): the size is wrong
            raise ValueError(f"{sizes[0]} slots of {sizes[1]} bytes exceed {lib.SHMRING_MAX_MPMC_BYTES} bytes; "
                             "use fewer or smaller slots")
        if rc != 0:
            raise _error(rc, address, "create")

    def create(self, name: str, perms=ffi.NULL) -> None:
        """Make the segment; ``perms`` (from _perms()): who else may use it, NULL for nobody."""
        sizes = self._sizes()
        make = lib.shmring_spsc_create_with if self.kind == _SPSC else lib.shmring_mpmc_create_with
        self._check_created(make(name.encode(), *sizes, perms), sizes, f"shm://{name}")

    def create_sealed(self):
        """Linux: make a ring with no name in a sealed memfd; its descriptor
        (the caller closes it), or None where this system has none."""
        sizes = self._sizes()
        fd = ffi.new("int *")
        make = lib.shmring_spsc_create_sealed if self.kind == _SPSC else lib.shmring_mpmc_create_sealed
        rc = make(*sizes, fd)
        if rc == lib.SHMRING_ENOTSUP:
            return None
        self._check_created(rc, sizes, ANONYMOUS)
        return fd[0]

    def check_existing(self, name: str) -> None:
        """Before opening an existing ring: do the sizes asked for match it?"""
        asked = {"capacity": self.capacity} if self.kind == _SPSC else {"capacity": self.slots, "max_message_size": self.slot_size}
        if all(v is None for v in asked.values()):
            return
        info = inspect(name)
        for field, value in asked.items():
            if value is not None and info[field] != value:
                shown = {"capacity": "slots" if self.kind == _MPMC else "capacity", "max_message_size": "slot_size"}[field]
                raise ValueError(f"shm://{name} has {shown} {info[field]}, not {value}")


def _open_end(name: str, role: int, kind: int, spin_us: float, claim_timeout: float, trust=ffi.NULL):
    """Open one end; ``trust`` (from _trust()): whose segments to accept besides ours, NULL for nobody's."""
    out = ffi.new("shmring_ring **")
    give_up = monotonic() + NOT_READY_WAIT
    while True:
        rc = lib.shmring_open_trusting(name.encode(), role, kind, trust, out)
        if rc != lib.SHMRING_ENOTREADY or monotonic() > give_up:
            break
        time.sleep(0.001)  # the creator is between sizing the segment and writing its header
    if rc != 0:
        raise _error(rc, f"shm://{name}", "open", None if trust == ffi.NULL else trust)
    ep = _endpoint(out[0], role, name, spin_us, claim_timeout)
    # What this end was opened trusting, (uid, gid) or None: a pickle of it will need the
    # same trust to open the ring again (shmring_import_trusting).
    ep._trust = None if trust == ffi.NULL else (trust.uid, trust.gid)
    return ep


def _open_sealed(fd: int, role: int, kind: int, spin_us: float, claim_timeout: float, origin=None):
    """An end on a sealed ring's descriptor: a new copy, or (origin) the exported one taken over."""
    out = ffi.new("shmring_ring **")
    if origin is None:
        rc = lib.shmring_open_fd(fd, role, kind, out)
    else:
        rc = lib.shmring_import_fd(fd, role, kind, origin, out)
    if rc != 0:
        raise _error(rc, ANONYMOUS, "open" if origin is None else "unpickle")
    return _endpoint(out[0], role, None, spin_us, claim_timeout)


def pair(*, mode: str = "spsc", capacity: int | None = None, slots: int | None = None,
         slot_size: int | None = None, spin_us: float = DEFAULT_SPIN_US,
         claim_timeout: float = DEFAULT_CLAIM_TIMEOUT) -> tuple[ShmSender, ShmReceiver]:
    """A new anonymous ring: (Sender, Receiver).

    mode="spsc": capacity bytes (default 1 MiB), messages up to capacity/2 - 8.
    mode="mpmc": slots (default 4096) of slot_size bytes (default 256); pickle
    either end to as many processes as you like.

    Linux: the ring has no name. It lives in a memfd sealed against
    resizing, so no process can shrink it under the ends (README:
    Truncation); a pickled end travels as a descriptor, so the process that
    pickles it must run until the other side unpickles it (a child started
    by Process.start inherits it at once). Its memory goes with the last
    end. Elsewhere (and where the kernel refuses memfds) the ring is a
    named segment, unlinked when both ends close.
    """
    shape = _Shape(mode, capacity, slots, slot_size)
    spin_us, claim_timeout = _check_waits(spin_us, claim_timeout)
    fd = shape.create_sealed() if _SEALED_PAIRS else None
    if fd is not None:
        try:
            return (_open_sealed(fd, _SENDER, shape.kind, spin_us, claim_timeout),
                    _open_sealed(fd, _RECEIVER, shape.kind, spin_us, claim_timeout))
        finally:
            os.close(fd)  # each end keeps a duplicate
    name = "shmr-" + secrets.token_hex(8)
    shape.create(name)
    try:
        tx = _open_end(name, _SENDER, shape.kind, spin_us, claim_timeout)
        rx = _open_end(name, _RECEIVER, shape.kind, spin_us, claim_timeout)
    except BaseException:
        unlink(name)
        raise
    return tx, rx


def open(name: str, direction: str, *, create: bool = False, mode: str = "spsc",
         capacity: int | None = None, slots: int | None = None, slot_size: int | None = None,
         spin_us: float = DEFAULT_SPIN_US, claim_timeout: float = DEFAULT_CLAIM_TIMEOUT,
         permissions: int | None = None, group: int | str | None = None,
         trust_owner: int | str | None = None, trust_group: int | str | None = None) -> ShmSender | ShmReceiver:
    """Open one end of the named ring ``name`` ("w": Sender, "r": Receiver).

    Whose segment: an end opens only a segment that this user owns and that
    grants nobody else access (mode 0600); another user's segment, one that
    other users may use, or a symbolic link or FIFO in its place raises
    ForeignSegment (also a PermissionError) and maps nothing. Sharing a ring
    between users is explicit on both sides:

    - at create: ``permissions`` (POSIX mode bits, default 0o600) may add
      group bits, 0o660 (the group may open ends) or 0o640 (it may inspect);
      "other" bits are a ValueError. ``group`` (a group name or gid, one of
      yours) is the segment's group; default: your effective group.
    - at open: ``trust_owner`` (a user name or uid) also accepts segments
      that user owns and that grant no group access; ``trust_group`` (a
      group name or gid) also accepts segments of that group whose mode
      grants it access, whoever in it made them. A segment every user may
      use is refused whatever you trust.

    Windows: a ring is its creating user's alone; these options are a
    ValueError there (not supported yet).
    """
    _check_name(name)
    shape = _Shape(mode, capacity, slots, slot_size)
    spin_us, claim_timeout = _check_waits(spin_us, claim_timeout)
    role = _SENDER if check_direction(direction) == "w" else _RECEIVER
    if create:
        if trust_owner is not None or trust_group is not None:
            raise TypeError("trust_owner and trust_group are for opening another user's ring (create=False); "
                            "a creator trusts the segment it makes")
        perms = _perms(permissions, group)
        shape.create(name, perms)
        trust = ffi.NULL
        if perms != ffi.NULL and perms.mode & 0o070:  # our own segment, shared with its group
            made = _owner(name)
            trust = ffi.new("shmring_trust *", {"uid": -1, "gid": -1 if made is None else made.gid})
    else:
        if permissions is not None or group is not None:
            raise TypeError("permissions and group are for create=True (who may use a new segment); to open "
                            "another user's ring, pass trust_owner= or trust_group=")
        trust = _trust(trust_owner, trust_group)
        # Checked before opening: opening and closing an end would close it for good. Whose it is
        # first, so that a foreign segment says so rather than what sizes it claims.
        seen = _owner(name, None if trust == ffi.NULL else trust)
        if seen is not None and seen.refused:
            raise _foreign(name, None if trust == ffi.NULL else trust)
        shape.check_existing(name)
    try:
        return _open_end(name, role, shape.kind, spin_us, claim_timeout, trust)
    except BaseException:
        if create:
            unlink(name)
        raise


def unlink(name: str) -> None:
    """Remove the name of a ring (processes that have it open keep it).

    On Windows a ring lives while any process holds a handle to it, and has
    no name to remove: this drops the handle that this process keeps for a
    ring it created (and does nothing for a ring another process created)."""
    rc = lib.shmring_unlink(_check_name(name).encode())
    if rc not in (0, lib.SHMRING_ENOENT):
        raise _error(rc, f"shm://{name}", "unlink")


# ---- finding segments (python -m shmring ls / rm / info) ---------------------------

SHM_DIR = "/dev/shm"  # where Linux shows POSIX shared memory; macOS shows it nowhere
_END_STATES = ("new", "open", "closed")


def inspect(name: str) -> dict:
    """What a segment holds, read without opening either end.

    A foreign segment (another user's, or open to others) is described too,
    from a private copy of its header: ``owner`` says whose it is (uid,
    user, gid, group, permissions; Windows: its owner's SID) and ``foreign``
    why an open would refuse it (None: it would not). A symbolic link or
    FIFO in a segment's place raises ForeignSegment."""
    info = ffi.new("shmring_info *")
    rc = lib.shmring_inspect(_check_name(name).encode(), info)
    if rc != 0:
        raise _error(rc, f"shm://{name}", "inspect")
    owner = _owner(name)
    ends = {}
    for role, end in ((_SENDER, "sender"), (_RECEIVER, "receiver")):
        ends[end] = {"state": _END_STATES[min(info.end_state[role], 2)], "live_holders": info.live_holders[role]}
    return {
        "name": name,
        "kind": "spsc" if info.kind == _SPSC else "mpmc",
        "recovered_writes": info.recovered_writes,
        "recovered_reads": info.recovered_reads,
        "capacity": info.capacity,
        "max_message_size": info.max_message_size,
        "used_bytes": info.used_bytes,
        "created_unix_ns": info.created_unix_ns,
        "creator_pid": info.creator_pid,
        "creator_alive": bool(info.creator_alive),
        **ends,
        # Nobody can use it any more: no live process holds either end, and
        # its creator (who may still open an end) is gone too.
        "stale": not info.creator_alive and not info.live_holders[0] and not info.live_holders[1],
        "owner": None if owner is None else _owner_fields(owner),
        "foreign": None if owner is None or not owner.refused else "; ".join(_refusals(owner)),
    }


def list_segments() -> list[dict]:
    """Every shmring segment in /dev/shm (others are skipped), foreign ones
    included where this user can read them (see inspect's ``foreign``)."""
    if sys.platform == "win32":
        raise OSError(
            errno.ENOTSUP,
            "Windows keeps no directory of shared-memory sections to list; name the ring "
            "(shmring info NAME). A Windows ring goes away by itself when no process holds it",
        )
    try:
        names = sorted(os.listdir(SHM_DIR))
    except FileNotFoundError:
        raise OSError(errno.ENOTSUP, f"this system shows no {SHM_DIR}; name the segments to inspect") from None
    found = []
    for name in names:
        if not _NAME.fullmatch(name):
            continue
        try:
            found.append(inspect(name))
        except (ChannelError, OSError):
            continue  # not a shmring segment, or not readable by this user
    return found
