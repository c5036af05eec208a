"""Helpers shared by the tests, and the functions child processes run.

Children are started with the spawn and fork contexts; under spawn they
import this module by name (tests.helpers), so everything a child runs lives
here, at module level.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import random
import secrets
import struct
import threading
import time

import pytest

import shmring
import shmring.transports.shm as shm
from tests.platform_support import SIGKILL, WINDOWS, yield_cpu

if WINDOWS:
    from tests.platform_support import ForgedSection, section_access, section_exists

SHM_DIR = "/dev/shm"  # POSIX; on Windows segments are named sections (tests/platform_support.py)
MAGIC = 0x31474E49524D4853  # "SHMRING1"

# Header offsets from csrc/layout.h.
MAGIC_OFFSET = 0
VERSION_OFFSET = 8
KIND_OFFSET = 12
CAPACITY_OFFSET = 24
MAX_MESSAGE_OFFSET = 32
DATA_OFFSET_OFFSET = 40
CREATOR_PID_OFFSET = 48
HEAD_OFFSET = 128
TAIL_OFFSET = 256
DATA_WAITERS_OFFSET = 384 + 4
SPACE_WAITERS_OFFSET = 512 + 4
SENDER_STATE_OFFSET = 1024
HEADER_SIZE = 4096
RECORD_MESSAGE = 0x4D534721
RECORD_PADDING = 0x50414421


# ---- names and segments --------------------------------------------------------


def name_prefix(pid: int | None = None) -> str:
    return f"shmr-t{os.getpid() if pid is None else pid}-"


def unique_name() -> str:
    """A fresh ring name (at most 24 characters) that names the test process."""
    return name_prefix() + secrets.token_hex(5)


def creator_pid(name: str) -> int | None:
    """The pid a shmring segment records as its creator; None if it is not one."""
    try:
        with open(os.path.join(SHM_DIR, name), "rb") as f:
            header = f.read(CREATOR_PID_OFFSET + 4)
    except OSError:
        return None
    if len(header) < CREATOR_PID_OFFSET + 4 or struct.unpack_from("<Q", header)[0] != MAGIC:
        return None
    return struct.unpack_from("<I", header, CREATOR_PID_OFFSET)[0]


def segments_of(pid: int) -> set[str]:
    """Segments made by process `pid`: named by unique_name() there, or created by it.

    The machine is shared, so segments of other processes are not ours to judge.
    Windows cannot list sections (and one vanishes with its last handle): empty there.
    """
    if WINDOWS:
        return set()
    names = {n for n in os.listdir(SHM_DIR) if n.startswith("shmr-")}
    return {n for n in names if n.startswith(name_prefix(pid)) or creator_pid(n) == pid}


def segment_path(ring) -> str:
    """The file of a ring: /dev/shm/NAME for a named one (an address, a name
    or an endpoint), and for a sealed pair() ring (an endpoint: it has no
    name) the descriptor its handle keeps, in /proc."""
    if not isinstance(ring, str):
        if ring._name is None:
            return f"/proc/{os.getpid()}/fd/{shm.lib.shmring_fd(ring._h)}"
        ring = ring._name
    return os.path.join(SHM_DIR, ring.removeprefix("shm://"))


def ring_ref(endpoint):
    """What the helpers below take for a ring: its address if it has a name,
    else (a sealed pair() ring) the endpoint itself."""
    return endpoint if endpoint._name is None else endpoint.address


def _name_of(ring) -> str:
    """Windows: the section name of a ring (an address or an endpoint; every ring there is named)."""
    return (ring if isinstance(ring, str) else ring.address).removeprefix("shm://")


def remove_segment(address_or_name: str) -> None:
    """Remove a segment whatever it holds; nothing if there is none."""
    name = address_or_name.removeprefix("shm://")
    if WINDOWS:
        forged = _FORGED.pop(name, None)
        if forged is not None:
            forged.close()
        shmring.unlink("shm://" + name)
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(SHM_DIR, name))


def segment_gone(address_or_name: str, within: float = 5.0) -> bool:
    """True once the segment no longer exists.

    POSIX unlinks the name at the last close, so it is gone at once. On
    Windows the creator drops its kept handle at its next segment call or
    within 100 ms (segment_win32.c's sweep timer), so this waits for that.
    """
    deadline = time.perf_counter() + (within if WINDOWS else 0)
    while segment_exists(address_or_name):
        if time.perf_counter() >= deadline:
            return False
        yield_cpu()
    return True


def segment_exists(address_or_name: str) -> bool:
    if WINDOWS:
        return section_exists(address_or_name.removeprefix("shm://"))
    return os.path.exists(segment_path(address_or_name))


def peek(address, offset: int, fmt: str = "<Q") -> int:
    """Read from a live segment (an address, or an endpoint of the ring)."""
    if WINDOWS:
        raw = section_access(_name_of(address), offset, None, struct.calcsize(fmt))
        return struct.unpack(fmt, raw)[0]
    with open(segment_path(address), "rb") as f:
        f.seek(offset)
        return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]


def poke(address, offset: int, value: int, fmt: str = "<Q") -> None:
    """Write into a live segment (an address, or an endpoint of the ring), as
    a buggy or hostile process could."""
    if WINDOWS:
        section_access(_name_of(address), offset, struct.pack(fmt, value), 0)
        return
    with open(segment_path(address), "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
        struct.pack_into(fmt, m, offset, value)


_FORGED: dict = {}  # Windows: a section lives while a handle does


def write_segment(name: str, content: bytes) -> None:
    """Make segment `name` directly, without shmring (Windows: a section, kept until remove_segment)."""
    if WINDOWS:
        if not content:
            pytest.skip("not on Windows: a section cannot be empty")
        _FORGED[name] = ForgedSection(name, content)  # owned by this user, as shmring's are
        return
    fd = os.open(os.path.join(SHM_DIR, name), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, content)
    finally:
        os.close(fd)


NOBODY = 65534  # uid and gid of "nobody" / "nogroup" on Linux


def as_user(uid: int, gid: int, fn, *args) -> str:
    """Run fn(*args) in a forked child that has become user `uid`, group `gid`
    (only root can: tests skip otherwise); repr of its result, or "Type: message".

    The parent reads the child's pipe to its end, then reaps it: no sleeping."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            result = repr(fn(*args))
        except BaseException as e:
            result = f"{type(e).__name__}: {e}"
        try:
            os.write(w, result.encode())
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 1 << 16):
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()


