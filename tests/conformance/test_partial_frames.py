"""Byte streams: a frame split across reads or writes is still delivered whole, exactly once.

The shm ring and the queue move whole messages only, so these cases do not
exist there.
"""

from __future__ import annotations

import struct
import threading

import pytest

import shmring
from tests.conformance.children import WAIT, message
from tests.conformance.filling import SIZE, fill
from tests.conformance.rawstream import write_all

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def stream_channel(transport):
    if not transport.spec.byte_stream:
        pytest.skip(
            f"{transport.name} has no byte stream (no fileno()) to split a frame on, and its send() is all or nothing"
        )
    return transport.make()


@pytest.mark.parametrize("size", [1000, 64 * 1024], ids=["buffered", "bigger-than-the-read-buffer"])
@pytest.mark.parametrize("method", ["recv", "recv_into"])
def test_a_frame_arriving_in_pieces_comes_out_whole_and_a_timeout_in_between_loses_nothing(
    stream_channel, size, method
):
    tx, rx = stream_channel
    data = message(7, size)
    frame = struct.pack("<Q", size) + data
    target = bytearray(size)
    receive = rx.recv if method == "recv" else lambda **kw: rx.recv_into(target, **kw)
    cuts = [0, 3, 8, 9, size // 2, size + 8]
    for start, stop in zip(cuts, cuts[1:]):
        with pytest.raises(shmring.Timeout):
            receive(timeout=0.01)
        write_all(tx, frame[start:stop])
    result = receive(timeout=WAIT)
    assert (result if method == "recv" else bytes(target[:result])) == data


def test_a_send_that_times_out_midway_is_finished_by_the_next_send_and_by_close(stream_channel):
    tx, rx = stream_channel
    sent = fill(tx)
    big = message(sent, tx.max_message_size)
    received = []
    # Room for part of a big message, not all of it. A pipe takes the first
    # part of it (a socket may take it whole): the send returns, the message is
    # committed, and the rest waits in the sender. TCP may open its window only
    # in bigger steps than ten messages (over the loopback, as Windows' pair()
    # is): a send that timed out wrote nothing, so read more and send again.
    while True:
        received += [rx.recv(timeout=WAIT) for _ in range(10)]
        try:
            tx.send(big, timeout=0.1)
            break
        except shmring.Timeout:
            assert len(received) + 10 <= sent, "reading every message made no room for a big one"
    reader = threading.Thread(target=lambda: received.extend(rx))
    reader.start()
    tx.send(b"next", timeout=WAIT)  # finishes the big one first
    tx.send(b"last", timeout=0.2)  # may itself be left half-written: close() finishes it
    tx.close()
    reader.join(WAIT)
    assert received == [message(i, SIZE) for i in range(sent)] + [big, b"next", b"last"]
