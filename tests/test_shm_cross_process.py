"""Two processes on one ring: streams both ways, copies of endpoints,
peer death, named rendezvous, closing from another thread, and Ctrl-C.

Every test runs under the spawn and the fork start methods: endpoints travel
as Process arguments (pickled under spawn, inherited under fork).
"""

import _thread
import multiprocessing
import os
import signal
import time

import pytest

import shmring
import shmring.transports.shm as shm
from tests import helpers as h
from tests.platform_support import SIGKILL, WINDOWS, start_method_params

SEED, COUNT, MAX_SIZE = 1234, 100_000, 2000


@pytest.fixture(params=start_method_params())
def ctx(request):
    return multiprocessing.get_context(request.param)


# ---- streams ---------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_stream_from_child_arrives_whole_in_order_then_closed(ctx):
    tx, rx = shmring.pair("shm", capacity=1 << 14)
    with rx:
        child = h.start(ctx, h.child_send_stream, tx, SEED, COUNT, MAX_SIZE, [rx])
        tx.close()
        assert h.check_stream(rx, SEED, COUNT, MAX_SIZE) == "ok"
    assert h.join_or_kill(child) == 0


@pytest.mark.timeout(90)
def test_stream_to_child_arrives_whole_in_order_then_closed(ctx):
    tx, rx = shmring.pair("shm", capacity=1 << 14)
    results = ctx.Queue()
    with tx:
        child = h.start(ctx, h.child_check_stream, rx, SEED + 1, COUNT, MAX_SIZE, results, [tx])
        rx.close()
        h.send_stream(tx, SEED + 1, COUNT, MAX_SIZE)
    assert results.get(timeout=60) == "ok"
    assert h.join_or_kill(child) == 0


@pytest.mark.timeout(60)
def test_child_works_after_parent_closes_its_copies_right_after_start(ctx):
    # A copy counts from the moment it is pickled (or forked): closing the
    # parent's copies before the child has even started must not close the ends.
    to_child, from_parent = shmring.pair("shm", capacity=4096)
    to_parent, from_child = shmring.pair("shm", capacity=4096)
    child = h.start(ctx, h.child_echo, from_parent, to_parent, [to_child, from_child])
    from_parent.close()
    to_parent.close()
    with to_child, from_child:
        for seq in range(1000):
            to_child.send(h.message(seq, seq % 300), timeout=30)
            assert from_child.recv(timeout=30) == h.message(seq, seq % 300)
        to_child.close()
        with pytest.raises(shmring.Closed):
            from_child.recv(timeout=30)
    assert h.join_or_kill(child) == 0


TURNS = 6


def take_turns(parent_turn, go, done):
    """Even turns are the parent's, odd turns the child's."""
    for turn in range(TURNS):
        if turn % 2 == 0:
            parent_turn(turn)
        else:
            go.set()
            assert done.wait(30), f"the child never finished turn {turn}"
            done.clear()


@pytest.mark.timeout(60)
def test_a_sender_used_in_turn_by_two_processes_keeps_one_stream(ctx):
    tx, rx = shmring.pair("shm", capacity=1 << 14)
    go, done = ctx.Event(), ctx.Event()
    with tx, rx:
        # The child holds its copy before the parent sends anything.
        child = h.start(ctx, h.child_sender_turns, tx, range(1, TURNS, 2), go, done, [rx])
        take_turns(lambda turn: h.send_batch(tx, turn), go, done)
        assert h.join_or_kill(child) == 0
        for turn in range(TURNS):
            assert h.check_batch(rx, turn) == "ok"


@pytest.mark.timeout(60)
def test_a_receiver_used_in_turn_by_two_processes_takes_each_message_once(ctx):
    tx, rx = shmring.pair("shm", capacity=1 << 14)
    go, done, results = ctx.Event(), ctx.Event(), ctx.Queue()
    with tx, rx:
        child = h.start(ctx, h.child_receiver_turns, rx, range(1, TURNS, 2), go, done, results, [tx])
        for turn in range(TURNS):
            h.send_batch(tx, turn)
        take_turns(lambda turn: results.put(h.check_batch(rx, turn)), go, done)
        assert h.join_or_kill(child) == 0
        assert [results.get(timeout=10) for _ in range(TURNS)] == ["ok"] * TURNS
        with pytest.raises(shmring.Timeout):
            rx.recv(timeout=0)


