"""MPMC scaling: P producer and C consumer processes on one queue.

Each producer sends its share of the messages as fast as it can; the
consumers take whatever comes. The clock runs from the moment every process
is ready (they wait on one Event) until the last consumer has counted its
last message, and every message is compared with the one sent. The shm ring
ends with Closed when the producers close; the queues end with one empty
message per consumer, which the parent puts after the producers finish.

Peers in the same run: multiprocessing.Queue, and faster-fifo where it is
installed (the `bench` extra).
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import time
from dataclasses import dataclass

from ..transports import shm

CONFIGS = ((1, 1), (2, 2), (4, 4))
SIZES = (64, 256)
SLOTS = 4096
WAIT = 60  # seconds a child may take to start, or a producer to finish, before the run fails


@dataclass
class Queue:
    """A queue under test: how to make it, and how its consumers learn the end."""

    name: str
    make: object  # (size) -> (producer end, consumer end)
    ends_by_closing: bool  # shm: consumers see Closed; queues need an end marker
    requires: str | None = None  # a module that must be installed

    def available(self) -> str | None:
        """None, or why this peer is skipped."""
        if self.requires and importlib.util.find_spec(self.requires) is None:
            return f"{self.requires} is not installed (pip install 'shmring[bench]')"
        return None


def _shm(size):
    return shm.pair(mode="mpmc", slots=SLOTS, slot_size=size)


def _mp_queue(size):
    q = multiprocessing.get_context(_start_method()).Queue()
    return q, q


def _faster_fifo(size):
    import faster_fifo

    q = faster_fifo.Queue(max_size_bytes=SLOTS * (size + 64))
    return q, q


QUEUES = [
    Queue("shm mpmc", _shm, ends_by_closing=True),
    Queue("multiprocessing.Queue", _mp_queue, ends_by_closing=False),
    Queue("faster-fifo", _faster_fifo, ends_by_closing=False, requires="faster_fifo"),
]


def _start_method() -> str:
    # fork starts 8 processes in milliseconds; every queue here survives it.
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def _message(size: int) -> bytes:
    return bytes(range(256)) * (size // 256) + bytes(size % 256)


def _produce(end, other_end, count, size, ready, go, closes):
    if closes:
        other_end.close()  # inherited through fork; holding it would keep that end open
    msg = _message(size)
    ready.release()
    go.wait()
    put = end.send if closes else end.put
    for _ in range(count):
        put(msg)
    if closes:
        end.close()


def _consume(end, other_end, size, ready, go, closes, counts):
    if closes:
        other_end.close()  # a consumer holding a sender copy would never see Closed
    expected = _message(size)
    ready.release()
    go.wait()
    good = total = 0
    if closes:
        for msg in end:
            total += 1
            good += msg == expected
        end.close()
    else:
        get = end.get
        while True:
            msg = get()
            if not msg:
                break
            total += 1
            good += msg == expected
    counts.put((total, good))


def measure(queue: Queue, producers: int, consumers: int, size: int, total: int) -> float:
    """Messages per second through `queue` with this many processes."""
    ctx = multiprocessing.get_context(_start_method())
    tx, rx = queue.make(size)
    ready, go, counts = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    share = total // producers
    closes = queue.ends_by_closing
    procs = [ctx.Process(target=_produce, args=(tx, rx, share, size, ready, go, closes), daemon=True)
             for _ in range(producers)]
    procs += [ctx.Process(target=_consume, args=(rx, tx, size, ready, go, closes, counts), daemon=True)
              for _ in range(consumers)]
    for p in procs:
        p.start()
    if queue.ends_by_closing:
        tx.close()  # the children hold their own copies
        rx.close()
    finished = False
    try:
        rate = _timed_run(queue, procs[:producers], procs[producers:], ready, go, counts, tx, share)
        finished = True
        return rate
    finally:
        for p in procs:  # no child outlives its measurement; after a failure, none is waited for
            p.join(WAIT if finished else 0)
            if p.is_alive():
                p.kill()
                p.join()


def _timed_run(queue: Queue, producers: list, consumers: list, ready, go, counts, tx, share: int) -> float:
    for _ in producers + consumers:
        if not ready.acquire(timeout=WAIT):
            raise AssertionError(f"{queue.name}: a child did not start within {WAIT} s")
    t0 = time.perf_counter()
    go.set()
    for p in producers:
        p.join(WAIT)
        if p.is_alive():
            raise AssertionError(f"{queue.name}: a producer did not finish within {WAIT} s")
    if not queue.ends_by_closing:
        for _ in consumers:
            tx.put(b"")
    reports = [counts.get(timeout=2 * WAIT) for _ in consumers]
    elapsed = time.perf_counter() - t0
    received, good = map(sum, zip(*reports))
    if received != share * len(producers) or good != received:
        raise AssertionError(f"{queue.name}: {received} of {share * len(producers)} messages arrived, {good} intact")
    return received / elapsed


def skipped() -> dict:
    """{queue: why it is skipped} for the peers not installed."""
    return {q.name: reason for q in QUEUES if (reason := q.available())}


def measurement_count(runs: int) -> int:
    """Progress units: one per measurement."""
    return runs * (len(QUEUES) - len(skipped())) * len(CONFIGS) * len(SIZES)


def run(runs: int, total: int, progress=None) -> dict:
    """{queue name: {"PxC size": [msg/s per run]}} and the reasons peers were skipped."""
    left_out = skipped()
    results = {q.name: {} for q in QUEUES if q.name not in left_out}
    for repetition in range(runs):
        for queue in QUEUES:
            if queue.name in left_out:
                continue
            for producers, consumers in CONFIGS:
                for size in SIZES:
                    cell = f"{producers}x{consumers} {size} B"
                    rate = measure(queue, producers, consumers, size, total)
                    results[queue.name].setdefault(cell, []).append(rate)
                    if progress:
                        progress.advance(f"run {repetition + 1}/{runs} mpmc scaling {queue.name}: {cell}")
    return {"results": results, "skipped": left_out, "total_messages": total, "runs": runs}
