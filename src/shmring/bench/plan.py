"""What one bench invocation measures, and for how long.

Steps are bounded by time, not by message count: a transport 100 times
slower than another gets the same wall time, so the whole run has a known
length whatever is installed. Each step first runs a warm-up phase (caches,
page faults, branch predictors, the kernel's wake-up paths, lazily started
library threads) whose figures are thrown away.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

KiB, MiB = 1 << 10, 1 << 20


@dataclass
class Plan:
    runs: int = 3  # repetitions of every step; the tables show medians and min-max
    rtt_sizes: tuple = (8, 64, 4 * KiB)
    throughput_sizes: tuple = (8, 64, 4 * KiB, 64 * KiB, 1 * MiB)
    batch_size: int = 64  # send_many/recv_many step (shmring's transports only)
    warmup_seconds: float = 0.1  # per step, before measuring
    step_seconds: float = 0.4  # per step, measured
    rtt_max_samples: int = 200_000  # a cap on one RTT step's samples (memory, histogram time)
    into_from: int = 64 * KiB  # sizes from this up are received with recv_into a reused buffer
    scaling_messages: int = 100_000  # per MPMC scaling measurement (scaling.py)
    scaling_runs: int = 3
    # shm against the fastest peer, interleaved in one pair of processes (head_to_head.py)
    head_to_head_rounds: int = 200
    head_to_head_warmup_rounds: int = 5
    head_to_head_rtt_block: int = 400  # round trips per contender and round
    head_to_head_msg_block: int = 10_000  # one-way messages per contender and round

    @classmethod
    def quick(cls) -> "Plan":
        """Under a minute on a 2-core machine, peers and MPMC scaling included."""
        return cls(runs=2, warmup_seconds=0.02, step_seconds=0.08, scaling_messages=20_000, scaling_runs=1,
                   head_to_head_rounds=30, head_to_head_warmup_rounds=2)

    @classmethod
    def tiny(cls) -> "Plan":
        """For tests of the machinery: a few hundred messages, one run, no timing value."""
        return cls(runs=1, rtt_sizes=(64,), throughput_sizes=(64, 4 * KiB), warmup_seconds=0.002,
                   step_seconds=0.01, rtt_max_samples=300, scaling_messages=400, scaling_runs=1,
                   head_to_head_rounds=3, head_to_head_warmup_rounds=1, head_to_head_rtt_block=10,
                   head_to_head_msg_block=100)

    @property
    def max_size(self) -> int:
        return max(self.rtt_sizes + self.throughput_sizes + (self.batch_size,))

    def c_count(self, size: int) -> int:
        """Messages for the C floor's steps, which take a count, not a deadline.

        Sized so C (about 3 GB/s and up, tens of millions of small messages a
        second) takes roughly step_seconds.
        """
        return max(200, min(2_000_000, int(self.step_seconds * 3e9 / size)))

    def as_dict(self) -> dict:
        return asdict(self)