# ---- peer death ------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_messages_sent_before_the_sender_was_killed_still_arrive_then_closed(ctx):
    tx, rx = shmring.pair("shm", capacity=4096)
    ready, release = ctx.Event(), ctx.Event()
    with rx:
        child = h.start(ctx, h.child_send_then_linger, tx, 20, ready, release, [rx])
        tx.close()
        assert ready.wait(30)
        os.kill(child.pid, SIGKILL)
        child.join(30)
        for seq in range(20):
            assert rx.recv(timeout=5) == h.message(seq, 100)
        start = time.perf_counter()
        with pytest.raises(shmring.Closed):
            rx.recv(timeout=10)
        assert time.perf_counter() - start < 2


def kill_once_parked(address, waiters_offset, pid):
    """A thread that SIGKILLs `pid` once this process blocks in a call on the ring."""

    def kill():
        h.wait_until_parked(address, waiters_offset)
        os.kill(pid, SIGKILL)

    killer = h.Background(kill)
    killer.start()
    return killer


@pytest.mark.timeout(60)
def test_blocked_recv_raises_closed_soon_after_the_sender_is_killed(ctx):
    tx, rx = shmring.pair("shm", capacity=4096)
    ready, release = ctx.Event(), ctx.Event()
    with rx:
        child = h.start(ctx, h.child_hold_then_linger, tx, ready, release, [rx])
        tx.close()
        assert ready.wait(30)
        killer = kill_once_parked(rx, h.DATA_WAITERS_OFFSET, child.pid)
        with pytest.raises(shmring.Closed):
            rx.recv(timeout=20)
        killer.join(10)
        assert killer.error is None
        assert time.perf_counter() - killer.ended < 2
    child.join(30)


@pytest.mark.timeout(60)
def test_blocked_send_raises_closed_soon_after_the_receiver_is_killed(ctx):
    tx, rx = shmring.pair("shm", capacity=4096)
    ready, release = ctx.Event(), ctx.Event()
    with tx:
        child = h.start(ctx, h.child_hold_then_linger, rx, ready, release, [tx])
        rx.close()
        assert ready.wait(30)
        assert h.fill(tx) > 0
        killer = kill_once_parked(tx, h.SPACE_WAITERS_OFFSET, child.pid)
        with pytest.raises(shmring.Closed):
            tx.send(h.message(0, 100), timeout=20)
        killer.join(10)
        assert killer.error is None
        assert time.perf_counter() - killer.ended < 2
    child.join(30)


# ---- named rings -----------------------------------------------------------------


@pytest.mark.timeout(60)
def test_named_ring_carries_messages_and_refuses_a_second_reader(ctx):
    address = "shm://" + h.unique_name()
    created, ready, results = ctx.Event(), ctx.Event(), ctx.Queue()
    # Started before the ring exists, the child inherits nothing: it opens by name.
    child = h.start(ctx, h.child_open_named_reader, address, created, ready, SEED, 5000, MAX_SIZE, results)
    try:
        with shmring.open(address, "w", create=True, capacity=1 << 14) as tx:
            created.set()
            assert ready.wait(30)
            with pytest.raises(shmring.InUse, match="already held by a live process"):
                shmring.open(address, "r")
            h.send_stream(tx, SEED, 5000, MAX_SIZE)
        assert results.get(timeout=30) == "ok"
        assert h.join_or_kill(child) == 0
        assert h.segment_gone(address), "both ends closed, yet the name was not unlinked"
    finally:
        shmring.unlink(address)


@pytest.mark.timeout(60)
def test_endpoint_a_child_leaves_open_is_closed_when_it_exits(ctx, monkeypatch):
    # shm.py closes every open endpoint at exit, in multiprocessing children too.
    # Were the child's receiver only abandoned, no one would make the second
    # close that unlinks the ring's name (so this takes a named pair() ring).
    monkeypatch.setattr(shm, "_SEALED_PAIRS", False)
    tx, rx = shmring.pair("shm", capacity=4096)
    address = tx.address
    try:
        child = h.start(ctx, h.child_return_without_closing, rx, [tx])
        rx.close()
        with tx:
            tx.send(b"last")
        assert h.join_or_kill(child) == 0
        assert h.segment_gone(address), "the child's receiver was abandoned at exit, not closed"
    finally:
        shmring.unlink(address)


