"""The MPMC mode of the shm transport: many senders, many receivers, one ring.

Every message goes to exactly one receiver; a process killed while it holds
a slot costs at most the one message it was writing or reading, and never
wedges the ring.
"""

import multiprocessing as mp
import os
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shmring
from tests import helpers as h
from tests import mpmc_children as kids
from tests.platform_support import QUICK_START, SIGKILL

SLOT_SIZE = 64
SPAWN = mp.get_context("spawn")
FORK = QUICK_START  # fork where the OS has it: these tests start and kill many children

# Where a test reaches into the segment, as a crashed process would have left it
# (docs/FORMAT.md): holder tables of each end, then the slots.
SENDER_HOLDERS = 1024 + 16
RECEIVER_HOLDERS = 2048 + 16
RECOVERED_WRITES = 768
SLOT_WRITING, SLOT_READING = 1, 4


def slot_state(lap: int, holder: int, state: int) -> int:
    return (lap << 9) | (holder << 3) | state


def holder_index(address, table: int, pid: int) -> int:
    """The entry of process `pid` in an end's holder table."""
    for i in range(63):
        if h.peek(address, table + 16 * i) >> 32 == pid:
            return i
    raise AssertionError(f"process {pid} holds no copy of that end")


def mpmc_pair(**options):
    options = {"slots": 64, "slot_size": SLOT_SIZE, **options}
    return shmring.pair("shm", mode="mpmc", **options)


def named_mpmc_pair():
    """An mpmc ring with a name, so that more ends can open it by name."""
    address = "shm://" + h.unique_name()
    tx = shmring.open(address, "w", create=True, mode="mpmc", slots=64, slot_size=SLOT_SIZE)
    return tx, shmring.open(address, "r", mode="mpmc")


# ---- exactly once, in order per producer -------------------------------------------


@pytest.mark.timeout(300)
def test_four_producers_four_consumers_move_a_million_messages_exactly_once():
    producers, consumers, per_producer = 4, 4, 250_000
    tx, rx = mpmc_pair(slots=1024, spin_us=20)
    results = SPAWN.Queue()
    procs = [SPAWN.Process(target=kids.produce, args=(tx, p, per_producer, (20, SLOT_SIZE))) for p in range(producers)]
    procs += [SPAWN.Process(target=kids.consume, args=(rx, producers, results)) for _ in range(consumers)]
    for p in procs:
        p.start()
    tx.close()  # the children hold their own copies now
    rx.close()
    reports = [results.get(timeout=240) for _ in range(consumers)]
    for p in procs:
        assert h.join_or_kill(p, 60) == 0
    for producer in range(producers):
        seqs = array("Q")
        for report in reports:
            seqs.frombytes(report[producer])
        assert len(seqs) == per_producer, f"producer {producer}: {len(seqs)} of {per_producer} arrived"
        assert sorted(seqs) == list(range(per_producer)), f"producer {producer}: lost or duplicated messages"


def test_every_receiver_gets_closed_once_every_sender_copy_closed():
    tx, rx = named_mpmc_pair()
    extra_tx = shmring.open(tx.address, "w", mode="mpmc")  # a second sender of the same ring
    receivers = [rx] + [shmring.open(rx.address, "r", mode="mpmc") for _ in range(2)]
    tx.send(b"one")
    tx.close()
    extra_tx.send(b"two")
    assert sorted(r.recv(timeout=5) for r in receivers[:2]) == [b"one", b"two"]
    for r in receivers:
        with pytest.raises(shmring.Timeout):
            r.recv(timeout=0)  # a sender copy is still open
    extra_tx.close()
    for r in receivers:
        with pytest.raises(shmring.Closed):
            r.recv(timeout=5)
        r.close()


def test_a_second_sender_joins_instead_of_being_refused():
    tx, rx = named_mpmc_pair()
    with tx, rx, shmring.open(tx.address, "w", mode="mpmc") as other:
        other.send(b"hello")
        assert rx.recv(timeout=5) == b"hello"


# ---- slot boundaries ---------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.one_of(st.integers(0, SLOT_SIZE), st.sampled_from([0, SLOT_SIZE, SLOT_SIZE - 1])),
                      min_size=1, max_size=40),
       slots=st.sampled_from([2, 4, 64]))
def test_messages_up_to_the_slot_size_round_trip(sizes, slots):
    tx, rx = mpmc_pair(slots=slots)
    with tx, rx:
        sent = []
        for i, size in enumerate(sizes):
            msg = bytes([i & 0xFF]) * size
            try:
                tx.send(msg, timeout=0)
                sent.append(msg)
            except shmring.Timeout:
                assert len(sent) == slots, "a send was refused with free slots"
                assert rx.recv(timeout=0) == sent.pop(0)
                tx.send(msg, timeout=0)
                sent.append(msg)
        for msg in sent:
            assert rx.recv(timeout=0) == msg


