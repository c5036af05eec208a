"""Sender and Receiver over a byte stream (pipe, FIFO, socket), shared by the pipe and socket transports.

An endpoint owns one non-blocking file descriptor and frames messages with
:mod:`shmring.framing`. Some endpoints start without one: the side of a
socket that listens, or a FIFO writer that made the FIFO, meet their peer
on first use (a *rendezvous*), within that call's timeout.

Copies: the kernel counts them. An endpoint pickles as a duplicate of its
file descriptor (``multiprocessing.reduction.DupFd``, as
``multiprocessing.Connection`` does), so a copy passed to a spawned or forked
child keeps working after the parent closes its own, and the stream ends
(the receiver gets Closed) when the last copy of the sender is closed or its
process dies. Outside process spawning, DupFd hands the descriptor over
through multiprocessing's resource sharer, which needs the pickling process
to live until the copy is unpickled.

Only one copy should be used at a time: read-ahead data and a pending tail
live in the process that read or wrote them. Pickling refuses an endpoint
that holds either; an endpoint that has not met its peer yet meets it while
pickling if the peer is already there, and is refused otherwise.

What a "descriptor" is depends on the OS, and an endpoint class says it in
its ``_handles``: on POSIX a non-blocking file descriptor waited for with
``poll`` (:class:`PosixDescriptors`, below); on Windows a pipe handle with
overlapped I/O (:mod:`._winpipe`) or a socket handle (:mod:`._winsocket`),
which bring their own framers, closing and pickling.
"""

from __future__ import annotations

import os
import weakref

from .._buffers import message_view, writable_view
from ..channel import (
    ChannelError,
    Closed,
    MessageTooLarge,
    Receiver,
    Sender,
    Timeout,
    check_timeout,
    concurrent_use,
)
from ..framing import FrameReader, FrameWriter
from . import _open_ends
from ._held import CountedSends, HeldMessages, copy_into

DEFAULT_MAX_MESSAGE_SIZE = 16 << 20


def check_max_message_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"max_message_size must be an int (bytes), not {type(size).__name__}")
    if not 0 <= size <= 1 << 48:
        raise ValueError(f"max_message_size must be from 0 to 2**48 bytes (e.g. 16 << 20), got {size}")
    return size


class PosixDescriptors:
    """POSIX: an endpoint holds a file descriptor, non-blocking, framed by
    :class:`FrameWriter` / :class:`FrameReader`, pickled as a DupFd."""

    attach = staticmethod(lambda fd: os.set_blocking(fd, False))  # the framer waits with poll()
    writer = FrameWriter
    reader = FrameReader
    close = staticmethod(os.close)

    @staticmethod
    def dup(fd: int):
        from multiprocessing.reduction import DupFd  # POSIX only: Windows endpoints bring their own dup

        return DupFd(fd)


class _FdBox:
    """The descriptor of an endpoint, closed when the endpoint is collected unclosed."""

    __slots__ = ("fd", "_close", "framer")

    def __init__(self, close):
        self.fd = None
        self._close = close
        self.framer = None  # stopped before the descriptor closes (Windows: a read in flight)

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            if self.framer is not None:
                self.framer.stop()
            self._close(fd)


def _release(*resources) -> None:
    for resource in resources:
        if resource is not None:
            resource.close()  # each close() is idempotent


