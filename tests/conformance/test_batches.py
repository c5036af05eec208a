"""send_many and recv_many: the same messages, boundaries and errors as one at a time."""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shmring
from tests.conformance.children import WAIT, message

pytestmark = pytest.mark.timeout(60)


def receive_all(rx, count: int, max_n: int) -> list[bytes]:
    received = []
    while len(received) < count:
        batch = rx.recv_many(max_n, timeout=WAIT)
        assert 1 <= len(batch) <= max_n
        received += batch
    return received


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.one_of(st.integers(0, 300), st.sampled_from([0, 1, 4096])), min_size=1, max_size=60),
       max_n=st.integers(1, 80), one_size=st.booleans())
def test_batches_keep_order_boundaries_and_content(transport, sizes, max_n, one_size):
    if one_size:  # a batch of equal sizes takes another path through recv_many
        sizes = [sizes[0]] * len(sizes)
    tx, rx = transport.make()
    messages = [message(i, size) for i, size in enumerate(sizes)]
    received = []
    reader = threading.Thread(target=lambda: received.extend(receive_all(rx, len(messages), max_n)))
    reader.start()
    tx.send_many(iter(messages), timeout=WAIT)  # any iterable
    reader.join(WAIT)
    assert received == messages


def test_recv_many_takes_at_most_max_n(channel):
    tx, rx = channel
    tx.send_many([b"one", b"two", b"three"])
    first = rx.recv_many(2, timeout=WAIT)
    # A queue's feeder thread may not have written the second yet: "already there" is what has arrived.
    assert first in ([b"one"], [b"one", b"two"])
    rest = []
    while len(first) + len(rest) < 3:
        rest += rx.recv_many(10, timeout=WAIT)
    assert first + rest == [b"one", b"two", b"three"]


@pytest.mark.parametrize("timeout", [0, 0.05])
def test_recv_many_on_an_empty_channel_times_out(channel, timeout):
    tx, rx = channel
    with pytest.raises(shmring.Timeout):
        rx.recv_many(5, timeout=timeout)


def test_recv_many_drains_then_raises_closed(channel):
    tx, rx = channel
    tx.send_many([b"a", b"b"])
    tx.close()
    got = []
    with pytest.raises(shmring.Closed):
        while True:
            got += rx.recv_many(1, timeout=WAIT)
    assert got == [b"a", b"b"]


def test_a_message_over_the_limit_fails_the_batch_before_any_is_sent(channel):
    tx, rx = channel
    with pytest.raises(shmring.MessageTooLarge):
        tx.send_many([b"first", bytes(tx.max_message_size + 1), b"last"])
    with pytest.raises(shmring.Timeout):
        rx.recv(timeout=0)
    tx.send_many([b"after"])
    assert rx.recv(timeout=WAIT) == b"after"


def test_a_batch_that_times_out_says_how_many_went(channel):
    tx, rx = channel
    batch = [message(i, 1000) for i in range(100_000)]
    with pytest.raises(shmring.Timeout) as e:
        tx.send_many(batch, timeout=0.2)
    sent = e.value.sent
    assert 0 < sent < len(batch)
    # The last message counted may still have its tail in a stream sender (a
    # committed frame is finished by the next send or by close): drain while
    # closing, and nothing beyond the ones counted may arrive.
    received = []
    reader = threading.Thread(target=lambda: received.extend(rx))
    reader.start()
    tx.close()
    reader.join(WAIT)
    assert received == batch[:sent]


@pytest.mark.parametrize("max_n, error", [(0, ValueError), (-1, ValueError), ("3", TypeError), (2.0, TypeError)])
def test_recv_many_refuses_a_bad_count(channel, max_n, error):
    tx, rx = channel
    with pytest.raises(error):
        rx.recv_many(max_n, timeout=0)


def test_send_many_refuses_what_is_not_bytes(channel):
    tx, rx = channel
    with pytest.raises(TypeError):
        tx.send_many([b"ok", "text"])


def test_send_many_cuts_arrays_by_their_bytes_not_their_items(channel):
    # Item counts that happen to add up to the byte total (3 + 3 == 0 + 6)
    # must not decide where one message ends.
    import numpy as np

    tx, rx = channel
    empty_rows, shorts = np.zeros((3, 0), dtype=np.uint8), np.arange(3, dtype=np.uint16)
    tx.send_many([b"first", empty_rows, shorts])
    assert receive_all(rx, 3, 3) == [b"first", b"", shorts.tobytes()]


def test_send_many_refuses_what_is_not_iterable(channel):
    tx, _ = channel
    with pytest.raises(TypeError, match="iterable"):
        tx.send_many(5)


def test_an_empty_batch_on_a_closed_sender_is_closed(channel):
    tx, _ = channel
    tx.close()
    with pytest.raises(shmring.Closed):
        tx.send_many([])
