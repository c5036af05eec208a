"""shm against one peer, interleaved in blocks of a few milliseconds.

The main run gives each contender its own child and its own few seconds, so
on a shared machine whose speed changes every few seconds two close rows
(shm and the fastest peer) can swap places from one run to the next. Here
both contenders share one pair of processes and take turns block by block:
a block of round trips each, then a block of one-way messages each, the
order reversed every round. Both then see the same moments of the machine,
and the ratio of their blocks in one round is a fair comparison even when
the absolute figures are not; the report gives the median of those ratios
and the middle half of them.

Every message is checked as in the main run: each echo is compared with what
was sent, and the child counts the one-way messages it found intact and
reports the count, which must be the block's.
"""

from __future__ import annotations

import multiprocessing
import statistics
import struct
import time

from . import runner, workloads
from .guard import child_guard
from .workloads import END, READY

_COUNT = struct.Struct("<QQ")  # intact, wrong


def _orders(names: list[str], rounds: int):
    """The contenders' order in each round: reversed every other round."""
    for r in range(rounds):
        yield names if r % 2 == 0 else names[::-1]


def _child(ends: dict, rounds: int, size: int, rtt_block: int, msg_block: int, cpu: int) -> None:
    """Echo and sink in the parent's order; ends maps a name to its (down receiver, up sender)."""
    workloads.pin_to_cpu(cpu)
    for down, up in ends.values():
        workloads.open_end(down, create=False)
        workloads.open_end(up, create=False)
        up.send(READY)
    expect0, other0 = workloads.payloads(size)
    for order in _orders(list(ends), rounds):
        for name in order:
            down, up = ends[name]
            recv, send = down.recv, up.send
            for _ in range(rtt_block):
                send(recv())
        for name in order:
            down, up = ends[name]
            recv, expect, other, good = down.recv, expect0, other0, 0
            for _ in range(msg_block):
                if recv() == expect:
                    good += 1
                expect, other = other, expect
            up.send(_COUNT.pack(good, msg_block - good))
    for down, up in ends.values():
        down.recv()  # the parent's goodbye, before closing (see workloads.child_main)
        down.close()
        up.close()


def _rtt_block(down, up, n: int, a: bytes, b: bytes) -> float:
    """The median round trip of n, in us; every echo checked."""
    send, recv, clock = down.send, up.recv, time.perf_counter_ns
    samples = []
    for i in range(n):
        msg = a if i % 2 == 0 else b
        t0 = clock()
        send(msg)
        echo = recv()
        samples.append(clock() - t0)
        if echo != msg:
            raise RuntimeError("an echo differed from the message sent")
    return statistics.median(samples) / 1e3


def _msg_block(down, up, n: int, a: bytes, b: bytes) -> float:
    """Messages per second for n sent one per call, until the child's count is back."""
    chunk, send, clock = ([a, b] * ((n + 1) // 2))[:n], down.send, time.perf_counter  # as the child expects
    start = clock()
    for msg in chunk:
        send(msg)
    good, bad = _COUNT.unpack(up.recv())
    elapsed = clock() - start
    if good != len(chunk) or bad:
        raise RuntimeError(f"the child found {good} of {len(chunk)} messages intact and {bad} wrong")
    return len(chunk) / elapsed


def _quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def _summary(per_round: dict, first: str, second: str) -> dict:
    ratios = [x / y for x, y in zip(per_round[first], per_round[second])]
    low, high = _quartiles(ratios)
    return {"median": {name: statistics.median(v) for name, v in per_round.items()},
            "ratio_median": statistics.median(ratios), "ratio_middle_half": [low, high]}


def run(contenders: list, *, rounds: int, warmup_rounds: int, size: int, rtt_block: int, msg_block: int,
        child_cpu: int, progress=None) -> dict:
    """Interleave two contenders; contenders[0] is the one the ratios are of (shm)."""
    names = [c.name for c in contenders]
    if len(set(names)) != 2:
        raise ValueError("head to head takes two different contenders")
    parent_ends, child_ends, everything = {}, {}, []
    child = None
    with runner.pinned_to_cpu0():  # as in the main run, whose header says where it cannot pin
        try:
            for c in contenders:
                parent_ends[c.name], child_ends[c.name] = runner.open_channels(c, size, everything)
            total = warmup_rounds + rounds
            child = multiprocessing.get_context("spawn").Process(
                target=_child, args=(child_ends, total, size, rtt_block, msg_block, child_cpu), daemon=True)
            child.start()
            for down_rx, up_tx in child_ends.values():
                down_rx.close()  # the child holds its own copies
                up_tx.close()
            with child_guard(child, 60 + total * 2.0, "head to head"):
                for _, up in parent_ends.values():
                    runner.expect_hello(up, "head to head")
                rtt, rate = _rounds(parent_ends, total, warmup_rounds, size, rtt_block, msg_block, progress)
            for down, _ in parent_ends.values():
                down.send(END)  # goodbye (outside the guard: the child exits after it)
        finally:
            runner.close_and_reap(everything, child)
    return {"contenders": names, "size": size, "rounds": rounds, "rtt_block": rtt_block, "msg_block": msg_block,
            "rtt_us": rtt, "msg_s": rate,
            "rtt": _summary(rtt, *names), "one_per_call": _summary(rate, *names)}


def _rounds(parent_ends: dict, total: int, warmup_rounds: int, size: int, rtt_block: int, msg_block: int,
            progress) -> tuple[dict, dict]:
    """The parent's side of every round's blocks; the first warmup_rounds are not kept."""
    a, b = workloads.payloads(size)
    rtt = {name: [] for name in parent_ends}
    rate = {name: [] for name in parent_ends}
    for r, order in enumerate(_orders(list(parent_ends), total)):
        round_trips = [(name, _rtt_block(*parent_ends[name], rtt_block, a, b)) for name in order]
        rates = [(name, _msg_block(*parent_ends[name], msg_block, a, b)) for name in order]
        if r < warmup_rounds:
            continue
        for name, value in round_trips:
            rtt[name].append(value)
        for name, value in rates:
            rate[name].append(value)
        if progress:
            progress.advance(f"head to head: round {r - warmup_rounds + 1}/{total - warmup_rounds}")
    return rtt, rate
