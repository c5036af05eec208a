"""What the child processes of tests/test_torture_kill.py and
tests/test_torture_full_shm.py run (module level, so spawn can import them).

A message says who sent it, its sequence number and its length, and carries
a digest, so a receiver can tell a lost, duplicated, reordered, damaged or
foreign message from a genuine one:

    +----------------+-----------+----------------+---------------------------+------------------+
    | sender id (u32)| seq (u64) | payload len u32| payload (from sender, seq)| blake2b-8 digest |
    +----------------+-----------+----------------+---------------------------+------------------+

The payload length and bytes are functions of (sender, seq, max_payload):
0 and max_payload come often, the rest vary. check() rebuilds the message
from its header and compares the whole of it.

Children report through shared counters written *after* each call returns
(multiprocessing RawValue / RawArray: plain stores, nothing a SIGKILL can
leave locked) and, when they finish, through a pipe.
"""

from __future__ import annotations

import hashlib
import random
import struct
import threading
import time

import shmring

HEADER = struct.Struct("<IQI")
DIGEST_SIZE = 8
OVERHEAD = HEADER.size + DIGEST_SIZE
_PATTERN = random.Random(20250113).randbytes(1 << 18)
MAX_PAYLOAD = len(_PATTERN) // 2


class Damaged(AssertionError):
    """A received message is not one any sender sent."""


def payload_size(sender: int, seq: int, max_payload: int) -> int:
    x = (seq * 0x9E3779B1 + sender * 0x85EBCA77 + 0x2545F491) & 0xFFFFFFFF
    x ^= x >> 15
    pick = x & 15
    if pick == 0:
        return 0
    if pick == 1:
        return max_payload
    return (x >> 4) % (max_payload + 1)


def _payload_start(sender: int, seq: int, size: int) -> int:
    return (seq * 7919 + sender * 104729) % (len(_PATTERN) - size + 1)


def message(sender: int, seq: int, max_payload: int) -> bytes:
    size = payload_size(sender, seq, max_payload)
    start = _payload_start(sender, seq, size)
    body = HEADER.pack(sender, seq, size) + _PATTERN[start:start + size]
    return body + hashlib.blake2b(body, digest_size=DIGEST_SIZE).digest()


def check(msg: bytes, max_payload: int) -> tuple[int, int]:
    """(sender, seq) of an intact message; Damaged otherwise."""
    if len(msg) < OVERHEAD:
        raise Damaged(f"a message of {len(msg)} bytes, shorter than any sent ({OVERHEAD})")
    sender, seq, size = HEADER.unpack_from(msg)
    if hashlib.blake2b(memoryview(msg)[:-DIGEST_SIZE], digest_size=DIGEST_SIZE).digest() != msg[-DIGEST_SIZE:]:
        raise Damaged(f"bad digest: {len(msg)} bytes claiming sender {sender} seq {seq} size {size}")
    if size != len(msg) - OVERHEAD or size != payload_size(sender, seq, max_payload):
        raise Damaged(f"sender {sender} seq {seq}: {len(msg)} bytes, not the length that sender sent")
    start = _payload_start(sender, seq, size)
    if memoryview(msg)[HEADER.size:HEADER.size + size] != memoryview(_PATTERN)[start:start + size]:
        raise Damaged(f"sender {sender} seq {seq}: not the payload that sender sent")
    return sender, seq


def _close_all(endpoints) -> None:
    # A fork child inherits every endpoint its parent had open; an inherited
    # sender copy would keep the ring open for ever (tests/helpers.py).
    for ep in endpoints:
        ep.close()


# ---- SPSC -------------------------------------------------------------------------


def spsc_send_until_killed(tx, unused, max_payload, progress, report) -> None:
    """Send 0, 1, 2, ... and write down how many sends returned, until killed."""
    _close_all(unused)
    report.send(("started",))  # this process holds its end now (see test_torture_kill.py)
    seq = 0
    try:
        while True:
            tx.send(message(0, seq, max_payload), timeout=30)
            seq += 1
            progress.value = seq  # after send() returned: these are committed
    except shmring.Closed:
        report.send(("closed", seq))  # the parent closed first (it never does here)
    except BaseException as e:
        report.send(("error", f"sender after {seq} sends: {type(e).__name__}: {e}"))


