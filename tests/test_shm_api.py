"""The endpoint API of the shm transport: what send takes, what recv gives,
iteration, closing, copies, and the attributes."""

import array
import pickle
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shmring
import shmring.transports.shm as shm
from tests import helpers as h


@pytest.fixture
def ring():
    tx, rx = shmring.pair("shm", capacity=1 << 16)
    yield tx, rx
    tx.close()
    rx.close()


class Bytes(bytes):
    pass


SENDABLE = {
    "bytes": b"hello",
    "bytes-subclass": Bytes(b"hello"),
    "bytearray": bytearray(b"hello"),
    "memoryview-slice": memoryview(b"hello world")[6:],
    "array-of-int32": array.array("i", [1, -2, 3]),
    "numpy-uint8": np.arange(10, dtype=np.uint8),
    "numpy-float64-2d": np.arange(12.0).reshape(3, 4),
    "numpy-contiguous-slice": np.arange(20, dtype=np.int32)[5:15],
}


@pytest.mark.parametrize("data", SENDABLE.values(), ids=SENDABLE.keys())
def test_send_takes_any_contiguous_buffer_and_recv_gives_bytes(ring, data):
    tx, rx = ring
    tx.send(data)
    got = rx.recv(timeout=0)
    assert type(got) is bytes
    assert got == memoryview(data).tobytes()


def test_recv_into_fills_a_bytearray_and_leaves_the_rest(ring):
    tx, rx = ring
    tx.send(b"abcdef")
    buf = bytearray(b"." * 10)
    assert rx.recv_into(buf) == 6
    assert buf == b"abcdef...."


def test_recv_into_fills_numpy_arrays(ring):
    tx, rx = ring
    values = np.array([1.5, -2.25, 1e300])
    tx.send(values)
    tx.send(b"\x01\x02\x03")
    floats = np.zeros(4)
    assert rx.recv_into(floats) == values.nbytes
    assert list(floats[:3]) == list(values) and floats[3] == 0
    small = np.zeros(3, dtype=np.uint8)
    assert rx.recv_into(small) == 3
    assert list(small) == [1, 2, 3]


def test_recv_into_a_memoryview_slice_writes_at_its_offset(ring):
    tx, rx = ring
    tx.send(b"xyz")
    backing = bytearray(8)
    assert rx.recv_into(memoryview(backing)[4:]) == 3
    assert backing == b"\0\0\0\0xyz\0"


@pytest.mark.parametrize("empty", [b"", bytearray(), memoryview(b""), np.empty(0, dtype=np.uint8)], ids=type)
def test_zero_byte_messages_are_messages(ring, empty):
    tx, rx = ring
    tx.send(empty)
    tx.send(empty)
    assert rx.recv(timeout=0) == b""
    assert rx.recv_into(bytearray(), timeout=0) == 0
    with pytest.raises(shmring.Timeout):
        rx.recv(timeout=0)


# ---- messages larger than the receiver's 64 KiB scratch buffer ---------------------

BIG = 1 << 20


@pytest.fixture(scope="module")
def big_ring():
    tx, rx = shmring.pair("shm", capacity=BIG)
    yield tx, rx
    tx.close()
    rx.close()


