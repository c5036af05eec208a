"""The C API's own contract, called through the cffi binding: what a C
program using csrc/shmring.h directly can rely on."""

from __future__ import annotations

import pytest

import shmring
from shmring._core import ffi, lib


@pytest.fixture(params=["spsc", "mpmc"])
def ends(request):
    options = {"capacity": 1 << 10} if request.param == "spsc" else {"slots": 2, "slot_size": 64}
    tx, rx = shmring.pair("shm", mode=request.param, **options)
    yield request.param, tx, rx
    tx.close()
    rx.close()


def _fill(mode, tx) -> None:
    send = getattr(lib, f"shmring_{mode}_send")
    while send(tx._h, b"x", 1, 0) == 0:
        pass


def test_a_timed_send_on_a_full_ring_ends_in_etimedout_however_short(ends):
    # EAGAIN means "would block at timeout 0"; a timed wait that ran out says
    # ETIMEDOUT, even when its time was gone before the first look.
    mode, tx, _ = ends
    _fill(mode, tx)
    send = getattr(lib, f"shmring_{mode}_send")
    assert send(tx._h, b"x", 1, 0) == lib.SHMRING_EAGAIN
    for timeout_ns in (1, 1000):
        assert send(tx._h, b"x", 1, timeout_ns) == lib.SHMRING_ETIMEDOUT
    sent = ffi.new("size_t *")
    lens = ffi.new("uint64_t[]", [1])
    send_many = getattr(lib, f"shmring_{mode}_send_many")
    assert send_many(tx._h, b"x", 1, lens, 1, 1, sent) == lib.SHMRING_ETIMEDOUT
    assert sent[0] == 0


def test_recv_many_of_zero_messages_is_refused_and_takes_nothing(ends):
    mode, tx, rx = ends
    tx.send(b"kept")
    recv_many = getattr(lib, f"shmring_{mode}_recv_many")
    buf, lens = ffi.new("char[]", 64), ffi.new("uint64_t[]", 1)
    assert recv_many(rx._h, buf, 64, lens, 0, 0) == lib.SHMRING_EINVAL
    assert rx.recv(timeout=0) == b"kept"


def test_a_recv_after_a_peek_leaves_nothing_to_consume():
    tx, rx = shmring.pair("shm", capacity=1 << 10)
    with tx, rx:
        tx.send(b"first")
        tx.send(b"second")
        ptr, length = ffi.new("void **"), ffi.new("size_t *")
        assert lib.shmring_spsc_peek(rx._h, ptr, length, 0) == 0
        assert length[0] == 5
        assert rx.recv(timeout=0) == b"first"
        assert lib.shmring_spsc_consume(rx._h) == lib.SHMRING_EINVAL  # that peek is spent
        assert rx.recv(timeout=0) == b"second"


def test_an_spsc_recv_that_does_not_fit_says_the_size_it_needs():
    tx, rx = shmring.pair("shm", capacity=1 << 10)
    with tx, rx:
        tx.send(b"x" * 100)
        buf = ffi.new("char[]", 10)
        assert lib.shmring_spsc_recv(rx._h, buf, 10, 0) == lib.SHMRING_ENOBUFS
        assert lib.shmring_needed(rx._h) == 100
        assert rx.recv(timeout=0) == b"x" * 100
