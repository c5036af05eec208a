"""The Channel contract every transport implements: endpoints and errors.

A channel has two ends. A :class:`Sender` sends whole messages (any
C-contiguous buffer); a :class:`Receiver` gets them back as ``bytes``, whole
and in order. ``timeout=None`` waits for ever, ``timeout=0`` never blocks, a
positive timeout waits at most that many seconds and then raises
:class:`Timeout` having sent or received nothing.

``Closed`` is raised by ``recv`` only once every message sent before the
sender closed (or died) has been received, and by ``send`` when the
receiver is gone. Closing is idempotent; endpoints are context managers and
a receiver iterates until ``Closed``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # a type checker's own stubs have it on every Python version
    from typing_extensions import Buffer


class ChannelError(Exception):
    """Base class of every error shmring raises about a channel."""


class Timeout(ChannelError, TimeoutError):
    """The timeout passed before the message could be sent or received.

    From ``send_many``, ``sent`` says how many of the messages went first.
    """

    sent: int = 0


class Closed(ChannelError):
    """The other end closed or died (after its messages were drained), or this end is closed."""


class MessageTooLarge(ChannelError, ValueError):
    """The message is larger than the channel's ``max_message_size``."""


class BufferTooSmall(ChannelError, ValueError):
    """``recv_into`` got a buffer smaller than the next message; it stays queued.

    ``needed`` holds the size of that message.
    """

    def __init__(self, message: str, needed: int) -> None:
        super().__init__(message)
        self.needed: int = needed


class Corrupt(ChannelError):
    """The shared segment holds values that cannot be right: a buggy or hostile peer."""


class NotFound(ChannelError, FileNotFoundError):
    """No channel exists at that address."""


class AlreadyExists(ChannelError, FileExistsError):
    """``create=True`` but something already exists at that address."""


class UnixSocketsUnavailable(ChannelError, ValueError):
    """unix:// on a Python without ``socket.AF_UNIX`` (Windows CPython): the address cannot be used here.

    A ValueError, as any address this Python cannot use (an unknown scheme is one too)."""


class IncompatibleVersion(ChannelError):
    """The segment was made by a shmring with a different memory layout."""


class InUse(ChannelError):
    """That end of the channel is already held by a live process."""


class ForeignSegment(ChannelError, PermissionError):
    """The shared-memory segment of that name is not one this user may trust:
    another user owns it, other users may write to it, or it is not a
    segment at all (a symbolic link, a FIFO). Nothing was mapped or written.

    The message says who owns it, its mode, and what to do. Sharing a ring
    between users is explicit on both sides: ``permissions=`` at create,
    ``trust_owner=`` / ``trust_group=`` at open.
    """


class ConcurrentUse(ChannelError, RuntimeError):
    """A call on an endpoint began while another call on it was still running:
    from another thread, or from a signal handler that interrupted it.

    An endpoint serves one call at a time. The second call raises this at
    once and changes nothing (from a send: ``sent`` is 0); the first goes on
    undisturbed.
    """

    sent: int = 0


def concurrent_use(what: str, address: str) -> ConcurrentUse:
    return ConcurrentUse(
        f"{what}() on {address} began while another call on this endpoint was running (in another "
        "thread, or in a signal handler that interrupted it): an endpoint serves one call at a time; give "
        "each thread its own endpoint (an mpmc ring takes many), or share one behind a lock"
    )


def note_sent(error: BaseException, sent: int) -> None:
    """Tell the caller how many messages of the call ``error`` ends went out.

    Any exception leaving ``send`` or ``send_many`` (Timeout, Closed, a
    KeyboardInterrupt raised by a signal handler) carries ``sent``: send
    sent its message whole (1) or not at all (0); send_many sent the first
    ``sent`` messages whole and none of the others. A handler that raised
    as the call began, before any of its code ran, leaves no ``sent``:
    nothing went (read it as ``getattr(e, "sent", 0)``).
    """
    try:
        error.sent = sent  # type: ignore[attr-defined]
    except AttributeError:  # an exception type that refuses new attributes: nothing to tell it with
        pass


# The longest timeout, in seconds (23 days): poll() takes milliseconds in a C
# int, 2**31 - 1 at most. A longer wait is timeout=None.
MAX_TIMEOUT = 2_000_000


def check_timeout(timeout: object) -> float | None:
    """Validate a ``timeout`` argument: None, or a number of seconds from 0 to MAX_TIMEOUT."""
    if timeout is None:
        return None
    if (type(timeout) is float or type(timeout) is int) and 0 <= timeout <= MAX_TIMEOUT:  # the usual case
        return float(timeout)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be None or a number of seconds, not {type(timeout).__name__}")
    if not 0 <= timeout <= MAX_TIMEOUT:  # NaN too
        raise ValueError(
            f"timeout must be None (wait for ever) or 0 to {MAX_TIMEOUT:,} seconds, got {timeout!r}"
        )
    return float(timeout)


