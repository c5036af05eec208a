"""Pickling endpoints outside process spawning, and what a copy refuses to leave behind."""

from __future__ import annotations

import pickle

import pytest

import shmring
from tests.conformance.children import WAIT

pytestmark = pytest.mark.timeout(30)


def test_a_copy_unpickled_in_the_same_process_works_or_the_refusal_says_why(transport, channel):
    tx, rx = channel
    if transport.name == "queue":
        with pytest.raises(RuntimeError, match="Process"):
            pickle.dumps(tx)
        return  # multiprocessing.Queue only travels to children it starts
    copy = pickle.loads(pickle.dumps(tx))
    tx.close()  # the copy keeps the end open
    copy.send(b"from the copy")
    assert rx.recv(timeout=WAIT) == b"from the copy"
    copy.close()
    with pytest.raises(shmring.Closed):
        rx.recv(timeout=WAIT)


def test_a_receiver_with_read_ahead_data_refuses_to_be_copied(transport, channel):
    tx, rx = channel
    if not transport.spec.byte_stream:
        pytest.skip(f"{transport.name} keeps no read-ahead data in the receiving process")
    tx.send(b"one")
    tx.send(b"two")
    assert rx.recv(timeout=WAIT) == b"one"  # "two" came in the same read
    with pytest.raises(shmring.ChannelError, match="read ahead"):
        pickle.dumps(rx)
    assert rx.recv(timeout=WAIT) == b"two"
    pickle.loads(pickle.dumps(rx)).close()  # nothing buffered now
