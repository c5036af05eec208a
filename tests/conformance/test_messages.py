"""Messages keep their boundaries, sizes and content; what send() and recv_into() accept."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

import shmring
from tests.conformance.children import WAIT, message

pytestmark = pytest.mark.timeout(30)


def round_trip(tx, rx, messages):
    """Send ``messages`` while a thread receives them (a big one may not fit the channel at once)."""
    received = []

    def receive():
        for _ in messages:
            received.append(rx.recv(timeout=WAIT))

    reader = threading.Thread(target=receive)
    reader.start()
    for m in messages:
        tx.send(m, timeout=WAIT)
    reader.join(WAIT)
    return received


def test_boundaries_and_sizes_from_0_to_max(channel):
    tx, rx = channel
    top = tx.max_message_size
    sizes = [0, 1, 7, 8, 9, 0, 100, 4096, 4097, top - 1, top, 0, 3]
    messages = [message(i, size) for i, size in enumerate(sizes)]
    assert round_trip(tx, rx, messages) == messages


def test_max_message_size_is_the_same_on_both_ends(channel):
    tx, rx = channel
    assert tx.max_message_size == rx.max_message_size > 60_000


def test_a_message_over_the_limit_raises_and_sends_nothing(channel):
    tx, rx = channel
    with pytest.raises(shmring.MessageTooLarge) as e:
        tx.send(bytes(tx.max_message_size + 1))
    assert isinstance(e.value, ValueError)
    assert str(tx.max_message_size) in str(e.value)
    tx.send(b"next")
    assert rx.recv(timeout=WAIT) == b"next"


@pytest.mark.parametrize(
    "make",
    [
        lambda: b"bytes",
        lambda: bytearray(b"bytearray"),
        lambda: memoryview(b"..a memoryview..")[2:-2],
        lambda: np.arange(12, dtype=np.int32).reshape(3, 4),
        lambda: memoryview(np.arange(5, dtype=np.float64)),
    ],
    ids=["bytes", "bytearray", "memoryview", "numpy-2d", "memoryview-of-doubles"],
)
def test_any_c_contiguous_buffer_is_sent_as_its_bytes(channel, make):
    tx, rx = channel
    data = make()
    tx.send(data)
    assert rx.recv(timeout=WAIT) == memoryview(data).tobytes()


@pytest.mark.parametrize(
    "data, error",
    [("text", TypeError), (12, TypeError), (None, TypeError), (np.arange(10)[::2], ValueError)],
    ids=["str", "int", "None", "non-contiguous"],
)
def test_what_is_not_a_contiguous_buffer_is_refused(channel, data, error):
    tx, rx = channel
    with pytest.raises(error):
        tx.send(data)
    tx.send(b"still works")
    assert rx.recv(timeout=WAIT) == b"still works"


def test_recv_into_fills_any_writable_buffer(channel):
    tx, rx = channel
    tx.send(b"0123456789abcdef")
    tx.send(b"xyz")
    array = np.zeros(32, dtype=np.uint8)
    assert rx.recv_into(array, timeout=WAIT) == 16
    assert array[:16].tobytes() == b"0123456789abcdef"
    target = bytearray(8)
    assert rx.recv_into(memoryview(target)[2:], timeout=WAIT) == 3
    assert target == b"\0\0xyz\0\0\0"


def test_recv_into_refuses_read_only_buffers(channel):
    tx, rx = channel
    with pytest.raises(TypeError):
        rx.recv_into(b"read only", timeout=0)


@pytest.mark.parametrize("size", [20, 2 * 64 * 1024 // 3], ids=["small", "big"])
def test_a_buffer_too_small_leaves_the_message_queued(channel, size):
    tx, rx = channel
    messages = [message(1, size), message(2, 5)]
    got = []
    reader = threading.Thread(target=lambda: got.append(_too_small_then_whole(rx, size)))
    reader.start()
    for m in messages:
        tx.send(m, timeout=WAIT)
    reader.join(WAIT)
    assert got == [(size, messages[0])]
    assert rx.recv(timeout=WAIT) == messages[1]


def _too_small_then_whole(rx, size):
    small = bytearray(size - 1)
    try:
        rx.recv_into(small, timeout=WAIT)
    except shmring.BufferTooSmall as e:
        assert isinstance(e, ValueError)
        needed = e.needed
    else:
        raise AssertionError("recv_into accepted a buffer too small")
    whole = bytearray(size)
    assert rx.recv_into(whole, timeout=WAIT) == size
    return needed, bytes(whole)


def test_recv_after_buffer_too_small_returns_the_message(channel):
    tx, rx = channel
    tx.send(b"twelve bytes")
    with pytest.raises(shmring.BufferTooSmall):
        rx.recv_into(bytearray(4), timeout=WAIT)
    assert rx.recv(timeout=WAIT) == b"twelve bytes"


def test_iteration_yields_every_message_then_stops_at_close(channel):
    tx, rx = channel
    messages = [message(i, 50 * i) for i in range(5)]
    for m in messages:
        tx.send(m)
    tx.close()
    assert list(rx) == messages


def test_closed_only_after_every_message_was_received(channel):
    tx, rx = channel
    tx.send(b"one")
    tx.send(b"")
    tx.close()
    assert rx.recv(timeout=WAIT) == b"one"
    assert rx.recv(timeout=WAIT) == b""
    for _ in range(2):  # and stays so
        with pytest.raises(shmring.Closed):
            rx.recv(timeout=WAIT)


def test_send_after_the_receiver_closed_raises_closed(channel):
    tx, rx = channel
    rx.close()
    with pytest.raises(shmring.Closed):
        # TCP learns of the close from the peer's reset: the first send may still pass (see the socket docs)
        for _ in range(100):
            tx.send(b"x" * 100, timeout=WAIT)


def test_close_is_idempotent_and_a_closed_end_refuses_everything(channel):
    tx, rx = channel
    for ep in (tx, rx):
        ep.close()
        ep.close()
        assert ep.closed
        assert "closed" in repr(ep)
    with pytest.raises(shmring.Closed):
        tx.send(b"x")
    with pytest.raises(shmring.Closed):
        rx.recv(timeout=0)
    with pytest.raises(shmring.Closed):
        rx.recv_into(bytearray(10), timeout=0)
    with pytest.raises(shmring.Closed):
        pickle.dumps(tx)


def test_endpoints_are_context_managers(channel):
    tx, rx = channel
    with tx as sender, rx as receiver:
        sender.send(b"in a with block")
        assert receiver.recv(timeout=WAIT) == b"in a with block"
    assert tx.closed and rx.closed


def test_repr_shows_the_address(channel):
    tx, rx = channel
    assert tx.address in repr(tx) and "open" in repr(tx)
    assert rx.address in repr(rx)
    assert tx.address == rx.address