@settings(max_examples=30, deadline=None)
@given(size=st.integers(0, SLOT_SIZE), short_by=st.integers(1, 8))
def test_recv_into_a_short_buffer_leaves_the_message_for_the_next_call(size, short_by):
    tx, rx = mpmc_pair()
    with tx, rx:
        tx.send(b"m" * size)
        if size:
            with pytest.raises(shmring.BufferTooSmall) as err:
                rx.recv_into(bytearray(max(0, size - short_by)), timeout=0)
            assert err.value.needed == size
        buf = bytearray(size)
        assert rx.recv_into(buf, timeout=0) == size and buf == b"m" * size


def test_a_message_one_byte_over_the_slot_size_is_refused():
    tx, rx = mpmc_pair()
    with tx, rx:
        with pytest.raises(shmring.MessageTooLarge, match="larger slot_size"):
            tx.send(bytes(SLOT_SIZE + 1))
        tx.send(bytes(SLOT_SIZE))
        assert rx.recv(timeout=0) == bytes(SLOT_SIZE)


# ---- dead processes ------------------------------------------------------------------


def start_holder(ctx, end):
    ready = ctx.Event()
    p = h.start(ctx, kids.hold_then_die, end, ready)  # daemon: a failed test cannot leave it running
    assert ready.wait(30)
    return p


@pytest.mark.timeout(60)
def test_a_sender_killed_mid_write_costs_nothing_and_does_not_wedge_the_ring():
    tx, rx = mpmc_pair(slots=4, claim_timeout=0.05)
    with tx, rx:
        child = start_holder(FORK, tx)
        # What the child leaves if killed between claiming slot 0 and publishing it:
        # the slot WRITING under its holder entry, the enqueue counter moved on.
        holder = holder_index(tx, SENDER_HOLDERS, child.pid)
        h.poke(tx, h.HEADER_SIZE, slot_state(0, holder, SLOT_WRITING))
        h.poke(tx, h.HEAD_OFFSET, 1)
        os.kill(child.pid, SIGKILL)
        child.join()
        tx.send(b"after")
        assert rx.recv(timeout=10) == b"after"  # the dead claim is skipped, not waited for
        assert h.peek(tx, RECOVERED_WRITES) == 1
        assert tx.stats() == {"recovered_writes": 1, "recovered_reads": 0}


@pytest.mark.timeout(60)
def test_a_receiver_killed_mid_read_loses_only_its_message():
    tx, rx = mpmc_pair(slots=2, claim_timeout=0.05)
    with tx, rx:
        child = start_holder(FORK, rx)
        tx.send(b"taken by the dead")
        # What the child leaves if killed while copying slot 0 out.
        holder = holder_index(rx, RECEIVER_HOLDERS, child.pid)
        h.poke(rx, h.HEADER_SIZE, slot_state(0, holder, SLOT_READING))
        h.poke(rx, h.TAIL_OFFSET, 1)
        os.kill(child.pid, SIGKILL)
        child.join()
        tx.send(b"second")
        tx.send(b"third", timeout=10)  # needs slot 0 back from the dead receiver
        assert [rx.recv(timeout=5), rx.recv(timeout=5)] == [b"second", b"third"]
        assert tx.stats() == {"recovered_writes": 0, "recovered_reads": 1}


@pytest.mark.timeout(60)
def test_a_live_but_slow_claimer_is_never_overtaken():
    tx, rx = mpmc_pair(slots=4, claim_timeout=0.01)
    with tx, rx:
        child = start_holder(FORK, tx)
        holder = holder_index(tx, SENDER_HOLDERS, child.pid)
        h.poke(tx, h.HEADER_SIZE, slot_state(0, holder, SLOT_WRITING))
        h.poke(tx, h.HEAD_OFFSET, 1)
        tx.send(b"behind the slow one")
        with pytest.raises(shmring.Timeout):
            rx.recv(timeout=0.3)  # 30 claim timeouts: still waiting for the live claimer
        assert tx.stats()["recovered_writes"] == 0
        os.kill(child.pid, SIGKILL)
        child.join()
        assert rx.recv(timeout=10) == b"behind the slow one"


