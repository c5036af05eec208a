"""timeout=None/0/>0 on empty and full channels; a timed-out send leaves nothing behind."""

from __future__ import annotations

import threading
import time

import pytest

import shmring
from tests.conformance.children import WAIT, message, seq_of
from tests.conformance.filling import SIZE, fill
from tests.conformance.processes import wait_until_blocked

pytestmark = pytest.mark.timeout(60)


def elapsed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def raises_timeout(call) -> float:
    """Seconds ``call`` took to raise Timeout."""
    start = time.perf_counter()
    with pytest.raises(shmring.Timeout) as e:
        call()
    assert isinstance(e.value, TimeoutError)
    return time.perf_counter() - start


@pytest.mark.parametrize("method", ["recv", "recv_into"])
def test_an_empty_channel_times_out(channel, method):
    tx, rx = channel
    receive = rx.recv if method == "recv" else lambda **kw: rx.recv_into(bytearray(100), **kw)
    assert raises_timeout(lambda: receive(timeout=0)) < 0.05
    assert 0.2 <= raises_timeout(lambda: receive(timeout=0.2)) < 1.5
    tx.send(b"then it works")
    assert elapsed(lambda: receive(timeout=WAIT)) < 1


def test_a_full_channel_times_out_and_keeps_nothing_of_the_message(channel):
    tx, rx = channel
    sent = fill(tx)
    sent = send_until_timeout(tx, sent, timeout=0, within=(0, 0.05))
    sent = send_until_timeout(tx, sent, timeout=0.2, within=(0.2, 1.5))
    # Every message that send() accepted arrives, and none of the timed-out ones.
    # The last accepted one may still be finishing in the sender (a stream's
    # pending tail): close() completes it once there is room.
    received = [rx.recv(timeout=WAIT) for _ in range(sent - 1)]
    tx.close()
    received.append(rx.recv(timeout=WAIT))
    with pytest.raises(shmring.Closed):
        rx.recv(timeout=WAIT)
    assert [seq_of(m) for m in received] == list(range(sent))
    assert received == [message(i, SIZE) for i in range(sent)]


def send_until_timeout(tx, sent: int, timeout: float, within) -> int:
    """Send the next message on a full channel until it raises Timeout within ``within`` seconds.

    Only TCP may take more messages first: it makes room in bursts (as
    acknowledgements come back and the peer compacts its receive queue), so
    "full" is a moment there, not a state. Returns the number of messages sent.
    """
    for _ in range(10_000):
        start = time.perf_counter()
        try:
            tx.send(message(sent, SIZE), timeout=timeout)
        except shmring.Timeout as e:
            assert isinstance(e, TimeoutError)
            assert within[0] <= time.perf_counter() - start < within[1]
            return sent
        sent += 1
    raise AssertionError(f"a full channel took 10,000 more messages with timeout={timeout}")


def test_timeout_none_waits_until_a_message_comes(channel):
    tx, rx = channel
    sender = threading.Thread(target=send_when_blocked, args=(threading.get_native_id(), tx, b"late"))
    sender.start()
    assert rx.recv(timeout=None) == b"late"
    sender.join(WAIT)


def send_when_blocked(receiver: int, tx, message: bytes) -> None:
    wait_until_blocked(receiver)  # the receiving thread waits inside recv()
    tx.send(message)


@pytest.mark.parametrize("timeout, error", [(-1, ValueError), (float("nan"), ValueError), ("1", TypeError)])
def test_bad_timeouts_are_refused(channel, timeout, error):
    tx, rx = channel
    with pytest.raises(error):
        rx.recv(timeout=timeout)


@pytest.mark.parametrize("timeout, error", [
    (-1, ValueError), (float("nan"), ValueError), (float("inf"), ValueError), (1e12, ValueError), ("1", TypeError),
])
def test_every_call_refuses_a_bad_timeout_even_when_it_need_not_wait(channel, timeout, error):
    tx, rx = channel
    tx.send(b"waiting")
    for call in (lambda: tx.send(b"x", timeout=timeout), lambda: tx.send_many([b"x"], timeout=timeout),
                 lambda: rx.recv(timeout=timeout), lambda: rx.recv_into(bytearray(10), timeout=timeout),
                 lambda: rx.recv_many(1, timeout=timeout)):
        with pytest.raises(error, match="timeout"):
            call()
    assert rx.recv(timeout=5) == b"waiting"