class _StreamEndpoint:
    """What the stream Sender and Receiver share: the descriptor, closing, pickling."""

    _fd = None
    _framer = None  # the FrameWriter or FrameReader: None before the peer is met and after close
    _handles = PosixDescriptors  # what the descriptor is on this OS (see the module's docstring)

    def _setup(self, address: str, max_message_size: int, fd: int | None, *, rendezvous=None,
               owned_path=None, peer_seen: bool = True):
        self.address = address
        self.max_message_size = max_message_size
        self._held: list = []  # receivers: messages an interrupted recv_many took, delivered first
        self._sent_total = 0  # senders: frames committed, counted with no call (send_many's sent)
        self._busy = False  # a call is running: one at a time (README: Reliability), tested and set with no call between
        self._rendezvous = rendezvous  # meets the peer and gives the descriptor, while fd is None
        self._owned_path = owned_path  # the FIFO or socket file this endpoint made, removed at close
        self._peer_seen = peer_seen
        self._box = _FdBox(self._handles.close)
        # An endpoint collected unclosed releases its descriptor and files. (At exit,
        # _open_ends closes the open ones properly, finishing pending tails.)
        weakref.finalize(self, _release, self._box, rendezvous, owned_path).atexit = False
        if fd is not None:
            self._attach(fd)
        _open_ends.add(self)

    def _attach(self, fd: int) -> None:
        self._handles.attach(fd)
        self._fd = self._box.fd = fd
        self._framer = self._box.framer = self._make_framer(fd)

    def _meet_peer(self, timeout) -> None:
        """Get the descriptor from the rendezvous (accept a connection, open a FIFO)."""
        fd = self._rendezvous.connect(timeout)
        self._rendezvous = None
        self._attach(fd)

    def _framer_for(self, what: str, timeout):
        """The framer, when there is none yet: Closed if closed, else meet the peer first."""
        self._check_open(what)
        self._meet_peer(timeout)
        return self._framer

    def fileno(self) -> int:
        """The file descriptor (for select/poll; on Windows the pipe or socket handle);
        ValueError before the peer has connected."""
        self._check_open("fileno")
        if self._fd is None:
            raise ValueError(f"{self.address} has no peer yet, so no file descriptor")
        return self._fd

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _open_ends.discard(self)
        try:
            self._before_close()
        finally:
            self._fd = self._framer = None
            _release(self._box, self._rendezvous, self._owned_path)
            self._rendezvous = self._owned_path = None

    def _meet_peer_for_pickling(self) -> None:
        """A copy cannot carry the rendezvous along; meet the peer now if it is already there."""
        try:
            self._meet_peer(0)
        except Timeout:
            raise ChannelError(
                f"{self.address} cannot be pickled before its peer has connected; let the peer open the "
                "address first (or use the endpoint once), or let the other process open the address itself"
            ) from None

    def _before_close(self) -> None:
        pass

    def __reduce__(self):
        self._check_open("pickle")
        if self._fd is None:
            self._meet_peer_for_pickling()
        self._check_picklable()
        peer_seen = self._framer.peer_seen if isinstance(self, Receiver) else True
        return (_rebuild, (type(self), self.address, self.max_message_size, self._handles.dup(self._fd), peer_seen))


def _note(error: BaseException, sent: int) -> None:
    """``error.sent = sent``, where a handler raising as this is called (its
    exception then has no ``sent``, read as 0) tells no lie: sent is 0."""
    try:
        error.sent = sent  # type: ignore[attr-defined]
    except AttributeError:  # an exception type that takes no new attributes
        pass


def _rebuild(cls, address, max_message_size, dup_fd, peer_seen):
    """Unpickle an endpoint around its duplicated descriptor (copies own no path)."""
    ep = cls.__new__(cls)
    ep._setup(address, max_message_size, dup_fd.detach(), peer_seen=peer_seen)
    return ep


class StreamSender(CountedSends, _StreamEndpoint, Sender):
    """Sends frames into a pipe, FIFO or stream socket."""

    def __init__(self, address: str, max_message_size: int, fd: int | None, **options):
        self._setup(address, max_message_size, fd, **options)

    def _make_framer(self, fd: int) -> FrameWriter:
        return self._handles.writer(fd, self.address)

    def send(self, data, *, timeout=None) -> None:
        """Send one message. An exception leaving send carries ``sent``: 1 if
        the frame began (it goes out whole: the rest before the next frame,
        or at close), 0 if none of it went."""
        if self._busy:
            raise concurrent_use("send", self.address)
        self._busy = True
        try:
            try:
                if timeout is not None:
                    check_timeout(timeout)
                payload = data if type(data) is bytes else message_view(data)
                if len(payload) > self.max_message_size:
                    raise MessageTooLarge(
                        f"a message of {len(payload)} bytes exceeds max_message_size {self.max_message_size} of "
                        f"{self.address}; pass a larger max_message_size to both ends"
                    )
                writer = self._framer
                if writer is None:
                    writer = self._framer_for("send", timeout)
            except BaseException as e:
                _note(e, 0)
                raise
            writer.committed = writer.current = 0
            try:
                writer.send(payload, timeout)
            except BaseException as e:
                landed = writer._landed  # a write not settled yet: no call before sent is known
                if landed and landed[0] and writer.current and not writer._writing_tail:
                    writer.committed = 1
                self._sent_total += writer.committed
                try:  # set with no call: a second handler would run at a call and replace e
                    e.sent = writer.committed  # type: ignore[attr-defined]
                except AttributeError:
                    pass
                try:
                    writer.interrupted()  # keep the rest of a begun frame (the next send does it too if cut short)
                except BaseException as again:  # a second handler raised here: its exception says the same
                    try:
                        again.sent = writer.committed  # type: ignore[attr-defined]
                    except AttributeError:
                        pass
                    raise
                raise
            self._sent_total += 1
        finally:
            self._busy = False

    def _before_close(self) -> None:
        if self._framer is not None and self._framer.pending:
            try:
                self._framer.flush()  # a committed message must reach the reader whole
            except ChannelError:
                pass  # the reader is gone: nobody is left to read the rest

    def _check_picklable(self) -> None:
        if self._framer.pending:
            self._framer.flush(timeout=0)
        if self._framer.pending:
            raise ChannelError(
                f"{self.address} still has the rest of a message to write (a send timed out or was "
                "interrupted after it began); send again or wait until the reader has taken it, then pickle"
            )


