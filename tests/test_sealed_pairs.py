"""pair() rings on Linux live in sealed memfds (README: Truncation): nobody,
the creator included, can shrink or grow them, so no process holding an
end can be killed by SIGBUS; they travel to other processes as descriptors;
their memory goes with the last end."""

import errno
import gc
import multiprocessing
import os
import pickle
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shmring
import shmring.transports.shm as shm
from tests import helpers as h



def _pairs_are_sealed() -> bool:
    """Linux, and a kernel that lets this process make sealed memfds (seccomp may refuse them)."""
    if not shm._SEALED_PAIRS:
        return False
    tx, rx = shmring.pair("shm", capacity=4096)
    with tx, rx:
        return tx.address == shm.ANONYMOUS


pytestmark = pytest.mark.skipif(not _pairs_are_sealed(), reason="sealed pair() rings are Linux's, where memfds are allowed")

SPSC_BYTES = 4096 + 4096  # header + data, as the segment's size


def _ring(mode):
    if mode == "spsc":
        return shmring.pair("shm", capacity=4096)
    return shmring.pair("shm", mode="mpmc", slots=16, slot_size=64)


def _size(endpoint) -> int:
    return os.stat(h.segment_path(endpoint)).st_size


def try_to_resize(path: str, sizes, report) -> None:
    """In another process of the same user: resize the ring by its /proc path; report each errno."""
    got = []
    for size in sizes:
        try:
            os.truncate(path, size)
            got.append(0)
        except OSError as e:
            got.append(e.errno)
    report.put(got)


@settings(max_examples=25, deadline=None)
@given(mode=st.sampled_from(["spsc", "mpmc"]), cut=st.sampled_from(["zero", "page", "half", "less-a-page", "more"]))
def test_nobody_can_resize_a_pair_ring_and_it_keeps_working(mode, cut):
    tx, rx = _ring(mode)
    with tx, rx:
        tx.send(b"before")
        size = _size(tx)
        target = {"zero": 0, "page": 4096, "half": size // 2, "less-a-page": size - 4096, "more": size + 4096}[cut]
        with pytest.raises(PermissionError):  # EPERM: F_SEAL_SHRINK / F_SEAL_GROW
            os.truncate(h.segment_path(tx), target)
        with open(h.segment_path(rx), "r+b") as f, pytest.raises(PermissionError):
            os.ftruncate(f.fileno(), target)
        assert _size(tx) == size
        tx.send(b"after")
        assert [rx.recv(timeout=1), rx.recv(timeout=1)] == [b"before", b"after"]


def test_another_process_of_the_same_user_cannot_resize_it_either():
    tx, rx = _ring("spsc")
    with tx, rx:
        ctx = multiprocessing.get_context("spawn")
        report = ctx.Queue()
        path = f"/proc/{os.getpid()}/fd/{shm.lib.shmring_fd(tx._h)}"
        child = h.start(ctx, try_to_resize, path, [0, 4096, SPSC_BYTES // 2, SPSC_BYTES * 2], report)
        assert report.get(timeout=60) == [errno.EPERM] * 4
        assert h.join_or_kill(child) == 0
        tx.send(b"unharmed")
        assert rx.recv(timeout=1) == b"unharmed"


def _mapped_or_open(inode: int) -> list:
    """Where this process still holds the memfd `inode`: descriptors and mappings."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.stat(f"/proc/self/fd/{fd}").st_ino == inode and "memfd:" in os.readlink(f"/proc/self/fd/{fd}"):
                found.append(f"fd {fd}")
        except OSError:
            pass  # the descriptor listdir itself used
    with open("/proc/self/maps") as maps:
        found += [line.strip() for line in maps if "memfd:shmring" in line and int(line.split()[4]) == inode]
    return found


def test_the_memory_goes_with_the_last_end():
    tx, rx = _ring("spsc")
    inode = os.stat(h.segment_path(tx)).st_ino
    assert len(_mapped_or_open(inode)) == 4  # each end: its descriptor and its mapping
    tx.close()
    rx.close()
    del tx, rx
    gc.collect()  # a closed handle keeps its mapping until it is freed (another thread may be in a call)
    assert _mapped_or_open(inode) == []


def echo_one(rx, tx) -> None:
    tx.send(rx.recv(timeout=30))


@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_ends_travel_to_a_child_as_descriptors(method):
    ctx = multiprocessing.get_context(method)
    there_tx, there_rx = _ring("spsc")
    back_tx, back_rx = _ring("mpmc")
    child = h.start(ctx, echo_one, there_rx, back_tx)
    there_rx.close()
    back_tx.close()
    with there_tx, back_rx:
        there_tx.send(b"round trip")
        assert back_rx.recv(timeout=30) == b"round trip"
    assert h.join_or_kill(child) == 0


def receive_from_connection(conn, report) -> None:
    rx = conn.recv()  # unpickled here: its descriptor is served by the process that pickled it
    report.put(rx.recv(timeout=30))
    rx.close()


def test_an_end_sent_to_a_running_process_works():
    ctx = multiprocessing.get_context("spawn")
    theirs, ours = ctx.Pipe(duplex=False)
    report = ctx.Queue()
    child = h.start(ctx, receive_from_connection, theirs, report)
    tx, rx = _ring("spsc")
    ours.send(rx)  # pickled now (a Queue would pickle it later, in its feeder thread)
    rx.close()
    with tx:
        tx.send(b"via a pipe")
        assert report.get(timeout=60) == b"via a pipe"
    assert h.join_or_kill(child) == 0


def pickle_an_end(report) -> None:
    tx, rx = shmring.pair("shm", capacity=4096)
    report.put(pickle.dumps(rx))


def test_unpickling_after_the_pickling_process_is_gone_says_why():
    ctx = multiprocessing.get_context("spawn")
    report = ctx.Queue()
    child = h.start(ctx, pickle_an_end, report)
    pickled = report.get(timeout=60)
    assert h.join_or_kill(child) == 0
    with pytest.raises(shmring.ChannelError, match="the process that pickled this endpoint is gone"):
        pickle.loads(pickled)


@pytest.mark.parametrize("what", ["unsealed memfd", "regular file"])
def test_a_descriptor_that_is_not_a_sealed_ring_is_refused(tmp_path, what):
    good_tx, good_rx = _ring("spsc")
    with open(h.segment_path(good_tx), "rb") as f:
        content = f.read()  # a valid ring's bytes, header and all
    good_tx.close()
    good_rx.close()
    if what == "unsealed memfd":
        fd = os.memfd_create("shmring")
    else:
        fd = os.open(tmp_path / "ring", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.write(fd, content)
        with pytest.raises(shmring.ForeignSegment, match="not a sealed ring"):
            shm._open_sealed(fd, shm._RECEIVER, 0, 50, 0.1)
    finally:
        os.close(fd)


def test_named_pairs_can_be_asked_for():
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", "import shmring; tx, rx = shmring.pair(); print(tx.address); tx.close(); rx.close()"],
        env={**os.environ, "SHMRING_NAMED_PAIRS": "1"}, capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    assert out.startswith("shm://shmr-")