def wait_until_parked(address, waiters_offset: int, timeout: float = 10.0) -> None:
    """Return once some thread or process sleeps in a blocking call on the ring.

    A waiter increments the waitpoint's `waiters` word while it parks inside
    the C call, so seeing it non-zero proves the call is blocked there (not
    merely about to be made).
    """
    deadline = time.perf_counter() + timeout
    while peek(address, waiters_offset, "<I") == 0:
        if time.perf_counter() > deadline:
            raise AssertionError(f"nobody parked on {address} within {timeout} s")
        yield_cpu()


# ---- deterministic message streams ---------------------------------------------

_PATTERN = random.Random(20240611).randbytes(1 << 16)


def message(seq: int, size: int) -> bytes:
    """Message number `seq`, `size` bytes: its sequence number, then a pattern that depends on it."""
    head = seq.to_bytes(8, "little")
    if size <= 8:
        return head[:size]
    start = (seq * 7919) % (len(_PATTERN) - size)
    return head + _PATTERN[start:start + size - 8]


def message_sizes(seed: int, count: int, max_size: int):
    """`count` sizes from 0 to max_size, with 0 and max_size frequent."""
    rng = random.Random(seed)
    for _ in range(count):
        pick = rng.randrange(16)
        yield 0 if pick == 0 else max_size if pick == 1 else rng.randrange(max_size + 1)


def send_stream(tx, seed: int, count: int, max_size: int) -> None:
    for seq, size in enumerate(message_sizes(seed, count, max_size)):
        tx.send(message(seq, size), timeout=30)


def check_stream(rx, seed: int, count: int, max_size: int) -> str:
    """Receive a stream and the Closed after it; "ok" or what went wrong."""
    for seq, size in enumerate(message_sizes(seed, count, max_size)):
        got = rx.recv(timeout=30)
        if got != message(seq, size):
            return f"message {seq}: expected {size} bytes {message(seq, size)[:16]!r}..., got {len(got)} bytes {got[:16]!r}..."
    try:
        extra = rx.recv(timeout=30)
    except shmring.Closed:
        return "ok"
    return f"after {count} messages: expected Closed, got a message of {len(extra)} bytes"


BATCH = 5


def batch(turn: int) -> list[bytes]:
    return [message(seq, (seq * 37) % 300) for seq in range(turn * BATCH, (turn + 1) * BATCH)]


def send_batch(tx, turn: int) -> None:
    for msg in batch(turn):
        tx.send(msg, timeout=30)


def check_batch(rx, turn: int) -> str:
    got = [rx.recv(timeout=30) for _ in range(BATCH)]
    return "ok" if got == batch(turn) else f"turn {turn}: got {got!r}"


def fill(tx, size: int = 100) -> int:
    """Send until the ring is full; the number of messages sent."""
    sent = 0
    while True:
        try:
            tx.send(message(sent, size), timeout=0)
        except shmring.Timeout:
            return sent
        sent += 1


