"""Every error on purpose: the exception type, its standard base class, and a
message that says what went wrong and what to do."""

import math
import os
import random
import re
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shmring
import shmring.transports.shm as shm
from tests import helpers as h
from tests.platform_support import skip_on_windows

CAPACITY = 4096
MAX = CAPACITY // 2 - 8


@pytest.fixture
def ring():
    tx, rx = shmring.pair("shm", capacity=CAPACITY)
    yield tx, rx
    tx.close()
    rx.close()


@pytest.fixture
def address():
    """A fresh named-ring address, removed after the test whatever happened."""
    address = "shm://" + h.unique_name()
    yield address
    h.remove_segment(address)


@pytest.fixture
def writer(address):
    with shmring.open(address, "w", create=True, capacity=CAPACITY) as tx:
        yield tx


def fill_exactly(tx):
    """Two records of capacity/2 bytes fill an empty ring to the last byte."""
    tx.send(bytes(MAX), timeout=0)
    tx.send(bytes(MAX), timeout=0)


def assert_empty(rx):
    with pytest.raises(shmring.Timeout):
        rx.recv(timeout=0)


# ---- sizes -----------------------------------------------------------------------


def test_message_of_max_message_size_plus_one_is_too_large(ring):
    tx, rx = ring
    with pytest.raises(shmring.MessageTooLarge, match="exceeds max_message_size.*larger capacity") as info:
        tx.send(bytes(MAX + 1))
    assert isinstance(info.value, ValueError)
    with pytest.raises(shmring.MessageTooLarge):
        tx.send(bytearray(MAX + 1), timeout=0)
    assert_empty(rx)


def test_message_of_max_message_size_goes_through(ring):
    tx, rx = ring
    tx.send(b"\x07" * MAX, timeout=0)
    assert rx.recv(timeout=0) == b"\x07" * MAX


# ---- timeouts --------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [0, 0.05])
def test_send_to_a_full_ring_times_out_having_sent_nothing(ring, timeout):
    tx, rx = ring
    fill_exactly(tx)
    start = time.perf_counter()
    with pytest.raises(shmring.Timeout, match="send.. on .* timed out") as info:
        tx.send(b"x", timeout=timeout)
    assert time.perf_counter() - start >= timeout
    assert isinstance(info.value, TimeoutError)
    assert rx.recv(timeout=0) == bytes(MAX)
    assert rx.recv(timeout=0) == bytes(MAX)
    assert_empty(rx)


@pytest.mark.parametrize("timeout", [0, 0.05])
@pytest.mark.parametrize("call", ["recv", "recv_into"])
def test_receive_from_an_empty_ring_times_out(ring, timeout, call):
    _, rx = ring
    receive = {"recv": lambda: rx.recv(timeout=timeout), "recv_into": lambda: rx.recv_into(bytearray(8), timeout=timeout)}
    start = time.perf_counter()
    with pytest.raises(shmring.Timeout, match="timed out") as info:
        receive[call]()
    assert time.perf_counter() - start >= timeout
    assert isinstance(info.value, TimeoutError)


# ---- closed ----------------------------------------------------------------------


def test_receiver_gets_closed_only_after_draining_a_closed_sender(ring):
    tx, rx = ring
    for i in range(3):
        tx.send(bytes([i]) * 10)
    tx.close()
    assert [rx.recv(timeout=0) for _ in range(3)] == [bytes([i]) * 10 for i in range(3)]
    for receive in (lambda: rx.recv(timeout=0), rx.recv, lambda: rx.recv_into(bytearray(10))):
        with pytest.raises(shmring.Closed, match="sender .* closed or died, and every message it sent was received"):
            receive()


@pytest.mark.parametrize("timeout", [0, None])
def test_send_after_the_receiver_closed_raises_closed(ring, timeout):
    tx, rx = ring
    rx.close()
    with pytest.raises(shmring.Closed, match="receiver .* closed or died"):
        tx.send(b"x", timeout=timeout)


