"""Helpers shared by the tests, and the functions child processes run.

Children are started with the spawn and fork contexts; under spawn they
import this module by name (tests.helpers), so everything a child runs lives
here, at module level.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import struct
import time

import shmring

SHM_DIR = "/dev/shm"
TEST_PREFIX = "shmr-test-"

# Header offsets from csrc/layout.h.
MAGIC_OFFSET = 0
VERSION_OFFSET = 8
KIND_OFFSET = 12
CAPACITY_OFFSET = 24
MAX_MESSAGE_OFFSET = 32
DATA_OFFSET_OFFSET = 40
HEAD_OFFSET = 128
TAIL_OFFSET = 256
DATA_WAITERS_OFFSET = 384 + 4
SPACE_WAITERS_OFFSET = 512 + 4
SENDER_STATE_OFFSET = 1024
HEADER_SIZE = 4096
RECORD_MESSAGE = 0x4D534721
RECORD_PADDING = 0x50414421


# ---- names and segments --------------------------------------------------------


def unique_name() -> str:
    """A fresh ring name (22 characters) that the leak check recognises."""
    return TEST_PREFIX + secrets.token_hex(6)


def leftover_segments() -> set[str]:
    return {n for n in os.listdir(SHM_DIR) if n.startswith("shmr-")}


def segment_path(address_or_name: str) -> str:
    return os.path.join(SHM_DIR, address_or_name.removeprefix("shm://"))


def segment_exists(address_or_name: str) -> bool:
    return os.path.exists(segment_path(address_or_name))


def read_u32(address: str, offset: int) -> int:
    with open(segment_path(address), "rb") as f:
        f.seek(offset)
        return struct.unpack("<I", f.read(4))[0]


def wait_until_parked(address: str, waiters_offset: int, timeout: float = 10.0) -> None:
    """Return once some thread or process sleeps in a blocking call on the ring.

    A waiter increments the waitpoint's `waiters` word while it parks inside
    the C call, so seeing it non-zero proves the call is blocked there (not
    merely about to be made).
    """
    deadline = time.monotonic() + timeout
    while read_u32(address, waiters_offset) == 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"nobody parked on {address} within {timeout} s")
        os.sched_yield()


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


def child_return_without_closing(rx, unused=()):
    """Drain the channel and return, leaving rx open: it must be closed at exit."""
    for ep in unused:
        ep.close()
    for _ in rx:
        pass
    _KEEP.append(rx)  # no garbage collection may close it before the process exits


_KEEP: list = []


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


# ---- running children ------------------------------------------------------------


def start(ctx, target, *args):
    p = ctx.Process(target=target, args=args, daemon=True)
    p.start()
    return p


def join_or_kill(p, timeout: float = 30.0) -> int:
    """Wait for a child; kill it and fail if it hangs."""
    p.join(timeout)
    if p.is_alive():
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        raise AssertionError(f"child {p.name} still running after {timeout} s; killed")
    return p.exitcode