def check_count(max_n: object) -> int:
    """Validate ``max_n`` of recv_many: an int >= 1."""
    if isinstance(max_n, bool) or not isinstance(max_n, int):
        raise TypeError(f"max_n must be an int, not {type(max_n).__name__}")
    if max_n < 1:
        raise ValueError(f"max_n must be at least 1, got {max_n}")
    return max_n


def check_direction(direction: object) -> str:
    """Validate the direction argument of open(): "w" (a Sender) or "r" (a Receiver)."""
    if not isinstance(direction, str) or direction not in ("r", "w"):
        raise ValueError(f"the second argument must be 'w' (send) or 'r' (receive), got {direction!r}")
    return direction


def as_batch(messages: Iterable[Buffer]) -> list[Buffer]:
    """The ``messages`` argument of send_many as a list."""
    if type(messages) is list:
        return messages
    try:
        return list(messages)
    except TypeError:
        raise TypeError(
            f"send_many() takes an iterable of bytes-like messages, not {type(messages).__name__}"
        ) from None


# The clock of every timeout. Before 3.13, time.monotonic on Windows is
# GetTickCount64, which moves in 15.6 ms steps: a 2 ms timeout could end at
# once, a 300 ms one 15 ms early. perf_counter is QueryPerformanceCounter
# there; elsewhere both are the same monotonic clock.
monotonic = time.perf_counter if sys.platform == "win32" else time.monotonic


class Deadline:
    """The end of a timeout on the monotonic clock; ``None`` means never."""

    __slots__ = ("end",)

    end: float | None

    def __init__(self, timeout: float | None) -> None:
        timeout = check_timeout(timeout)
        self.end = None if timeout is None else monotonic() + timeout

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None for no deadline."""
        if self.end is None:
            return None
        return max(0.0, self.end - monotonic())

    def nap(self, interval: float) -> bool:
        """Sleep ``interval`` seconds, or what is left if less, before polling
        something the OS cannot wait for; False, without sleeping, once the
        deadline has passed."""
        left = self.remaining()
        if left == 0:
            return False
        time.sleep(interval if left is None else min(interval, left))
        return True


_E = TypeVar("_E", bound="Endpoint")


class Endpoint:
    """What a Sender and a Receiver share: closing and the context manager."""

    _closed: bool = False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close this copy of the end. The end closes when its last copy does."""
        self._closed = True

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise Closed(f"{what}() on a closed {type(self).__name__}")

    def __enter__(self: _E) -> _E:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {self.address} {state}>"

    address: str = "?"


class Sender(Endpoint):
    """The sending end of a channel."""

    max_message_size: int

    def send(self, data: Buffer, *, timeout: float | None = None) -> None:
        """Send one message: any C-contiguous buffer, all or nothing."""
        raise NotImplementedError

    def send_many(self, messages: Iterable[Buffer], *, timeout: float | None = None) -> None:
        """Send every message of an iterable, in order, each all or nothing.

        A message over max_message_size fails the batch before any is sent.
        The timeout covers the whole batch; on Timeout, its ``sent`` says how
        many went. Transports override this to move a batch in fewer calls.
        """
        self._check_open("send_many")
        deadline = Deadline(timeout)
        messages = as_batch(messages)
        for message in messages:
            try:
                size = memoryview(message).nbytes
            except TypeError:
                raise TypeError(f"send_many() takes bytes-like messages, not {type(message).__name__}") from None
            if size > self.max_message_size:
                raise MessageTooLarge(
                    f"a message of {size} bytes in the batch exceeds max_message_size {self.max_message_size}; "
                    "nothing was sent"
                )
        sent = 0
        for message in messages:
            try:
                self.send(message, timeout=deadline.remaining())
            except Timeout as e:
                e.sent = sent
                raise
            sent += 1


class Receiver(Endpoint):
    """The receiving end of a channel."""

    max_message_size: int

    def recv(self, *, timeout: float | None = None) -> bytes:
        """Receive the next message."""
        raise NotImplementedError

    def recv_into(self, buffer: Buffer, *, timeout: float | None = None) -> int:
        """Receive the next message into a writable buffer; returns its length.

        If the buffer is too small, raises BufferTooSmall and the message stays queued.
        """
        raise NotImplementedError

    _deferred_error: ChannelError | None = None

    def recv_many(self, max_n: int, *, timeout: float | None = None) -> list[bytes]:
        """Wait for one message as ``recv`` does, then take up to ``max_n`` in all
        of those already there. Raises an error only when it has no message:
        one met after the first (Corrupt, say) is raised by the next call."""
        check_count(max_n)
        if self._deferred_error is not None:
            error, self._deferred_error = self._deferred_error, None
            raise error
        batch = [self.recv(timeout=timeout)]
        while len(batch) < max_n:
            try:
                batch.append(self.recv(timeout=0))
            except (Timeout, Closed):
                break
            except ChannelError as e:  # the messages before it are delivered first
                self._deferred_error = e
                break
        return batch

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                yield self.recv()
            except Closed:
                return
