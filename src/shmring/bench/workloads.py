"""What is measured, on both sides of the process boundary.

Each measurement is a *step* the parent and the child perform together over
two channels: ``down`` (parent -> child) and ``up`` (child -> parent).

- ``rtt``: the parent sends a message, the child echoes it back; the parent
  times each round trip with ``perf_counter_ns`` and checks the echo.
- ``throughput``: the parent sends ``count`` messages as fast as it can; the
  child receives them all, checks every length and the last message's
  content, and answers with the number of good messages. The parent's clock
  runs from the first send to that answer.

The ``c`` variants run the same steps inside C (csrc/pingpong.c) over the
same shm ring, so no Python runs in the loop: the floor of the binding.
"""

from __future__ import annotations

import os
import struct
import time

from .._core import ffi, lib

_COUNT = struct.Struct("<Q")


def payload(size: int) -> bytes:
    """A message whose bytes differ from position to position."""
    pattern = bytes(range(251))  # a prime length, so offsets never line up
    return (pattern * (size // len(pattern) + 1))[:size]


def pin_to_cpu(cpu: int) -> bool:
    """Run this process on one CPU, where the OS allows it."""
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return False
    try:
        os.sched_setaffinity(0, {cpu % os.cpu_count()})
        return True
    except OSError:
        return False


# ---- parent side ----------------------------------------------------------------


def rtt(down, up, size: int, count: int, warmup: int) -> list[int]:
    msg = payload(size)
    send, recv = down.send, up.recv
    for _ in range(warmup):
        send(msg)
        recv()
    clock = time.perf_counter_ns
    samples = [0] * count
    bad = 0
    for i in range(count):
        t0 = clock()
        send(msg)
        echo = recv()
        samples[i] = clock() - t0
        bad += echo != msg
    if bad:
        raise AssertionError(f"{bad} of {count} echoes of {size} bytes came back wrong")
    return samples


def throughput(down, up, size: int, count: int) -> float:
    """Seconds to move ``count`` messages of ``size`` bytes."""
    msg = payload(size)
    send = down.send
    t0 = time.perf_counter()
    for _ in range(count):
        send(msg)
    good = _COUNT.unpack(up.recv())[0]
    elapsed = time.perf_counter() - t0
    if good != count:
        raise AssertionError(f"the receiver got {good} of {count} messages of {size} bytes intact")
    return elapsed


def rtt_c(down, up, size: int, count: int, warmup: int) -> list[int]:
    msg = payload(size)
    samples = ffi.new("int64_t[]", max(count, warmup))
    for n in (warmup, count):
        rc = lib.shmring_pingpong_ping(down._h, up._h, msg, size, samples, n)
        if rc != 0:
            raise RuntimeError(f"C ping-pong failed: {ffi.string(lib.shmring_strerror(rc)).decode()}")
    return list(samples)[:count]


BATCH = 256  # messages per send_many / recv_many call


def batches(down, up, size: int, count: int) -> float:
    """Seconds to move ``count`` messages of ``size`` bytes, BATCH per call."""
    batch = [payload(size)] * BATCH
    send_many = down.send_many
    t0 = time.perf_counter()
    for _ in range(count // BATCH):
        send_many(batch)
    good = _COUNT.unpack(up.recv())[0]
    elapsed = time.perf_counter() - t0
    if good != count // BATCH * BATCH:
        raise AssertionError(f"the receiver got {good} of {count // BATCH * BATCH} batched messages intact")
    return elapsed


def throughput_c(down, up, size: int, count: int) -> float:
    msg = payload(size)
    t0 = time.perf_counter()
    rc = lib.shmring_pingpong_send_n(down._h, msg, size, count)
    if rc != 0:
        raise RuntimeError(f"C sender failed: {ffi.string(lib.shmring_strerror(rc)).decode()}")
    good = _COUNT.unpack(up.recv())[0]
    elapsed = time.perf_counter() - t0
    if good != count:
        raise AssertionError(f"the C receiver got {good} of {count} messages")
    return elapsed


# ---- child side -------------------------------------------------------------------


def echo(down, up, count: int) -> None:
    send, recv = up.send, down.recv
    for _ in range(count):
        send(recv())


def sink(down, up, size: int, count: int, into: bool) -> None:
    good = 0
    last = b""
    if into:
        buf = bytearray(size)
        recv_into = down.recv_into
        for _ in range(count):
            good += recv_into(buf) == size
        last = bytes(buf)
    else:
        recv = down.recv
        for _ in range(count):
            last = recv()
            good += len(last) == size
    if last != payload(size):
        good -= 1
    up.send(_COUNT.pack(good))


def echo_c(down, up, size: int, count: int) -> None:
    buf = ffi.new("char[]", max(size, 1))
    rc = lib.shmring_pingpong_echo(down._h, up._h, buf, max(size, 1), count)
    if rc != 0:
        raise RuntimeError(f"C echo failed: {ffi.string(lib.shmring_strerror(rc)).decode()}")


def sink_batches(down, up, size: int, count: int) -> None:
    good = received = 0
    recv_many = down.recv_many
    expected = count // BATCH * BATCH
    while received < expected:
        got = recv_many(BATCH)
        received += len(got)
        good += sum(len(m) == size for m in got)
    if got[-1] != payload(size):
        good -= 1
    up.send(_COUNT.pack(good))


def sink_c(down, up, size: int, count: int) -> None:
    buf = ffi.new("char[]", max(size, 1))
    elapsed = lib.shmring_pingpong_recv_n(down._h, buf, max(size, 1), count)
    if elapsed < 0:
        raise RuntimeError(f"C sink failed: {ffi.string(lib.shmring_strerror(elapsed)).decode()}")
    up.send(_COUNT.pack(count if ffi.buffer(buf, size)[:] == payload(size) else count - 1))


def child_main(down, up, steps, cpu: int) -> None:
    """The child's whole program: perform every step, in the parent's order."""
    pin_to_cpu(cpu)
    for step in steps:
        kind, size, count, warmup, into = step
        if kind == "rtt":
            echo(down, up, count + warmup)
        elif kind == "throughput":
            sink(down, up, size, count, into)
        elif kind == "batches":
            sink_batches(down, up, size, count)
        elif kind == "rtt_c":
            echo_c(down, up, size, warmup)
            echo_c(down, up, size, count)
        elif kind == "throughput_c":
            sink_c(down, up, size, count)
    down.close()
    up.close()