@pytest.mark.parametrize(
    "use",
    [
        lambda tx, rx: tx.send(b"x"),
        lambda tx, rx: tx.send(b"x", timeout=0),
        lambda tx, rx: rx.recv(),
        lambda tx, rx: rx.recv(timeout=0),
        lambda tx, rx: rx.recv_into(bytearray(8)),
    ],
    ids=["send", "send-timeout-0", "recv", "recv-timeout-0", "recv_into"],
)
def test_using_a_closed_endpoint_raises_closed(ring, use):
    tx, rx = ring
    tx.send(b"queued")  # data waiting must not let a closed receiver read it
    tx.close()
    rx.close()
    with pytest.raises(shmring.Closed, match=r"\(\) on a closed Shm(Sender|Receiver)"):
        use(tx, rx)


def test_reopening_a_closed_end_raises_closed(address, writer):
    writer.close()
    with pytest.raises(shmring.Closed, match="closed for good.*create a new ring"):
        shmring.open(address, "w")


# ---- opening by name ---------------------------------------------------------------


@pytest.mark.parametrize("direction", ["r", "w"])
def test_opening_a_missing_name_raises_not_found(address, direction):
    with pytest.raises(shmring.NotFound, match="create it with create=True") as info:
        shmring.open(address, direction)
    assert isinstance(info.value, FileNotFoundError)


def test_creating_an_existing_name_raises_already_exists_and_leaves_it_intact(address, writer):
    with pytest.raises(shmring.AlreadyExists, match=re.escape(f"shmring.unlink({address!r})")) as info:
        shmring.open(address, "r", create=True, capacity=CAPACITY)
    assert isinstance(info.value, FileExistsError)
    with shmring.open(address, "r") as rx:
        writer.send(b"still works")
        assert rx.recv(timeout=5) == b"still works"


def test_a_second_writer_or_reader_raises_in_use(address):
    tx = shmring.open(address, "w", create=True, capacity=CAPACITY)
    rx = shmring.open(address, "r")
    for direction in ("w", "r"):
        with pytest.raises(shmring.InUse, match="already held by a live process"):
            shmring.open(address, direction)
    tx.send(b"unharmed")
    assert rx.recv(timeout=0) == b"unharmed"


def test_open_with_the_wrong_capacity_raises_and_leaves_the_end_usable(address, writer):
    with pytest.raises(ValueError, match=f"has capacity {CAPACITY}, not {2 * CAPACITY}"):
        shmring.open(address, "r", capacity=2 * CAPACITY)
    # The refused open must not have taken the reader end for itself.
    with shmring.open(address, "r", capacity=CAPACITY) as rx:
        writer.send(b"hello")
        assert rx.recv(timeout=5) == b"hello"


# ---- arguments -------------------------------------------------------------------


BAD_CAPACITIES = [
    (1000, ValueError), (1536, ValueError), (512, ValueError), (0, ValueError), (-1024, ValueError),
    (1 << 33, ValueError), (4096.0, TypeError), ("4096", TypeError), (True, TypeError),
]


@pytest.mark.parametrize("capacity, error", BAD_CAPACITIES)
def test_pair_refuses_a_bad_capacity(capacity, error):
    with pytest.raises(error, match="capacity must be"):
        shmring.pair("shm", capacity=capacity)


@pytest.mark.parametrize("capacity, error", BAD_CAPACITIES)
def test_open_refuses_a_bad_capacity_before_creating_anything(address, capacity, error):
    with pytest.raises(error, match="capacity must be"):
        shmring.open(address, "w", create=True, capacity=capacity)
    assert not h.segment_exists(address)


def is_valid_capacity(n: int) -> bool:
    return 1 << 10 <= n <= 1 << 32 and n & (n - 1) == 0


@settings(max_examples=100, deadline=None)
@given(st.integers(-(1 << 40), 1 << 40).filter(lambda n: not is_valid_capacity(n)))
def test_any_int_that_is_not_a_power_of_two_in_range_is_refused(capacity):
    with pytest.raises(ValueError, match="power of two from 1024 to 4294967296"):
        shmring.pair("shm", capacity=capacity)


BAD_NAMES = ["", "a" * 31, "a/b", "/abc", ".hidden", "a b", "naïve", "a\x00b", "tab\t"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError, match="1 to 30 characters of letters, digits"):
        shmring.open(f"shm://{name}", "w", create=True, capacity=CAPACITY)
    with pytest.raises(ValueError):
        shmring.unlink(f"shm://{name}")


VALID_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,29}")


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40).filter(lambda s: not VALID_NAME.fullmatch(s)))
def test_any_name_outside_the_alphabet_or_length_is_refused(name):
    with pytest.raises(ValueError, match="1 to 30 characters"):
        shmring.open(f"shm://{name}", "r")


