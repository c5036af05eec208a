"""What a receiver says about a byte stream that breaks the framing rules.

Only stream transports have a byte stream that a peer can cut or forge
through the public API (``fileno()``); the shm ring's own checks are tested
in tests/test_shm_errors.py.
"""

from __future__ import annotations

import struct

import pytest

import shmring
from tests.conformance.children import WAIT
from tests.conformance.rawstream import write_some

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def stream_channel(transport):
    if not transport.spec.byte_stream:
        pytest.skip(f"{transport.name} has no byte stream a writer could cut or forge (no fileno())")
    return transport.make()


def write_raw(tx, data: bytes) -> None:
    assert write_some(tx, data) == len(data)


def test_a_frame_longer_than_max_message_size_is_corrupt(stream_channel):
    tx, rx = stream_channel
    tx.send(b"fine")
    write_raw(tx, struct.pack("<Q", rx.max_message_size + 1))
    assert rx.recv(timeout=WAIT) == b"fine"
    for _ in range(2):  # the stream cannot be resynchronised
        with pytest.raises(shmring.Corrupt, match="max_message_size"):
            rx.recv(timeout=WAIT)


def test_a_stream_cut_in_a_frame_is_corrupt(stream_channel):
    tx, rx = stream_channel
    tx.send(b"whole")
    write_raw(tx, struct.pack("<Q", 100) + b"only ten b")
    tx.close()
    assert rx.recv(timeout=WAIT) == b"whole"
    with pytest.raises(shmring.Corrupt, match="middle of a message"):
        rx.recv(timeout=WAIT)


def test_recv_many_delivers_the_whole_messages_before_a_corrupt_one(stream_channel):
    tx, rx = stream_channel
    tx.send_many([b"a", b"b"])
    write_raw(tx, struct.pack("<Q", rx.max_message_size + 1))
    assert rx.recv_many(10, timeout=WAIT) == [b"a", b"b"]
    with pytest.raises(shmring.Corrupt, match="max_message_size"):
        rx.recv_many(10, timeout=WAIT)


def test_a_stream_cut_in_a_header_is_corrupt(stream_channel):
    tx, rx = stream_channel
    write_raw(tx, b"\x05\x00\x00")
    tx.close()
    with pytest.raises(shmring.Corrupt, match="middle of a message"):
        rx.recv_into(bytearray(10), timeout=WAIT)


def test_a_stream_that_ends_between_frames_is_closed(stream_channel):
    tx, rx = stream_channel
    tx.send(b"last")
    tx.close()
    assert rx.recv(timeout=WAIT) == b"last"
    with pytest.raises(shmring.Closed):
        rx.recv(timeout=WAIT)