@pytest.mark.parametrize("size", [65535, 65536, 65537, 200_000, BIG // 2 - 8])
def test_large_messages_round_trip_through_recv(big_ring, size):
    tx, rx = big_ring
    data = random.Random(size).randbytes(size)
    tx.send(data)
    tx.send(b"small after")
    assert rx.recv(timeout=5) == data
    assert rx.recv(timeout=5) == b"small after"


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.one_of(st.integers(0, 100), st.integers(65_000, 66_000), st.integers(100_000, 300_000)), max_size=6),
    into=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_any_mix_of_small_and_large_messages_round_trips(big_ring, sizes, into, seed):
    tx, rx = big_ring
    rng = random.Random(seed)
    for size in sizes:
        data = rng.randbytes(size)
        tx.send(data)
        if into:
            buf = bytearray(size + 3)
            assert rx.recv_into(buf, timeout=5) == size
            assert buf[:size] == data
        else:
            assert rx.recv(timeout=5) == data


@pytest.mark.parametrize("sizes", [
    [0, 1, 9, 10, 99, 100, 999, 1000, 65_535, 100_000],  # every digit count of the format recv_many builds
    [100_000, 100_000, 100_000],
    [0, 0, 0],
])
def test_recv_many_cuts_batches_of_any_sizes_apart(big_ring, sizes):
    tx, rx = big_ring
    rng = random.Random(len(sizes))
    messages = [rng.randbytes(size) for size in sizes]
    tx.send_many(messages)
    received = []
    while len(received) < len(messages):
        received += rx.recv_many(len(messages), timeout=5)
    assert received == messages


# ---- iteration, closing, context managers ----------------------------------------


def test_iterating_a_receiver_yields_every_message_then_stops_at_closed(ring):
    tx, rx = ring
    sent = [bytes([i]) * i for i in range(20)]
    for msg in sent:
        tx.send(msg)
    tx.close()
    assert list(rx) == sent
    with pytest.raises(shmring.Closed):
        rx.recv(timeout=0)


def test_context_managers_close_both_ends_and_the_ring_goes_away(monkeypatch):
    monkeypatch.setattr(shm, "_SEALED_PAIRS", False)  # a named ring, whose name goes
    tx, rx = shmring.pair("shm", capacity=4096)
    with tx as sender, rx as receiver:
        assert (sender, receiver) == (tx, rx)
        tx.send(b"inside")
        assert rx.recv() == b"inside"
    assert tx.closed and rx.closed
    assert not h.segment_exists(tx.address)


def test_context_manager_closes_on_an_exception(ring):
    tx, rx = ring
    with pytest.raises(RuntimeError), tx:
        raise RuntimeError("boom")
    assert tx.closed
    with pytest.raises(shmring.Closed):
        rx.recv(timeout=0)


def test_close_is_idempotent(ring):
    tx, rx = ring
    for _ in range(3):
        tx.close()
        rx.close()
    assert tx.closed and rx.closed


def test_an_endpoint_dropped_without_close_closes_at_once():
    # send and recv are per-endpoint closures: they must not keep their
    # endpoint alive in a reference cycle, or the drop waits for the GC.
    tx, rx = shmring.pair("shm", capacity=1 << 16)
    del rx
    with pytest.raises(shmring.Closed):
        tx.send(b"x", timeout=0)
    tx.close()


def test_send_and_recv_kept_after_their_endpoints_are_dropped_still_work():
    tx, rx = shmring.pair("shm", capacity=1 << 16)
    send, recv = tx.send, rx.recv
    del tx, rx
    send(b"still")
    assert recv() == b"still"
    with pytest.raises(shmring.Timeout):
        recv(timeout=0)  # the slow paths work too
    with pytest.raises(shmring.Timeout):
        while True:
            send(b"x" * 1000, timeout=0.001)
    del recv  # the last reference to the receiving end: it closes
    with pytest.raises(shmring.Closed):
        send(b"x", timeout=0)


def test_the_class_methods_behave_as_the_endpoint_functions(ring):
    tx, rx = ring
    type(tx).send(tx, b"via the class")
    assert type(rx).recv(rx, timeout=1) == b"via the class"
    assert "Send one message" in tx.send.__doc__ and "Receive the next" in rx.recv.__doc__


def test_repr_shows_the_address_and_state(ring):
    tx, rx = ring
    # Linux: a sealed ring with no name; elsewhere a named segment made up for it
    assert tx.address == "shm:anonymous" if shm._SEALED_PAIRS else tx.address.startswith("shm://shmr-")
    assert rx.address == tx.address
    assert repr(tx) == f"<ShmSender {tx.address} open>"
    assert repr(rx) == f"<ShmReceiver {rx.address} open>"
    tx.close()
    assert repr(tx) == f"<ShmSender {tx.address} closed>"


def test_pickling_a_closed_endpoint_raises_closed(ring):
    tx, rx = ring
    tx.close()
    rx.close()
    for endpoint in (tx, rx):
        with pytest.raises(shmring.Closed, match="pickle"):
            pickle.dumps(endpoint)


def test_an_end_stays_open_until_its_last_copy_closes(ring):
    tx, rx = ring
    copy = pickle.loads(pickle.dumps(tx))
    tx.close()
    copy.send(b"from the copy")
    assert rx.recv(timeout=0) == b"from the copy"
    copy.close()
    with pytest.raises(shmring.Closed):
        rx.recv(timeout=1)


def test_copies_of_a_sender_used_in_turn_keep_one_stream(ring):
    tx, rx = ring
    copy = pickle.loads(pickle.dumps(tx))
    expected = []
    for turn in range(6):
        sender = (tx, copy)[turn % 2]
        for i in range(5):
            msg = f"turn {turn} message {i}".encode() * (i + 1)
            sender.send(msg)
            expected.append(msg)
    copy.close()
    assert [rx.recv(timeout=0) for _ in expected] == expected


# ---- attributes ------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [1 << k for k in range(10, 21)])
def test_max_message_size_is_half_the_capacity_minus_a_record_header(capacity):
    tx, rx = shmring.pair("shm", capacity=capacity)
    with tx, rx:
        assert tx.capacity == rx.capacity == capacity
        assert tx.max_message_size == rx.max_message_size == capacity // 2 - 8


def test_default_capacity_is_one_mebibyte():
    tx, rx = shmring.pair("shm")
    with tx, rx:
        assert tx.capacity == 1 << 20


def test_endpoints_are_senders_and_receivers(ring):
    tx, rx = ring
    assert isinstance(tx, shmring.Sender) and not isinstance(tx, shmring.Receiver)
    assert isinstance(rx, shmring.Receiver) and not isinstance(rx, shmring.Sender)


def test_named_ring_ends_share_the_address_and_the_name_goes_with_the_last_close():
    address = "shm://" + h.unique_name()
    try:
        with shmring.open(address, "w", create=True, capacity=4096) as tx, shmring.open(address, "r") as rx:
            assert tx.address == rx.address == address
            assert rx.capacity == 4096
            tx.send(b"named")
            assert rx.recv(timeout=0) == b"named"
        assert not h.segment_exists(address)
    finally:
        shmring.unlink(address)


def test_a_named_reader_waits_for_a_writer_that_has_not_opened_yet():
    address = "shm://" + h.unique_name()
    try:
        with shmring.open(address, "r", create=True, capacity=4096) as rx:
            with pytest.raises(shmring.Timeout):
                rx.recv(timeout=0.05)  # not Closed: a writer that never opened is still to come
            with shmring.open(address, "w") as tx:
                tx.send(b"late")
            assert rx.recv(timeout=5) == b"late"
            with pytest.raises(shmring.Closed):
                rx.recv(timeout=5)
    finally:
        shmring.unlink(address)


def test_unlink_removes_a_leftover_and_ignores_a_missing_name():
    address = "shm://" + h.unique_name()
    shmring.open(address, "w", create=True, capacity=4096).close()  # the reader never came
    assert h.segment_exists(address)
    shmring.unlink(address)
    assert not h.segment_exists(address)
    shmring.unlink(address)