def test_a_thirty_character_name_is_accepted():
    address = "shm://" + (h.unique_name() + "x" * 30)[:30]
    try:
        with shmring.open(address, "w", create=True, capacity=CAPACITY) as tx:
            assert tx.address == address
    finally:
        shmring.unlink(address)


@pytest.mark.parametrize("address", ["name-without-scheme", "tcp://host", "shm:/x", 42])
def test_bad_addresses_are_refused(address):
    with pytest.raises(ValueError, match="address|scheme"):
        shmring.open(address, "r")


def test_unknown_transport_is_refused():
    with pytest.raises(ValueError, match="unknown transport 'tcp'; choose one of shm"):
        shmring.pair("tcp")


@pytest.mark.parametrize("direction", ["x", "rw", "", "R", "read", None])
def test_bad_direction_is_refused_before_creating_anything(address, direction):
    with pytest.raises(ValueError, match="'w' \\(send\\) or 'r' \\(receive\\)"):
        shmring.open(address, direction, create=True, capacity=CAPACITY)
    assert not h.segment_exists(address)


def test_unknown_mode_is_refused(address):
    with pytest.raises(ValueError, match="mode must be 'spsc' .* or 'mpmc'"):
        shmring.pair("shm", capacity=CAPACITY, mode="spmc")
    with pytest.raises(ValueError, match="mode must be 'spsc' .* or 'mpmc'"):
        shmring.open(address, "w", create=True, mode="ring")


def test_sizes_of_the_other_mode_are_refused(address):
    with pytest.raises(TypeError, match="capacity is for mode='spsc'"):
        shmring.pair("shm", mode="mpmc", capacity=CAPACITY)
    with pytest.raises(TypeError, match="slots and slot_size are for mode='mpmc'"):
        shmring.open(address, "w", create=True, slots=64)


BAD_TIMEOUTS = [(-1, ValueError), (-0.001, ValueError), (math.nan, ValueError), ("1", TypeError), (True, TypeError)]


def check_bad_timeouts(call):
    for timeout, error in BAD_TIMEOUTS:
        with pytest.raises(error, match="timeout must be"):
            call(timeout)


def test_bad_timeout_is_refused_by_recv_on_an_empty_ring(ring):
    _, rx = ring
    check_bad_timeouts(lambda t: rx.recv(timeout=t))
    check_bad_timeouts(lambda t: rx.recv_into(bytearray(8), timeout=t))


def test_bad_timeout_is_refused_by_send_to_a_full_ring(ring):
    tx, _ = ring
    fill_exactly(tx)
    check_bad_timeouts(lambda t: tx.send(b"x", timeout=t))


# The contract does not depend on whether the call would have to wait.
def test_bad_timeout_is_refused_by_send_with_room(ring):
    tx, rx = ring
    check_bad_timeouts(lambda t: tx.send(b"x", timeout=t))
    assert_empty(rx)


def test_bad_timeout_is_refused_by_recv_with_a_message_waiting(ring):
    tx, rx = ring
    tx.send(b"waiting")
    check_bad_timeouts(lambda t: rx.recv(timeout=t))
    check_bad_timeouts(lambda t: rx.recv_into(bytearray(8), timeout=t))
    assert rx.recv(timeout=0) == b"waiting"


@pytest.mark.parametrize("data", ["text", 42, None, [1, 2], 3.5], ids=type)
def test_send_refuses_what_is_not_a_buffer(ring, data):
    tx, rx = ring
    with pytest.raises(TypeError, match="encode it first" if isinstance(data, str) else "bytes-like"):
        tx.send(data)
    assert_empty(rx)


@pytest.mark.parametrize(
    "data",
    [memoryview(b"abcdefgh")[::2], np.arange(16, dtype=np.uint8)[::3], np.zeros((4, 4)).T],
    ids=["memoryview-step", "numpy-step", "numpy-transposed"],
)
def test_send_refuses_a_non_contiguous_buffer(ring, data):
    tx, rx = ring
    with pytest.raises(ValueError, match="C-contiguous.*copy it first"):
        tx.send(data)
    assert_empty(rx)