# ---- interruptions ---------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("blocked_call", ["recv", "send"])
def test_close_from_another_thread_wakes_a_blocked_call(blocked_call):
    tx, rx = shmring.pair("shm", capacity=4096)
    with tx, rx:
        if blocked_call == "recv":
            endpoint, waiters = rx, h.DATA_WAITERS_OFFSET
            blocked = h.Background(rx.recv)
        else:
            h.fill(tx)
            endpoint, waiters = tx, h.SPACE_WAITERS_OFFSET
            blocked = h.Background(lambda: tx.send(h.message(0, 100)))
        blocked.start()
        h.wait_until_parked(endpoint, waiters)
        closed_at = time.perf_counter()
        endpoint.close()
        blocked.join(10)
        assert not blocked.is_alive(), f"{blocked_call}() still blocked 10 s after close()"
        assert isinstance(blocked.error, shmring.Closed)
        assert blocked.ended - closed_at < 1


@pytest.mark.timeout(30)
@pytest.mark.parametrize("blocked_call", ["recv", "send"])
def test_closing_the_peer_wakes_a_blocked_call(blocked_call):
    tx, rx = shmring.pair("shm", capacity=4096)
    with tx, rx:
        if blocked_call == "recv":
            peer, address, waiters = tx, rx, h.DATA_WAITERS_OFFSET
            blocked = h.Background(lambda: rx.recv(timeout=20))
        else:
            h.fill(tx)
            peer, address, waiters = rx, tx, h.SPACE_WAITERS_OFFSET
            blocked = h.Background(lambda: tx.send(h.message(0, 100), timeout=20))
        blocked.start()
        h.wait_until_parked(address, waiters)
        closed_at = time.perf_counter()
        peer.close()
        blocked.join(10)
        assert isinstance(blocked.error, shmring.Closed)
        assert blocked.ended - closed_at < 1


@pytest.mark.timeout(30)
@pytest.mark.parametrize("blocked_call", ["recv", "send"])
def test_ctrl_c_flagged_by_another_thread_interrupts_a_blocked_call(blocked_call):
    # Ctrl-C as Windows delivers it: its console handler runs on a thread of
    # its own and only flags the main thread (what _thread.interrupt_main
    # does), so the parked call must notice between two slices of its wait.
    tx, rx = shmring.pair("shm", capacity=4096)
    with tx, rx:
        filled = h.fill(tx) if blocked_call == "send" else 0
        endpoint, waiters = (tx, h.SPACE_WAITERS_OFFSET) if filled else (rx, h.DATA_WAITERS_OFFSET)

        def interrupt():
            h.wait_until_parked(endpoint, waiters)
            _thread.interrupt_main()
            return time.perf_counter()

        flagger = h.Background(interrupt)
        flagger.start()
        with pytest.raises(KeyboardInterrupt):
            if filled:
                tx.send(h.message(filled, 100), timeout=20)
            else:
                rx.recv(timeout=20)
        flagger.join(10)
        assert time.perf_counter() - flagger.result < 1, "KeyboardInterrupt came more than 1 s after Ctrl-C"
        assert [rx.recv(timeout=5) for _ in range(filled)] == [h.message(seq, 100) for seq in range(filled)]
        tx.send(b"after the interrupt", timeout=5)  # nothing half-sent, and the ring still works
        assert rx.recv(timeout=5) == b"after the interrupt"


@pytest.mark.skipif(WINDOWS, reason="Windows has no SIGINT to send to another process (Ctrl-C goes to a console's process group)")
@pytest.mark.timeout(60)
def test_ctrl_c_interrupts_a_blocked_recv_and_the_channel_stays_usable(ctx):
    tx, rx = shmring.pair("shm", capacity=4096)
    ready, interrupted, results = ctx.Event(), ctx.Event(), ctx.Queue()
    with tx:
        child = h.start(ctx, h.child_interrupted_recv, rx, ready, interrupted, results, [tx])
        rx.close()
        assert ready.wait(30)
        h.wait_until_parked(tx, h.DATA_WAITERS_OFFSET)
        os.kill(child.pid, signal.SIGINT)
        assert interrupted.wait(2), "no KeyboardInterrupt from the blocked recv() within 2 s of SIGINT"
        tx.send(b"after the interrupt")
        assert results.get(timeout=30) == "ok"
    assert h.join_or_kill(child) == 0


