"""Run every transport through the same steps, several times, in one run.

Two real processes: this one (pinned to CPU 0) and a spawned child (pinned
to CPU 1) where the OS allows pinning. Transports take turns within each
repetition, so slow drifts of a shared machine touch them all alike.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import sys
import time
from dataclasses import dataclass, field

from .. import __version__, pair
from . import pipe_baseline, workloads

RTT_SIZES = (64, 4096)
THROUGHPUT_SIZES = (64, 4096, 1 << 20)
RING_CAPACITY = 8 << 20  # room for 1 MiB messages (max_message_size is capacity/2 - 8)


@dataclass
class Plan:
    runs: int = 3
    rtt_count: int = 20_000
    rtt_warmup: int = 2_000
    throughput_counts: dict = field(default_factory=lambda: {64: 500_000, 4096: 200_000, 1 << 20: 3_000})
    batch_count: int = 2_000_000  # 64 B messages moved with send_many/recv_many
    scaling_messages: int = 200_000  # per MPMC measurement (bench/scaling.py)

    @classmethod
    def quick(cls) -> "Plan":
        return cls(runs=3, rtt_count=3_000, rtt_warmup=500,
                   throughput_counts={64: 50_000, 4096: 20_000, 1 << 20: 300}, batch_count=200_000,
                   scaling_messages=20_000)


@dataclass
class Transport:
    name: str
    make_pair: object  # () -> (Sender, Receiver)
    in_c: bool = False  # run the steps in C over the shm core
    batches: bool = True  # has send_many/recv_many


def _shm_pair():
    return pair("shm", capacity=RING_CAPACITY)


def _shm_mpmc_pair():
    return pair("shm", mode="mpmc", slots=8, slot_size=max(THROUGHPUT_SIZES))


C_FLOOR = "C floor (shm core, no Python)"
PIPES = ("pipe", "os.pipe, minimal (baseline)")  # ratios are quoted against the faster of the two

TRANSPORTS = [
    Transport(C_FLOOR, _shm_pair, in_c=True),
    Transport("shm", _shm_pair),
    Transport("shm mpmc (1 sender, 1 receiver)", _shm_mpmc_pair),
    Transport("pipe", lambda: pair("pipe")),
    Transport("socket (AF_UNIX socketpair)", lambda: pair("socket")),
    Transport("queue (multiprocessing.Queue)", lambda: pair("queue")),
    Transport(PIPES[1], pipe_baseline.pair, batches=False),
]


def _steps(plan: Plan, transport: Transport):
    in_c = transport.in_c
    suffix = "_c" if in_c else ""
    steps = [("rtt" + suffix, size, plan.rtt_count, plan.rtt_warmup, False) for size in RTT_SIZES]
    steps += [("throughput" + suffix, size, plan.throughput_counts[size], 0, size >= 1 << 16)
              for size in THROUGHPUT_SIZES]
    if transport.batches and not in_c:
        steps.append(("batches", 64, plan.batch_count, 0, False))
    return steps


def _percentile(sorted_samples, q: float) -> float:
    """Nearest-rank percentile."""
    index = min(len(sorted_samples) - 1, max(0, int(round(q / 100 * len(sorted_samples) + 0.5)) - 1))
    return sorted_samples[index]


def _measure(transport: Transport, plan: Plan) -> dict:
    """One repetition of every step for one transport: {metric: value}."""
    down_tx, down_rx = transport.make_pair()
    up_tx, up_rx = transport.make_pair()
    steps = _steps(plan, transport)
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=workloads.child_main, args=(down_rx, up_tx, steps, 1), daemon=True)
    child.start()
    down_rx.close()
    up_tx.close()
    result = {}
    try:
        for kind, size, count, warmup, _into in steps:
            if kind.startswith("rtt"):
                run = workloads.rtt_c if transport.in_c else workloads.rtt
                samples = sorted(run(down_tx, up_rx, size, count, warmup))
                for q in (50, 99, 99.9):
                    result[f"rtt_{size}_p{q:g}_us"] = _percentile(samples, q) / 1000
            elif kind == "batches":
                seconds = workloads.batches(down_tx, up_rx, size, count)
                result[f"batches_{size}_msg_s"] = count // workloads.BATCH * workloads.BATCH / seconds
            else:
                run = workloads.throughput_c if transport.in_c else workloads.throughput
                seconds = run(down_tx, up_rx, size, count)
                result[f"throughput_{size}_msg_s"] = count / seconds
                result[f"throughput_{size}_bytes_s"] = count * size / seconds
    finally:
        down_tx.close()
        up_rx.close()
        child.join(30)
        if child.is_alive():
            child.kill()
    return result


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "shmring": __version__,
    }


def run(plan: Plan, progress=print) -> dict:
    """Every transport, plan.runs times; returns raw figures per run."""
    raw = {t.name: [] for t in TRANSPORTS}
    pinned = workloads.pin_to_cpu(0)
    started = time.perf_counter()
    try:
        for repetition in range(plan.runs):
            order = TRANSPORTS[repetition % len(TRANSPORTS):] + TRANSPORTS[:repetition % len(TRANSPORTS)]
            for transport in order:
                raw[transport.name].append(_measure(transport, plan))
                progress(f"  run {repetition + 1}/{plan.runs}: {transport.name} done "
                         f"({time.perf_counter() - started:.0f} s)")
    finally:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, range(os.cpu_count() or 1))
    return {
        "machine": machine(),
        "pinned": pinned,
        "plan": {"runs": plan.runs, "rtt_count": plan.rtt_count, "rtt_warmup": plan.rtt_warmup,
                 "throughput_counts": {str(k): v for k, v in plan.throughput_counts.items()}},
        "argv": sys.argv,
        "runs": raw,
    }