def spsc_receive_until_killed(rx, unused, max_payload, acked, report) -> None:
    """Receive and check 0, 1, 2, ...; write down how many arrived intact, until killed."""
    _close_all(unused)
    report.send(("started",))
    seq = 0
    try:
        while True:
            msg = rx.recv(timeout=30)
            got = check(msg, max_payload)
            if got != (0, seq):
                report.send(("error", f"receiver: expected message {seq}, got {got}"))
                return
            seq += 1
            acked.value = seq  # after recv() returned and the message checked out
    except shmring.Closed:
        report.send(("closed", seq))
    except BaseException as e:
        report.send(("error", f"receiver after {seq} messages: {type(e).__name__}: {e}"))


# ---- MPMC -------------------------------------------------------------------------


class Milestone:
    """Stands in for an Event: a child says on its report pipe that it reached
    its milestone, so the parent waits on one pipe (with a timeout) for that."""

    def __init__(self, conn):
        self.conn = conn

    def set(self) -> None:
        self.conn.send(("milestone",))


def mpmc_send(tx, unused, sender, count, max_payload, progress, limit, milestone, reached, report, linger=False,
              batch=0) -> None:
    """Send messages 0, 1, ... up to `count` or until `limit.value` (the parent
    lowers it after the kill, so that the survivors' work after it stays
    small); set `reached` once `milestone` sends returned; report the time it
    ended. With `linger` (the victim), wait to be killed after the last send
    instead of closing. With `batch`, send_many() batches of that many;
    `progress` then counts a batch's messages once send_many() returned, so
    the ring may hold up to a batch more."""
    _close_all(unused)
    seq = 0
    try:
        while seq < min(count, limit.value):
            if batch:
                end = min(seq + batch, count, max(seq + 1, limit.value))
                tx.send_many([message(sender, s, max_payload) for s in range(seq, end)], timeout=30)
            else:
                end = seq + 1
                tx.send(message(sender, seq, max_payload), timeout=30)
            progress.value = end  # committed
            if seq < milestone <= end:
                reached.set()
            seq = end
        if linger:
            threading.Event().wait()  # until killed (signal.pause does not exist on Windows)
        tx.close()
        report.send(("done", time.perf_counter(), seq))
    except BaseException as e:
        report.send(("error", f"sender {sender} at seq {seq}: {type(e).__name__}: {e}"))


def mpmc_receive(rx, unused, senders, max_payload, seen, count, milestone, reached, report) -> None:
    """Receive until Closed, writing down each (sender, seq) as it arrives
    (seen[i] = sender << 32 | seq, then count = i + 1), checking that each
    sender's messages come in order; set `reached` after `milestone` messages."""
    _close_all(unused)
    report.send(("started",))
    last = [-1] * senders
    n = 0
    try:
        while True:
            try:
                msg = rx.recv(timeout=30)
            except shmring.Closed:
                break
            sender, seq = check(msg, max_payload)
            if not 0 <= sender < senders:
                raise Damaged(f"a message from sender {sender}: there are {senders}")
            if seq <= last[sender]:
                raise AssertionError(f"sender {sender}: seq {seq} arrived after {last[sender]}")
            last[sender] = seq
            seen[n] = sender << 32 | seq
            n += 1
            count.value = n
            if n == milestone:
                reached.set()
        rx.close()
        report.send(("done", time.perf_counter(), n))
    except BaseException as e:
        report.send(("error", f"receiver after {n} messages: {type(e).__name__}: {e}"))


# ---- a full /dev/shm in a private mount namespace (Linux) ----------------------------


def full_dev_shm(report, tmpfs_bytes: int) -> None:
    """In a mount namespace of our own, mount a small tmpfs on /dev/shm and
    report what shmring does with it (see tests/test_torture_full_shm.py)."""
    import shmring.transports.shm as shm

    shm._SEALED_PAIRS = False  # pair() rings in /dev/shm, as off Linux: sealed memfds are not on that mount
    try:
        report.send(_full_dev_shm(tmpfs_bytes))
    except BaseException as e:
        report.send({"error": f"{type(e).__name__}: {e}"})


CLONE_NEWNS = 0x00020000
MS_REC = 16384
MS_PRIVATE = 1 << 18
SHM = "/dev/shm"


