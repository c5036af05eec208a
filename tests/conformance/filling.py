"""Filling a channel until send() times out, as the tests of full channels need."""

from __future__ import annotations

import shmring
from tests.conformance.children import message

SIZE = 1000  # of the messages that fill a channel


def fill(tx) -> int:
    """Send numbered messages until the channel is full; how many were sent.

    timeout=0 until the first Timeout, then 0.1 s tries, because TCP makes
    room again a moment later (see test_timeouts.send_until_timeout).
    """
    sent = 0
    timeout = 0
    while True:
        try:
            tx.send(message(sent, SIZE), timeout=timeout)
        except shmring.Timeout:
            if timeout:
                return sent
            timeout = 0.1
        else:
            sent += 1
            assert sent < 200_000, "the channel never filled"