@pytest.mark.timeout(120)
def test_senders_killed_at_random_moments_never_wedge_or_corrupt_the_ring():
    tx, rx = mpmc_pair(slots=8, claim_timeout=0.02)
    with tx, rx:
        seen = set()
        for victim in range(8):
            ready = FORK.Event()
            child = h.start(FORK, kids.send_forever, tx, victim, ready)
            assert ready.wait(30)
            for _ in range(50 + victim * 37):  # let it run into a full ring, then kill it mid-stream
                producer, seq = kids.check(rx.recv(timeout=10))
                assert (producer, seq) not in seen, "a message arrived twice"
                seen.add((producer, seq))
            os.kill(child.pid, SIGKILL)
            child.join()
            while True:  # drain what it published before dying
                try:
                    producer, seq = kids.check(rx.recv(timeout=0.5))
                except shmring.Timeout:
                    break
                assert (producer, seq) not in seen
                seen.add((producer, seq))
            tx.send(kids.message(100, victim, 48))  # the ring still works
            assert kids.check(rx.recv(timeout=10)) == (100, victim)
        for producer in range(8):  # per producer: a prefix arrived, with at most one gap (its last message)
            seqs = sorted(s for p, s in seen if p == producer)
            assert seqs == list(range(len(seqs))), f"producer {producer} lost a message it had published"


@pytest.mark.timeout(120)
def test_receivers_killed_at_random_moments_lose_at_most_their_message_each():
    tx, rx = mpmc_pair(slots=8, claim_timeout=0.02)
    kills, total = 6, 6000
    got = []
    with tx, rx:
        sent = 0
        for victim in range(kills):
            seen, count, ready = FORK.Array("Q", total, lock=False), FORK.Value("i", 0, lock=False), FORK.Event()
            child = h.start(FORK, kids.receive_and_record, rx, seen, count, ready)
            assert ready.wait(30)
            for _ in range(300 + 97 * victim):  # keep it busy, then kill it mid-stream
                tx.send(kids.message(0, sent, 48), timeout=10)
                sent += 1
            os.kill(child.pid, SIGKILL)
            child.join()
            got += [(v >> 32, v & 0xFFFFFFFF) for v in seen[:count.value]]
        while True:  # the ring gives back everything nobody took...
            try:
                got.append(kids.check(rx.recv(timeout=0.5)))
            except shmring.Timeout:
                break
        # ...and still takes messages (a slot a killed receiver claimed is recovered). Only now:
        # the last child may have fallen behind before its kill and left the ring full.
        for _ in range(2 * 8):
            tx.send(kids.message(0, sent, 48), timeout=10)
            sent += 1
            got.append(kids.check(rx.recv(timeout=10)))
    seqs = [seq for _, seq in got]
    assert len(seqs) == len(set(seqs)), "a message was received twice"
    # Each kill may cost the message being copied out, and the one received but not yet written down.
    assert sent - len(seqs) <= 2 * kills, f"{sent - len(seqs)} of {sent} messages unaccounted for after {kills} kills"


# ---- a buggy or hostile peer -------------------------------------------------------

SLOT_READY = 2
SLOT_LENGTH = h.HEADER_SIZE + 8  # u32 after the first slot's state word


@pytest.mark.parametrize("what, offset, value", [
    ("a holder index past the table", h.HEADER_SIZE, slot_state(0, 63, SLOT_READY)),
    ("an unknown slot state", h.HEADER_SIZE, slot_state(0, 0, 7)),
    ("a slot two laps behind the counter", h.TAIL_OFFSET, 4 * 3),
    ("a length over the slot size", SLOT_LENGTH, SLOT_SIZE + 1),
])
def test_a_receiver_refuses_impossible_values(what, offset, value):
    tx, rx = mpmc_pair(slots=4)
    with tx, rx:
        tx.send(b"genuine")
        fmt = "<I" if offset == SLOT_LENGTH else "<Q"
        h.poke(rx, offset, value, fmt)
        with pytest.raises(shmring.Corrupt):
            rx.recv(timeout=1)


def test_a_sender_refuses_a_counter_far_ahead_of_the_slots():
    tx, rx = mpmc_pair(slots=4)
    with tx, rx:
        h.poke(tx, h.HEAD_OFFSET, 4 * 10)  # ten laps ahead of every slot
        with pytest.raises(shmring.Corrupt):
            tx.send(b"x", timeout=1)


SLOT_FREE = 0
SLOT_STRIDE_OFFSET = 72  # identity.slot_stride (docs/FORMAT.md)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("side", ["send", "recv"])
def test_slots_stamped_laps_ahead_are_corrupt_not_an_endless_scan(side):
    tx, rx = mpmc_pair(slots=4)
    with tx, rx:
        stride = h.peek(tx, SLOT_STRIDE_OFFSET)
        for i in range(4):
            h.poke(tx, h.HEADER_SIZE + i * stride, slot_state(1 << 40, 0, SLOT_FREE))
        with pytest.raises(shmring.Corrupt):
            tx.send(b"x", timeout=0) if side == "send" else rx.recv(timeout=0)

