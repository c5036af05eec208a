"""What is measured, on both sides of the process boundary.

Each measurement is a *step* the parent and the child perform together over
two channels: ``down`` (parent -> child) and ``up`` (child -> parent). A step
has two phases, a warm-up whose figures are thrown away and the measured
one; each phase ends with an empty message (every step's messages are 8
bytes or more, so it cannot be mistaken for one), after which the child
answers with a report: messages it found intact, messages it found wrong,
and the CPU time it used during the phase.

- ``rtt``: the parent sends a message, the child echoes it back; the parent
  times each round trip with ``perf_counter_ns`` and compares the echo with
  what it sent.
- ``throughput``: the parent sends messages as fast as one ``send`` per
  message allows until the phase's time is up; the child compares every
  message with the one expected (``==`` on bytes is one memcmp). The sender
  alternates two payloads, so a receiver that returned a stale buffer or
  lost, duplicated or reordered a message is caught too. Above 64 KiB the
  child compares one byte in every 4 KiB page and the last 64 bytes: the
  two payloads differ at every byte, so a page the transport did not
  deliver this time still fails, and the check does not cost as much as
  the copy it checks (a full memcmp of 1 MiB would halve every row). The parent's clock
  runs from the first send to the child's report, and the parent checks that
  the child counted every message intact: no transport can win by dropping
  work.
- ``batches``: the same with ``send_many`` / ``recv_many``, 256 messages a call.

The ``_c`` variants run the steps inside C (csrc/pingpong.c) over the same
shm ring, with no Python in the loop: the floor of the binding. They take a
message count instead of a deadline, and the receiving side checks only the
last message's content (the loops are in csrc/pingpong.c, which the
benchmark leaves alone); that row is a reference, not a contender.
"""

from __future__ import annotations

import os
import struct
import sys
import time
from dataclasses import dataclass

from .._core import ffi, lib

END = b""  # closes a phase
READY = b"ready"  # the child's first message: its ends are open
BATCH = 256  # messages per send_many / recv_many call
_REPORT = struct.Struct("<QQd")  # intact, wrong, CPU seconds


@dataclass(frozen=True)
class Step:
    kind: str  # rtt | throughput | batches | rtt_c | throughput_c
    size: int
    seconds: float = 0.0  # measured phase (time-bounded steps)
    warmup_seconds: float = 0.0
    max_samples: int = 0  # rtt: cap on round trips per phase
    into: bool = False  # throughput: the child receives with recv_into a reused buffer
    count: int = 0  # C steps: messages in the measured phase
    warmup_count: int = 0  # C steps: messages in the warm-up phase

    @property
    def key(self) -> str:
        """How the step's figures are named: rtt_64, throughput_4096, batches_64."""
        return f"{self.kind.removesuffix('_c')}_{self.size}"