# ---- processes and threads ------------------------------------------------------


def start(ctx, target, *args):
    p = ctx.Process(target=target, args=args, daemon=True)
    p.start()
    return p


def join_or_kill(p, timeout: float = 30.0) -> int:
    """Wait for a child; kill it and fail if it hangs."""
    p.join(timeout)
    if p.is_alive():
        os.kill(p.pid, SIGKILL)
        p.join()
        raise AssertionError(f"child {p.name} still running after {timeout} s; killed")
    return p.exitcode


class Background(threading.Thread):
    """Runs fn() in a daemon thread, keeping its result or exception and when it ended."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn = fn
        self.result = self.error = self.ended = None

    def run(self):
        try:
            self.result = self.fn()
        except BaseException as e:
            self.error = e
        self.ended = time.perf_counter()


# ---- what child processes run ----------------------------------------------------
# `unused` are endpoints a fork child inherits but must not keep: like a pipe's
# write end, an inherited sender copy would keep the channel open for ever.


def child_send_stream(tx, seed, count, max_size, unused=()):
    for ep in unused:
        ep.close()
    with tx:
        send_stream(tx, seed, count, max_size)


def child_check_stream(rx, seed, count, max_size, results, unused=()):
    for ep in unused:
        ep.close()
    with rx:
        try:
            results.put(check_stream(rx, seed, count, max_size))
        except Exception as e:  # reported, not just printed to stderr
            results.put(f"{type(e).__name__}: {e}")


def child_echo(rx, tx, unused=()):
    for ep in unused:
        ep.close()
    with rx, tx:
        for msg in rx:
            tx.send(msg, timeout=30)


def child_send_then_linger(tx, count, ready, release, unused=()):
    """Send `count` messages, say so, then wait (to be killed)."""
    for ep in unused:
        ep.close()
    for seq in range(count):
        tx.send(message(seq, 100), timeout=30)
    ready.set()
    release.wait(60)


def child_hold_then_linger(endpoint, ready, release, unused=()):
    """Hold an endpoint, say so, then wait (to be killed)."""
    for ep in unused:
        ep.close()
    ready.set()
    release.wait(60)


def child_open_named_reader(address, created, ready, seed, count, max_size, results):
    if not created.wait(30):
        results.put("the parent never created the ring")
        return
    with shmring.open(address, "r") as rx:
        ready.set()
        results.put(check_stream(rx, seed, count, max_size))


_KEEP: list = []


def child_return_without_closing(rx, unused=()):
    """Drain the channel and return, leaving rx open: it must be closed at exit."""
    for ep in unused:
        ep.close()
    for _ in rx:
        pass
    _KEEP.append(rx)  # no garbage collection may close it before the process exits


def child_interrupted_recv(rx, ready, interrupted, results, unused=()):
    """Block in recv() until SIGINT, then show the channel still works."""
    for ep in unused:
        ep.close()
    with rx:
        try:
            ready.set()
            rx.recv()
        except KeyboardInterrupt:
            interrupted.set()
        else:
            results.put("recv() returned instead of raising KeyboardInterrupt")
            return
        try:
            got = rx.recv(timeout=30)
        except Exception as e:
            results.put(f"after the interrupt: {type(e).__name__}: {e}")
            return
        results.put("ok" if got == b"after the interrupt" else f"after the interrupt got {got!r}")


def child_sender_turns(tx, turns, go, done, unused=()):
    """Send a batch on each `go`, taking turns with the parent on one sender."""
    for ep in unused:
        ep.close()
    with tx:
        for turn in turns:
            if not go.wait(30):
                return
            go.clear()
            send_batch(tx, turn)
            done.set()


def child_receiver_turns(rx, turns, go, done, results, unused=()):
    """Receive and check a batch on each `go`, taking turns with the parent on one receiver."""
    for ep in unused:
        ep.close()
    with rx:
        for turn in turns:
            if not go.wait(30):
                return
            go.clear()
            results.put(check_batch(rx, turn))
            done.set()


def child_interrupted_send(tx, ready, interrupted, results, unused=()):
    """Fill the ring, block in send() until SIGINT, then show nothing half-sent remains."""
    for ep in unused:
        ep.close()
    with tx:
        filled = fill(tx)
        results.put(filled)
        try:
            ready.set()
            tx.send(message(filled, 100))  # as large as those that no longer fit
        except KeyboardInterrupt:
            interrupted.set()
        else:
            results.put("send() returned instead of raising KeyboardInterrupt")
            return
        tx.send(b"after the interrupt", timeout=30)
        results.put("ok")