class StreamReceiver(HeldMessages, _StreamEndpoint, Receiver):
    """Receives frames from a pipe, FIFO or stream socket."""

    def __init__(self, address: str, max_message_size: int, fd: int | None, **options):
        self._setup(address, max_message_size, fd, **options)

    def _make_framer(self, fd: int) -> FrameReader:
        return self._handles.reader(fd, self.address, self.max_message_size, peer_seen=self._peer_seen)

    def recv(self, *, timeout=None) -> bytes:
        if self._busy:
            raise concurrent_use("recv", self.address)
        self._busy = True
        try:
            held = self._held
            if held:
                message = held[0]  # taken by an interrupted call: it comes first
                del held[0]
                return message
            if timeout is not None:
                check_timeout(timeout)
            reader = self._framer
            if reader is None:
                reader = self._framer_for("recv", timeout)
            message = reader.recv(timeout)
            reader._start, reader._large, reader._direct = reader.after  # consumed only now (FrameReader)
            return message
        finally:
            self._busy = False

    def recv_into(self, buffer, *, timeout=None) -> int:
        if self._busy:
            raise concurrent_use("recv_into", self.address)
        self._busy = True
        try:
            if timeout is not None:
                check_timeout(timeout)
            target = writable_view(buffer)
            held = self._held
            if held:
                size = copy_into(target, held[0])
                del held[0]  # no call from here to the return: a handler cannot drop it
                return size
            reader = self._framer
            if reader is None:
                reader = self._framer_for("recv_into", timeout)
            try:
                n = reader.recv_into(target, timeout)
            except BaseException:
                reader.keep_direct()  # a big frame read straight into target stays next in line
                raise
            reader._start, reader._large, reader._direct = reader.after
            return n
        finally:
            self._busy = False

    def _take_batch(self, batch: list, max_n: int, timeout) -> None:
        """Append to ``batch`` up to ``max_n`` messages, waiting only for the first
        (a loop of its own: see HeldMessages)."""
        if timeout is not None:
            check_timeout(timeout)
        reader = self._framer
        if reader is None:
            reader = self._framer_for("recv_many", timeout)
        wait = timeout
        while len(batch) < max_n:
            try:
                message = reader.recv(wait)
            except (Timeout, Closed):
                if not batch:
                    raise
                return
            except ChannelError as e:  # the messages before it are delivered first
                if not batch:
                    raise
                self._deferred_error = e
                return
            reader._start, reader._large, reader._direct = reader.after  # consumed now, kept by the append
            batch.append(message)
            wait = 0

    def _check_picklable(self) -> None:
        if self._held:
            raise ChannelError(
                f"{self.address} holds {len(self._held)} message(s) that an interrupted call took; "
                "receive them before pickling it"
            )
        if self._framer.buffered:
            raise ChannelError(
                f"{self.address} has {self._framer.buffered} bytes read ahead that a copy would not see; "
                "receive the messages already sent before pickling it"
            )