@pytest.mark.parametrize(
    "buffer",
    [b"12345678", memoryview(b"12345678"), "12345678", memoryview(bytearray(16))[::2], 8],
    ids=["bytes", "readonly-memoryview", "str", "strided-memoryview", "int"],
)
def test_recv_into_refuses_what_it_cannot_write_and_keeps_the_message(ring, buffer):
    tx, rx = ring
    tx.send(b"kept")
    with pytest.raises(TypeError, match="recv_into\\(\\) needs a writable C-contiguous buffer"):
        rx.recv_into(buffer)
    assert rx.recv(timeout=0) == b"kept"


def test_recv_into_a_small_buffer_says_how_big_and_keeps_the_message(ring):
    tx, rx = ring
    tx.send(b"x" * 100)
    with pytest.raises(shmring.BufferTooSmall, match="buffer of 99 bytes for a message of 100.*stays queued") as info:
        rx.recv_into(bytearray(99))
    assert info.value.needed == 100
    assert isinstance(info.value, ValueError)
    assert rx.recv(timeout=0) == b"x" * 100


# ---- segments that are not rings ---------------------------------------------------

_random = random.Random(99)
NOT_RINGS = {
    "random-8192": b"\x01" + _random.randbytes(8191),  # a non-zero first byte: never "uninitialised"
    "random-100": b"\x01" + _random.randbytes(99),
    "zeros-100": bytes(100),
    "four-bytes": b"\x01\x02\x03\x04",
}


@pytest.mark.parametrize("content", NOT_RINGS.values(), ids=NOT_RINGS.keys())
def test_open_refuses_a_segment_that_is_not_a_ring(address, content):
    if not any(content):
        skip_on_windows("a section is whole pages: 100 zero bytes read as a page nobody initialised (the next test)")
    h.write_segment(address.removeprefix("shm://"), content)
    with pytest.raises(shmring.Corrupt, match="is not a shmring segment"):
        shmring.open(address, "r")


# A creator makes the segment, sizes it, then writes the header: until then it
# is empty or all zeros, so an opener waits, then gives up without calling it corrupt.
@pytest.mark.parametrize("content", [bytes(8192), b""], ids=["zeros-8192", "empty"])
def test_open_gives_up_on_a_segment_nobody_finished_initialising(address, monkeypatch, content):
    monkeypatch.setattr(shm, "NOT_READY_WAIT", 0.2)
    h.write_segment(address.removeprefix("shm://"), content)
    start = time.perf_counter()
    with pytest.raises(shmring.ChannelError, match="never finished initialising.*shmring.unlink") as info:
        shmring.open(address, "r")
    assert time.perf_counter() - start >= 0.2
    assert not isinstance(info.value, shmring.Corrupt)


@pytest.mark.parametrize("size", [h.HEADER_SIZE + 100, 2000])
def test_open_refuses_a_truncated_segment(address, writer, size):
    skip_on_windows("a section's size is fixed when it is made; nothing can shrink it")
    os.truncate(h.segment_path(address), size)
    with pytest.raises(shmring.Corrupt, match="impossible values.*create a new ring"):
        shmring.open(address, "r")


HEADER_TAMPERING = [
    ("layout-version", h.VERSION_OFFSET, 2, "<I", shmring.IncompatibleVersion, "another memory layout.*same shmring version"),
    ("magic", h.MAGIC_OFFSET, 0x1234, "<Q", shmring.Corrupt, "not a shmring segment"),
    ("kind-mpmc", h.KIND_OFFSET, 2, "<I", shmring.ChannelError, "another kind of ring"),
    ("kind-unknown", h.KIND_OFFSET, 99, "<I", shmring.Corrupt, "impossible values"),
    ("capacity", h.CAPACITY_OFFSET, 2 * CAPACITY, "<Q", shmring.Corrupt, "impossible values"),
    ("max-message-size", h.MAX_MESSAGE_OFFSET, CAPACITY, "<Q", shmring.Corrupt, "impossible values"),
    ("data-offset", h.DATA_OFFSET_OFFSET, 0, "<Q", shmring.Corrupt, "impossible values"),
]


@pytest.mark.parametrize(
    "offset, value, fmt, error, message", [t[1:] for t in HEADER_TAMPERING], ids=[t[0] for t in HEADER_TAMPERING]
)
def test_open_refuses_a_tampered_header(address, writer, offset, value, fmt, error, message):
    h.poke(address, offset, value, fmt)
    with pytest.raises(error, match=message):
        shmring.open(address, "r")


# ---- a hostile peer writing into a live ring ----------------------------------------


