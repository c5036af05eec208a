"""One ring against a model, in one process: random sends and receives.

The model is a deque of the queued messages plus the ring's byte accounting
from csrc/layout.h: a record takes align8(8 + len) bytes, and a record that
would straddle the end of the ring is preceded by padding up to the end. So
the model knows exactly when a send must fit and when it must time out.
"""

import random
import time
from collections import deque

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

import shmring


def record_bytes(length: int) -> int:
    return (8 + length + 7) & ~7


def ring_machine(capacity: int):
    max_size = capacity // 2 - 8
    sizes = st.one_of(st.sampled_from([0, 1, 7, 8, 9, max_size - 1, max_size]), st.integers(0, max_size))

    class RingMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.tx, self.rx = shmring.pair("shm", capacity=capacity)
            self.queued = deque()  # (message, bytes it takes in the ring)
            self.head = self.tail = 0  # byte positions, as the ring counts them

        @initialize(start=st.integers(0, capacity // 8 - 1))
        def start_anywhere(self, start):
            """Move both positions to byte 8 * start, so examples begin anywhere before the wrap."""
            remaining = 8 * start
            while remaining:
                rec = min(remaining, record_bytes(max_size))
                self.tx.send(bytes(rec - 8), timeout=0)
                assert self.rx.recv(timeout=0) == bytes(rec - 8)
                remaining -= rec
            self.head = self.tail = 8 * start

        def bytes_needed(self, length: int) -> int:
            offset, rec = self.head % capacity, record_bytes(length)
            return rec if offset + rec <= capacity else capacity - offset + rec

        @rule(size=sizes, seed=st.integers(0, 2**32 - 1), timeout=st.sampled_from([0, 0.001]))
        def send(self, size, seed, timeout):
            data = random.Random(seed).randbytes(size)
            need = self.bytes_needed(size)
            fits = self.head + need - self.tail <= capacity
            try:
                self.tx.send(data, timeout=timeout)
            except shmring.Timeout:
                assert self.queued, "an empty ring must accept any message up to max_message_size"
                assert not fits, f"a {size}-byte message fits ({need} bytes free needed) but send timed out"
                return
            assert fits, f"a {size}-byte message needs {need} bytes but only {capacity - (self.head - self.tail)} are free"
            self.queued.append((data, need))
            if self.head // capacity != (self.head + need) // capacity:
                event("wrapped")
            self.head += need

        @rule(size=sizes, seed=st.integers(0, 2**32 - 1))
        def send_then_recv(self, size, seed):
            """Keeps traffic moving, so most examples go round the ring several times."""
            self.send(size, seed, timeout=0)
            self.recv()

        @rule()
        def send_too_large(self):
            with pytest.raises(shmring.MessageTooLarge):
                self.tx.send(bytes(max_size + 1), timeout=0)

        def expect_empty(self, receive):
            with pytest.raises(shmring.Timeout):
                receive()

        def pop(self) -> bytes:
            data, need = self.queued.popleft()
            self.tail += need
            return data

        @rule()
        def recv(self):
            if not self.queued:
                return self.expect_empty(lambda: self.rx.recv(timeout=0))
            assert self.rx.recv(timeout=0) == self.pop()

        @rule(spare=st.sampled_from([0, 1, 100]))
        def recv_into(self, spare):
            if not self.queued:
                return self.expect_empty(lambda: self.rx.recv_into(bytearray(spare), timeout=0))
            expected = self.queued[0][0]
            buf = bytearray(b"\xa5" * (len(expected) + spare))
            assert self.rx.recv_into(buf, timeout=0) == len(expected)
            assert buf == expected + b"\xa5" * spare, "recv_into wrote past the message"
            self.pop()

        @precondition(lambda self: self.queued and len(self.queued[0][0]) > 0)
        @rule(short_by=st.integers(1, max_size))
        def recv_into_too_small(self, short_by):
            needed = len(self.queued[0][0])
            buf = bytearray(max(0, needed - short_by))
            with pytest.raises(shmring.BufferTooSmall) as info:
                self.rx.recv_into(buf, timeout=0)
            assert info.value.needed == needed
            # the message stays queued: the model is unchanged and later receives check it

        @precondition(lambda self: not self.queued)
        @rule()
        def recv_times_out_on_empty_ring(self):
            start = time.perf_counter()
            self.expect_empty(lambda: self.rx.recv(timeout=0.002))
            assert time.perf_counter() - start >= 0.002

        def teardown(self):
            self.tx.close()
            try:
                assert list(self.rx) == [data for data, _ in self.queued]
            finally:
                self.rx.close()

    return RingMachine


machine_settings = settings(max_examples=60, stateful_step_count=100, deadline=None)

Test1KiBRing = ring_machine(1024).TestCase
Test1KiBRing.settings = machine_settings

Test4KiBRing = ring_machine(4096).TestCase
Test4KiBRing.settings = machine_settings
