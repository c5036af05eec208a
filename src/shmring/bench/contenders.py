"""Everything the benchmark compares, as rows: shmring's transports, then the peers.

A row is a Contender: a name and a factory of (sender, receiver) pairs that
the runner drives through the same steps. shmring's rows are defined here;
each peer (another IPC library) has its adapter module in peers/ and is
skipped, with the reason printed, where it is not installed.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass

from .. import pair

WINDOWS = sys.platform == "win32"


@dataclass
class Contender:
    name: str
    make_pair: object  # (largest message size) -> (sender, receiver); see peers/__init__.py for the ends
    group: str = "peer"  # "shmring" or "peer"
    module: str | None = None  # an import this row needs; the row is skipped without it
    package: str | None = None  # its PyPI distribution, whose version goes into the JSON
    max_size: int | None = None  # the largest message it can carry on this machine (None: no limit)
    max_size_reason: str = ""  # why, shown where a step is skipped for it
    in_c: bool = False  # run the steps in C over the shm core
    batches: bool = False  # has send_many/recv_many
    how: str = ""  # how the library is used, one line (JSON and README)
    not_here: str | None = None  # why this row cannot exist on this OS (None: it can)

    def unavailable(self) -> str | None:
        """None, or why this row is skipped."""
        if self.not_here:
            return self.not_here
        if self.module and importlib.util.find_spec(self.module) is None:
            return f"{self.package or self.module} is not installed (pip install 'shmring[bench]')"
        return None

    def too_large(self, size: int) -> str | None:
        if self.max_size is not None and size > self.max_size:
            return self.max_size_reason or f"messages over {self.max_size} bytes"
        return None


def buffer_bytes(max_size: int) -> int:
    """The buffering the rows sized in bytes get: room for 4 of the largest messages
    (8 MiB for 1 MiB messages), a power of two as the shm ring needs, 1 MiB at least."""
    need = max(1 << 20, 4 * (max_size + 64))
    return 1 << (need - 1).bit_length()


def _shm(spin_us: float):
    def make(max_size):
        return pair("shm", capacity=buffer_bytes(max_size), spin_us=spin_us)
    return make


def _shm_mpmc(max_size):
    return pair("shm", mode="mpmc", slots=8, slot_size=max_size)


# Messages in flight on the multiprocessing.Queue rows. Unbounded, a sender
# runs ahead of its receiver for as long as it is let (seconds of backlog
# at the end of a step); 64 keeps the backlog of 1 MiB messages to 64 MiB.
# Bounding costs a queue about a third of its small-message rate, whatever
# the bound (a semaphore per put and get).
QUEUE_MAXSIZE = 64


def _pipe_baseline(max_size):
    from . import pipe_baseline  # POSIX only (os.writev, a bare fd passed to the child)
    return pipe_baseline.pair()


C_FLOOR = "C floor (shm core, no Python)"
SHM = "shm"
SHM_PARKED = "shm, parked (spin_us=0)"
PIPES = ("pipe", "os.pipe, minimal (baseline)")  # ratios are quoted against the faster of the two

SHMRING = [
    Contender(C_FLOOR, _shm(50), "shmring", in_c=True, how="the same steps in C (csrc/pingpong.c)"),
    Contender(SHM, _shm(50), "shmring", batches=True,
              how="pair('shm'): a waiting call spins 50 us, then sleeps on a futex"),
    Contender(SHM_PARKED, _shm(0), "shmring", batches=True,
              how="pair('shm', spin_us=0): a waiting call sleeps on a futex at once"),
    Contender("shm mpmc (1 sender, 1 receiver)", _shm_mpmc, "shmring", batches=True,
              how="pair('shm', mode='mpmc', slots=8)"),
    Contender("pipe", lambda size: pair("pipe"), "shmring", batches=True, how="pair('pipe')"),
    Contender("socket (loopback socketpair)" if WINDOWS else "socket (AF_UNIX socketpair)",
              lambda size: pair("socket"), "shmring", batches=True, how="pair('socket')"),
    Contender("queue (multiprocessing.Queue)", lambda size: pair("queue", maxsize=QUEUE_MAXSIZE), "shmring",
              batches=True, how=f"pair('queue', maxsize={QUEUE_MAXSIZE})"),
    Contender(PIPES[1], _pipe_baseline, "shmring",
              how="os.pipe with 8-byte length prefixes, one writev per message (pipe_baseline.py)",
              not_here="POSIX only: Windows has no os.writev and cannot hand a bare fd to a spawned child"
              if WINDOWS else None),
]


def everything() -> tuple[list[Contender], dict[str, str]]:
    """The rows that can run here, and {row: why it is skipped} for the others."""
    from . import peers

    rows, skipped = [], {}
    for contender in SHMRING + peers.load():
        reason = contender.unavailable()
        if reason:
            skipped[contender.name] = reason
        else:
            rows.append(contender)
    return rows, skipped
