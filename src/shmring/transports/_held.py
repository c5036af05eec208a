"""What the pipe, socket and queue endpoints share so that an exception (a
timeout, or one a signal handler raises) never loses a message they took or
miscounts one they sent (README: Reliability).

CPython runs signal handlers as a call returns, before the caller has its
result. So a receiver keeps the messages an interrupted call took in
``_held`` (delivered first by the next call), and a sender counts what it
sent in ``_sent_total`` with no call between the send and the count.
"""

from __future__ import annotations

from itertools import starmap

from ..channel import BufferTooSmall, ChannelError, Closed, check_count, concurrent_use

_NO_ARGUMENTS = ((),)  # starmap(f, _NO_ARGUMENTS): f() once, called from C


class HeldMessages:
    """recv_many and iteration for a receiver with ``_held`` (a list), a
    ``_busy`` flag and ``_take_batch(batch, max_n, timeout)``, which appends
    up to max_n messages to batch, waiting only for the first."""

    _held: list
    _busy: bool
    _deferred_error: ChannelError | None
    address: str

    def recv(self, *, timeout=None) -> bytes:  # the receiver's own
        raise NotImplementedError

    def _take_batch(self, batch: list, max_n: int, timeout) -> None:
        raise NotImplementedError

    def recv_many(self, max_n: int, *, timeout=None) -> list:
        """Wait for one message, then take up to ``max_n`` in all of those
        that arrive without waiting."""
        check_count(max_n)
        if self._deferred_error is not None:
            error, self._deferred_error = self._deferred_error, None
            raise error
        if self._busy:
            raise concurrent_use("recv_many", self.address)
        self._busy = True
        batch: list = []
        try:
            held = self._held
            if held:
                message = held[0]
                del held[0]
                return [message]
            self._take_batch(batch, max_n, timeout)  # a call, not a loop: see below
            return batch
        except BaseException:
            self._held[0:0] = batch  # taken but not returned: they come first next time (no call)
            raise
        finally:
            self._busy = False

    # _take_batch is a loop of its own because CPython 3.12+ leaves a loop's
    # back edge out of the enclosing try's exception table (gh-108214): a
    # signal handler raising there would skip recv_many's except clause and
    # lose the batch. From a call it propagates through the try.

    def __iter__(self):
        return held_first(self.recv, self._held)


def copy_into(target: memoryview, message: bytes) -> int:
    """recv_into's copy of a message it holds: its size, or BufferTooSmall (the message stays held)."""
    size = len(message)
    if size > len(target):
        raise BufferTooSmall(
            f"recv_into() got a buffer of {len(target)} bytes for a message of {size}; "
            "it stays queued: call again with a larger buffer",
            size,
        )
    target[:size] = message
    return size


def held_first(recv, held: list):
    """Iterate a receiver: each message until Closed, first those in ``held``.
    recv's message goes into ``held`` inside one C call (list.extend), so no
    signal handler can run between the recv and the yield."""
    while True:
        if not held:
            try:
                held.extend(starmap(recv, _NO_ARGUMENTS))
            except Closed:
                return
        message = held[0]
        del held[0]
        yield message


class CountedSends:
    """send_many for a sender whose send adds what it sent to ``_sent_total``
    with no call in between (a begun stream frame counts: it goes out whole)."""

    _sent_total = 0

    def send_many(self, messages, *, timeout=None) -> None:
        """Send every message, in order, each whole. An exception leaving it
        carries ``sent``: how many went."""
        start = self._sent_total
        try:
            super().send_many(messages, timeout=timeout)  # type: ignore[misc]
        except BaseException as e:
            try:
                e.sent = self._sent_total - start  # type: ignore[attr-defined]  # counted by send, no call here
            except AttributeError:
                pass
            raise