def payloads(size: int) -> tuple[bytes, bytes]:
    """Two different messages of ``size`` bytes whose bytes differ from position to position."""
    pattern = bytes(range(251))  # a prime length, so offsets never line up
    whole = pattern * (size // len(pattern) + 2)
    return whole[:size], whole[1:size + 1]


def pin_to_cpu(cpu: int) -> bool:
    """Run this process on one CPU, where the OS allows it."""
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return False
    try:
        os.sched_setaffinity(0, {cpu % os.cpu_count()})
        return True
    except OSError:
        return False


def cpu_seconds() -> float:
    """User + system CPU time of this whole process, every thread included
    (a library's I/O or feeder thread counts against it)."""
    if sys.platform == "win32":  # GetProcessTimes: the same sum, over every thread
        return time.process_time()
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _pairs_per_deadline_check(size: int) -> int:
    # Look at the clock every ~64 KiB sent, but at least every 256 messages
    # and at most every 2: the clock read stays out of the per-message cost.
    return max(1, min(128, (64 << 10) // size // 2))


# ---- parent side ----------------------------------------------------------------


def _end_phase(down, up) -> tuple[int, int, float]:
    """Close the phase; the child's report."""
    down.send(END)
    return _REPORT.unpack(up.recv())


def _check(kind: str, size: int, sent: int, good: int, bad: int) -> None:
    if bad or good != sent:
        raise AssertionError(f"{kind} {size} B: of {sent} messages sent, {good} arrived intact, "
                             f"{bad} wrong, {sent - good - bad} missing")


def rtt(down, up, step: Step) -> dict:
    _rtt_phase(down, up, step.size, step.warmup_seconds, step.max_samples)
    return _rtt_phase(down, up, step.size, step.seconds, step.max_samples)


def _rtt_phase(down, up, size: int, seconds: float, max_samples: int) -> dict:
    msg = payloads(size)[0]
    send, recv, clock = down.send, up.recv, time.perf_counter_ns
    samples = [0] * max_samples
    n = bad = 0
    cpu0 = cpu_seconds()
    t1 = start = clock()
    deadline = start + int(seconds * 1e9)
    while t1 < deadline and n < max_samples:
        t0 = clock()
        send(msg)
        echo = recv()
        t1 = clock()
        samples[n] = t1 - t0
        n += 1
        bad += echo != msg
    cpu = cpu_seconds() - cpu0
    _, _, child_cpu = _end_phase(down, up)
    _check("rtt", size, n, n - bad, bad)
    return {"samples": samples[:n], "count": n, "seconds": (t1 - start) / 1e9,
            "cpu_parent_s": cpu, "cpu_child_s": child_cpu}


def throughput(down, up, step: Step) -> dict:
    chunk = list(payloads(step.size)) * _pairs_per_deadline_check(step.size)
    send = down.send

    def send_chunk():
        for msg in chunk:
            send(msg)

    _sending_phase("throughput", down, up, step.size, step.warmup_seconds, send_chunk, len(chunk))
    return _sending_phase("throughput", down, up, step.size, step.seconds, send_chunk, len(chunk))


def batches(down, up, step: Step) -> dict:
    batch = list(payloads(step.size)) * (BATCH // 2)
    send_many = down.send_many

    def send_chunk():
        send_many(batch)

    _sending_phase("batches", down, up, step.size, step.warmup_seconds, send_chunk, BATCH)
    return _sending_phase("batches", down, up, step.size, step.seconds, send_chunk, BATCH)


def _sending_phase(kind: str, down, up, size: int, seconds: float, send_chunk, per_chunk: int) -> dict:
    """Send chunks until the time is up, then close the phase and check the child's count."""
    clock = time.perf_counter
    sent = 0
    cpu0 = cpu_seconds()
    start = clock()
    deadline = start + seconds
    while True:
        send_chunk()
        sent += per_chunk
        if clock() >= deadline:
            break
    good, bad, child_cpu = _end_phase(down, up)
    elapsed = clock() - start
    cpu = cpu_seconds() - cpu0
    _check(kind, size, sent, good, bad)
    return {"count": sent, "seconds": elapsed, "cpu_parent_s": cpu, "cpu_child_s": child_cpu}


def _c_check(rc: int, what: str) -> int:
    """The C calls return 0 (or a count) on success, a negative error code on failure."""
    if rc < 0:
        raise RuntimeError(f"C {what} failed: {ffi.string(lib.shmring_strerror(rc)).decode()}")
    return rc


def rtt_c(down, up, step: Step) -> dict:
    msg = payloads(step.size)[0]
    samples = ffi.new("int64_t[]", max(step.count, step.warmup_count))

    def ping(n):
        _c_check(lib.shmring_pingpong_ping(down._h, up._h, msg, step.size, samples, n), "ping")

    _c_phase(up, ping, step.warmup_count)
    result = _c_phase(up, ping, step.count)
    result["samples"] = list(samples)[:step.count]
    return result


def throughput_c(down, up, step: Step) -> dict:
    msg = payloads(step.size)[0]

    def send_n(n):
        _c_check(lib.shmring_pingpong_send_n(down._h, msg, step.size, n), "send")

    _c_phase(up, send_n, step.warmup_count, step.size)
    return _c_phase(up, send_n, step.count, step.size)


def _c_phase(up, run, count: int, size: int = 0) -> dict:
    """One C phase of ``count`` messages, up to the child's report."""
    cpu0 = cpu_seconds()
    start = time.perf_counter()
    run(count)
    good, bad, child_cpu = _REPORT.unpack(up.recv())
    elapsed = time.perf_counter() - start
    if size:
        _check("throughput (C)", size, count, good, bad)
    return {"count": count, "seconds": elapsed, "cpu_parent_s": cpu_seconds() - cpu0, "cpu_child_s": child_cpu}


PARENT_STEPS = {"rtt": rtt, "throughput": throughput, "batches": batches,
                "rtt_c": rtt_c, "throughput_c": throughput_c}


# ---- child side -------------------------------------------------------------------
# Each returns (intact, wrong) for one phase; child_main adds the CPU time.


def echo(down, up, step: Step, warmup: bool) -> tuple[int, int]:
    send, recv = up.send, down.recv
    n = 0
    while True:
        msg = recv()
        if not msg:
            return n, 0
        send(msg)
        n += 1


def sink(down, up, step: Step, warmup: bool) -> tuple[int, int]:
    expect, other = payloads(step.size)
    good = bad = 0
    if step.into:
        buf = bytearray(step.size)
        recv_into = down.recv_into
        (expect, other), view = _expected(step.size)
        while True:
            n = recv_into(buf)
            if not n:
                return good, bad
            if n == step.size and view(buf) == expect:
                good += 1
            else:
                bad += 1
            expect, other = other, expect
    recv = down.recv
    while True:
        msg = recv()
        if msg == expect:
            good += 1
        elif not msg:
            return good, bad
        else:
            bad += 1
        expect, other = other, expect


FULL_CHECK = 64 * 1024  # larger messages are checked page by page (see above)
PAGE = 4096


def _page_sample(data) -> bytes:
    """One byte of every page, and the last 64 bytes."""
    return bytes(data[::PAGE]) + bytes(data[-64:])


def _expected(size: int):
    """What each received message is compared with, and how it is looked at."""
    if size <= FULL_CHECK:
        return payloads(size), lambda buf: buf
    return tuple(map(_page_sample, payloads(size))), _page_sample


def sink_batches(down, up, step: Step, warmup: bool) -> tuple[int, int]:
    expect, other = payloads(step.size)
    good = bad = 0
    recv_many = down.recv_many
    while True:
        batch = recv_many(BATCH)
        end = not batch[-1]  # the phase's empty end marker comes last, never mid-batch
        if end:
            batch.pop()
        # Messages alternate between the two payloads: compare every one, in C.
        intact = batch[0::2].count(expect) + batch[1::2].count(other)
        good += intact
        bad += len(batch) - intact
        if len(batch) % 2:
            expect, other = other, expect
        if end:
            return good, bad


def echo_c(down, up, step: Step, warmup: bool) -> tuple[int, int]:
    count = step.warmup_count if warmup else step.count
    buf = ffi.new("char[]", max(step.size, 1))
    _c_check(lib.shmring_pingpong_echo(down._h, up._h, buf, max(step.size, 1), count), "echo")
    return count, 0


def sink_c(down, up, step: Step, warmup: bool) -> tuple[int, int]:
    count = step.warmup_count if warmup else step.count
    buf = ffi.new("char[]", max(step.size, 1))
    _c_check(lib.shmring_pingpong_recv_n(down._h, buf, max(step.size, 1), count), "recv")
    last_ok = ffi.buffer(buf, step.size)[:] == payloads(step.size)[0]
    return (count, 0) if last_ok else (count - 1, 1)


CHILD_STEPS = {"rtt": echo, "throughput": sink, "batches": sink_batches,
               "rtt_c": echo_c, "throughput_c": sink_c}


def open_end(end, create: bool) -> None:
    """Ends of libraries that cannot pickle travel as names and open where they are used."""
    opener = getattr(end, "open", None)
    if opener is not None:
        opener(create=create)


def child_main(down, up, steps, cpu: int) -> None:
    """The child's whole program: open its ends, then every step's two phases, in the parent's order."""
    pin_to_cpu(cpu)
    open_end(down, create=False)
    open_end(up, create=False)
    up.send(READY)
    for step in steps:
        run = CHILD_STEPS[step.kind]
        for warmup in (True, False):
            cpu0 = cpu_seconds()
            good, bad = run(down, up, step, warmup)
            up.send(_REPORT.pack(good, bad, cpu_seconds() - cpu0))
    # Wait for the parent's goodbye before closing: some libraries drop what
    # a closing end has sent but its peer has not yet taken.
    down.recv()
    down.close()
    up.close()