def _libc_call(fn, *args) -> None:
    import ctypes
    import os

    if fn(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{fn.__name__}: {os.strerror(err)}")


def _full_dev_shm(tmpfs_bytes: int) -> dict:
    import ctypes
    import errno
    import os

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    try:
        if hasattr(os, "unshare"):  # Python 3.12+
            os.unshare(CLONE_NEWNS)
        else:
            _libc_call(libc.unshare, CLONE_NEWNS)
        # Nothing we mount may propagate back to the host's namespace.
        _libc_call(libc.mount, None, b"/", None, MS_REC | MS_PRIVATE, None)
        _libc_call(libc.mount, b"shmring-torture", SHM.encode(), b"tmpfs", 0,
                   f"size={tmpfs_bytes},mode=1777".encode())
    except OSError as e:
        return {"skip": f"cannot make a private mount namespace with a small tmpfs on {SHM}: {e}"}

    st = os.statvfs(SHM)
    out: dict = {"tmpfs_bytes": st.f_blocks * st.f_frsize, "free_at_start": st.f_bavail * st.f_frsize}

    def attempt(what, make):
        """Make a ring; a tuple saying how it went (the ring is used and closed)."""
        try:
            ends = make()
        except OSError as e:
            return ("OSError", e.errno, str(e), sorted(os.listdir(SHM)))
        except Exception as e:
            return (type(e).__name__, None, str(e), sorted(os.listdir(SHM)))
        tx, rx = ends
        with tx, rx:
            # Touch every byte of the ring: a segment whose pages were not
            # really there would SIGBUS here (and the parent would see it).
            size = tx.max_message_size
            laps = 3
            total = laps * (tx.capacity if tx.mode == "spsc" else tx.capacity * size)
            sent = 0
            while sent < total:
                tx.send(bytes([sent & 0xFF]) * size, timeout=5)
                assert rx.recv(timeout=5) == bytes([sent & 0xFF]) * size
                sent += size
        return ("ok", None, what, sorted(os.listdir(SHM)))

    free = out["free_at_start"]
    # A ring larger than the whole tmpfs: refused at creation.
    too_big = 1 << (tmpfs_bytes * 2).bit_length()
    out["too_big_spsc"] = attempt("spsc", lambda: shmring.pair("shm", capacity=too_big))
    out["too_big_mpmc"] = attempt("mpmc", lambda: shmring.pair("shm", mode="mpmc", slots=1024, slot_size=4096))
    out["too_big_named"] = attempt("named", lambda: _named_pair(too_big))
    # A ring that fits works, every page of it.
    fits = 1 << ((free // 4).bit_length() - 1)
    out["fits"] = attempt("fits", lambda: shmring.pair("shm", capacity=fits))
    out["fits_capacity"] = fits

    # A ring made before /dev/shm fills up keeps working after: its memory was
    # reserved at creation, so no page of it can be missing later.
    made_before = shmring.pair("shm", capacity=1 << 16)

    # Fill /dev/shm with a file, then ask for rings.
    filler = os.path.join(SHM, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        chunk = bytes(64 * 1024)
        while True:
            os.write(fd, chunk)  # a short write first, then ENOSPC
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)
    out["free_when_full"] = os.statvfs(SHM).f_bavail * os.statvfs(SHM).f_frsize
    out["made_before_full"] = attempt("before", lambda: made_before)
    out["full_smallest"] = attempt("full", lambda: shmring.pair("shm", capacity=1024))
    out["full_mpmc"] = attempt("full", lambda: shmring.pair("shm", mode="mpmc", slots=2, slot_size=8))
    out["full_named"] = attempt("full", lambda: _named_pair(1024))
    # Free 64 KiB, then: a ring needing more than that fails, one that fits works.
    os.truncate(filler, os.path.getsize(filler) - 64 * 1024)
    out["free_after_trim"] = os.statvfs(SHM).f_bavail * os.statvfs(SHM).f_frsize
    out["partly_free_too_big"] = attempt("partial", lambda: shmring.pair("shm", capacity=1 << 17))
    out["partly_free_fits"] = attempt("partial", lambda: shmring.pair("shm", capacity=1 << 14))
    os.unlink(filler)
    out["left_in_dev_shm"] = sorted(os.listdir(SHM))
    return out


def _named_pair(capacity: int):
    address = "shm://torture-full"
    tx = shmring.open(address, "w", create=True, capacity=capacity)
    try:
        rx = shmring.open(address, "r")
    except BaseException:
        tx.close()
        shmring.unlink(address)
        raise
    return tx, rx


def hold_until_killed(end) -> None:
    """Take over an end, then wait to be killed."""
    threading.Event().wait()
