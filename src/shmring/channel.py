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

import time


class ChannelError(Exception):
    """Base class of every error shmring raises about a channel."""


class Timeout(ChannelError, TimeoutError):
    """The timeout passed before the message could be sent or received."""


class Closed(ChannelError):
    """The other end closed or died (after its messages were drained), or this end is closed."""


class MessageTooLarge(ChannelError, ValueError):
    """The message is larger than the channel's ``max_message_size``."""


class BufferTooSmall(ChannelError, ValueError):
    """``recv_into`` got a buffer smaller than the next message; it stays queued.

    ``needed`` holds the size of that message.
    """

    def __init__(self, message: str, needed: int):
        super().__init__(message)
        self.needed = needed


class Corrupt(ChannelError):
    """The shared segment holds values that cannot be right: a buggy or hostile peer."""


class NotFound(ChannelError, FileNotFoundError):
    """No channel exists at that address."""


class AlreadyExists(ChannelError, FileExistsError):
    """``create=True`` but something already exists at that address."""


class IncompatibleVersion(ChannelError):
    """The segment was made by a shmring with a different memory layout."""


class InUse(ChannelError):
    """That end of the channel is already held by a live process."""


def check_timeout(timeout) -> float | None:
    """Validate a ``timeout`` argument: None, or a number of seconds >= 0."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be None or a number of seconds, not {type(timeout).__name__}")
    if timeout != timeout or timeout < 0:
        raise ValueError(f"timeout must be None or >= 0 seconds, got {timeout!r}")
    return float(timeout)


class Deadline:
    """The end of a timeout on the monotonic clock; ``None`` means never."""

    __slots__ = ("end",)

    def __init__(self, timeout):
        timeout = check_timeout(timeout)
        self.end = None if timeout is None else time.monotonic() + timeout

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None for no deadline."""
        if self.end is None:
            return None
        return max(0.0, self.end - time.monotonic())


class Endpoint:
    """What a Sender and a Receiver share: closing and the context manager."""

    _closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close this copy of the end. The end closes when its last copy does."""
        self._closed = True

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise Closed(f"{what}() on a closed {type(self).__name__}")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {self.address} {state}>"

    address = "?"


class Sender(Endpoint):
    """The sending end of a channel."""

    max_message_size: int

    def send(self, data, *, timeout: float | None = None) -> None:
        """Send one message: any C-contiguous buffer, all or nothing."""
        raise NotImplementedError


class Receiver(Endpoint):
    """The receiving end of a channel."""

    max_message_size: int

    def recv(self, *, timeout: float | None = None) -> bytes:
        """Receive the next message."""
        raise NotImplementedError

    def recv_into(self, buffer, *, timeout: float | None = None) -> int:
        """Receive the next message into a writable buffer; returns its length.

        If the buffer is too small, raises BufferTooSmall and the message stays queued.
        """
        raise NotImplementedError

    def __iter__(self):
        while True:
            try:
                yield self.recv()
            except Closed:
                return