def drain(rx):
    while True:
        try:
            rx.recv(timeout=0)
        except shmring.Timeout:
            return


def record_at(offset, length, kind):
    def corrupt(address):
        h.poke(address, h.HEADER_SIZE + offset, length, "<I")
        h.poke(address, h.HEADER_SIZE + offset + 4, kind, "<I")

    return corrupt


RECEIVER_SEES = {
    # three 10-byte messages (24 bytes each) are queued when these strike
    "head-far-ahead": (False, lambda a: h.poke(a, h.HEAD_OFFSET, 3 * CAPACITY)),
    "record-longer-than-max": (False, record_at(0, 0xFFFFFFFF, h.RECORD_MESSAGE)),
    "record-past-head": (False, record_at(0, 1000, h.RECORD_MESSAGE)),
    "record-of-unknown-type": (False, record_at(0, 10, 0xDEADBEEF)),
    "padding-not-at-the-wrap": (False, record_at(0, 16, h.RECORD_PADDING)),
    # the ring was drained (tail == head == 72) when these strike
    "head-moved-backwards": (True, lambda a: h.poke(a, h.HEAD_OFFSET, 8)),
    "head-misaligned": (True, lambda a: h.poke(a, h.HEAD_OFFSET, 76)),
    "sender-end-state-impossible": (True, lambda a: h.poke(a, h.SENDER_STATE_OFFSET, 7, "<I")),
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("drained, corrupt", RECEIVER_SEES.values(), ids=RECEIVER_SEES.keys())
def test_recv_reports_a_hostile_sender_as_corrupt(ring, drained, corrupt):
    tx, rx = ring
    for i in range(3):
        tx.send(bytes([i]) * 10)
    if drained:
        drain(rx)
    corrupt(tx)
    with pytest.raises(shmring.Corrupt, match="impossible values.*create a new ring"):
        rx.recv(timeout=1)


SENDER_SEES = {
    "tail-ahead-of-head": lambda a: h.poke(a, h.TAIL_OFFSET, h.peek(a, h.HEAD_OFFSET) + 8),
    "receiver-end-state-impossible": lambda a: h.poke(a, h.SENDER_STATE_OFFSET + 1024, 7, "<I"),
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("corrupt", SENDER_SEES.values(), ids=SENDER_SEES.keys())
def test_send_reports_a_hostile_receiver_as_corrupt(ring, corrupt):
    tx, _ = ring
    fill_exactly(tx)
    corrupt(tx)
    with pytest.raises(shmring.Corrupt, match="impossible values.*create a new ring"):
        tx.send(b"x", timeout=1)


OWN_INDEX = {
    "receiver-tail-misaligned": lambda a: h.poke(a, h.TAIL_OFFSET, 4),
    "receiver-tail-ahead": lambda a: h.poke(a, h.TAIL_OFFSET, 48),
    "sender-head-misaligned": lambda a: h.poke(a, h.HEAD_OFFSET, h.peek(a, h.HEAD_OFFSET) + 4),
}


# A handle may keep its own index to itself and ignore what others write
# there; the other side does read it. Either way: no wrong data, no hang.
@pytest.mark.timeout(20)
@pytest.mark.parametrize("corrupt", OWN_INDEX.values(), ids=OWN_INDEX.keys())
def test_tampering_with_an_own_index_is_reported_or_ignored(ring, corrupt):
    tx, rx = ring
    expected = [bytes([i]) * 10 for i in range(3)] + [b"after"]
    for msg in expected[:3]:
        tx.send(msg)
    corrupt(tx)
    try:
        tx.send(expected[3], timeout=1)
        got = [rx.recv(timeout=1) for _ in expected]
    except shmring.Corrupt as e:
        assert "create a new ring" in str(e)
        return
    assert got == expected


@pytest.mark.timeout(20)
def test_a_blocked_recv_notices_corruption_while_it_waits(ring):
    tx, rx = ring
    blocked = h.Background(lambda: rx.recv(timeout=10))
    blocked.start()
    h.wait_until_parked(rx, h.DATA_WAITERS_OFFSET)
    h.poke(rx, h.HEAD_OFFSET, 3 * CAPACITY)
    corrupted_at = time.perf_counter()
    blocked.join(10)
    assert isinstance(blocked.error, shmring.Corrupt)
    assert blocked.ended - corrupted_at < 1