@pytest.mark.skipif(WINDOWS, reason="Windows has no SIGINT to send to another process (Ctrl-C goes to a console's process group)")
@pytest.mark.timeout(60)
def test_ctrl_c_interrupts_a_blocked_send_which_sends_nothing(ctx):
    tx, rx = shmring.pair("shm", capacity=4096)
    ready, interrupted, results = ctx.Event(), ctx.Event(), ctx.Queue()
    with rx:
        child = h.start(ctx, h.child_interrupted_send, tx, ready, interrupted, results, [rx])
        tx.close()
        filled = results.get(timeout=30)
        assert ready.wait(30)
        h.wait_until_parked(rx, h.SPACE_WAITERS_OFFSET)
        os.kill(child.pid, signal.SIGINT)
        assert interrupted.wait(2), "no KeyboardInterrupt from the blocked send() within 2 s of SIGINT"
        assert [rx.recv(timeout=30) for _ in range(filled)] == [h.message(seq, 100) for seq in range(filled)]
        assert rx.recv(timeout=30) == b"after the interrupt"
        assert results.get(timeout=30) == "ok"
        with pytest.raises(shmring.Closed):
            rx.recv(timeout=30)
    assert h.join_or_kill(child) == 0


# ---- wake-ups ----------------------------------------------------------------------
# With spin_us=0 every wait parks on the futex at once. A lost wake-up is not
# a hang (a sleeper re-checks every 50 ms slice) but a stall of up to 50 ms,
# where a round trip normally takes microseconds. Up to 1% of stalls are
# tolerated: the machine is shared and the scheduler may pause us, while a
# broken wake-up protocol loses far more than that.

STALL = 0.04
TOLERATED = 0.01


@pytest.mark.timeout(60)
def test_a_parked_receiver_is_woken_promptly(ctx):
    to_child, from_parent = shmring.pair("shm", capacity=4096, spin_us=0)
    to_parent, from_child = shmring.pair("shm", capacity=4096, spin_us=0)
    child = h.start(ctx, h.child_echo, from_parent, to_parent, [to_child, from_child])
    from_parent.close()
    to_parent.close()
    stalls = []
    with to_child, from_child:
        to_child.send(b"warm-up")
        assert from_child.recv(timeout=30) == b"warm-up"
        for seq in range(3000):
            msg = h.message(seq, seq % 200)
            start = time.perf_counter()
            to_child.send(msg, timeout=30)
            assert from_child.recv(timeout=30) == msg
            if time.perf_counter() - start > STALL:
                stalls.append(seq)
    assert h.join_or_kill(child) == 0
    assert len(stalls) <= 3000 * TOLERATED, f"round trips {stalls[:10]} of 3000 stalled > {STALL} s: lost wake-ups?"


@pytest.mark.timeout(60)
def test_a_parked_sender_is_woken_promptly(ctx):
    tx, rx = shmring.pair("shm", capacity=1024, spin_us=0)
    count, max_size = 20_000, 400  # the ring holds two to a hundred messages: the sender waits often
    with rx:
        child = h.start(ctx, h.child_send_stream, tx, SEED, count, max_size, [rx])
        tx.close()
        sizes = list(h.message_sizes(SEED, count, max_size))
        assert rx.recv(timeout=30) == h.message(0, sizes[0])
        stalls, last = [], time.perf_counter()
        for seq in range(1, count):
            assert rx.recv(timeout=30) == h.message(seq, sizes[seq])
            now = time.perf_counter()
            if now - last > STALL:
                stalls.append(seq)
            last = now
    assert h.join_or_kill(child) == 0
    assert len(stalls) <= count * TOLERATED, f"messages {stalls[:10]} of {count} arrived after a stall > {STALL} s: lost wake-ups?"
