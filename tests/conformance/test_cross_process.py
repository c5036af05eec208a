"""Messages cross a real process boundary intact; endpoints work in spawned and forked children."""

from __future__ import annotations

import multiprocessing as mp
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shmring
from tests.conformance import children
from tests.conformance.children import WAIT, digest, message
from tests.conformance.processes import assert_exits_cleanly, running
from tests.platform_support import start_method_params


@pytest.mark.timeout(90)
def test_generated_sequences_arrive_whole_and_in_order_in_a_spawned_child(transport):
    tx, rx = transport.make()
    ctx = mp.get_context("spawn")
    control, child_control = ctx.Pipe()
    with running(ctx, children.digest_all, rx, child_control, hand_over=(rx, child_control)) as child:
        _check_sequences(tx, control)
        tx.close()
        control.send(("end",))
        assert control.recv() == "Closed"
        assert_exits_cleanly(child)


def _check_sequences(tx, control):
    top = tx.max_message_size
    size = st.one_of(st.sampled_from([0, 1, 7, 8, 9, top - 1, top]), st.integers(0, 300), st.integers(0, top))
    batch = st.lists(st.tuples(size, st.integers(0, 2**32)), max_size=24)

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(batch)
    def check(batch):
        messages = [random.Random(seed).randbytes(n) for n, seed in batch]
        control.send(("expect", len(messages)))
        for m in messages:
            tx.send(m, timeout=WAIT)
        assert control.recv() == [digest(m) for m in messages]

    check()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", start_method_params())
def test_children_use_their_copies_after_the_parent_closed_its_own(transport, method):
    to_child, child_in = transport.make()
    child_out, from_child = transport.make()
    ctx = mp.get_context(method)
    count = 30
    # A forked child also inherits copies of the parent's ends (as with
    # multiprocessing.Pipe), so its input channel never closes while it runs:
    # it echoes a known number of messages.
    with running(ctx, children.echo, child_in, child_out, count, hand_over=(child_in, child_out)) as child:
        messages = [message(i, (i * 997) % 2000) for i in range(count)]
        for m in messages:
            to_child.send(m, timeout=WAIT)
        assert [from_child.recv(timeout=WAIT) for _ in messages] == messages
        with pytest.raises(shmring.Closed):  # the child closed the last copy of child_out
            from_child.recv(timeout=WAIT)
        assert_exits_cleanly(child)


@pytest.mark.timeout(60)
def test_the_receiver_gets_closed_when_the_last_copy_of_the_sender_closes(transport):
    to_child, child_in = transport.make()
    child_out, from_child = transport.make()
    ctx = mp.get_context("spawn")
    # The child echoes until Closed.
    with running(ctx, children.echo, child_in, child_out, hand_over=(child_in, child_out)) as child:
        to_child.send(b"ping", timeout=WAIT)
        assert from_child.recv(timeout=WAIT) == b"ping"
        to_child.close()  # the last copy: the child's recv gets Closed, so it closes child_out
        with pytest.raises(shmring.Closed):
            from_child.recv(timeout=WAIT)
        assert_exits_cleanly(child)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", start_method_params())
def test_a_message_a_child_sent_before_exiting_unclosed_arrives_whole(transport, method):
    # Larger than a pipe or socket buffer, so that a stream sender keeps the
    # rest as a pending tail, which only the close at the child's exit writes.
    tx, rx = transport.make()
    size = min(tx.max_message_size, 1 << 20)
    ctx = mp.get_context(method)
    control, child_control = ctx.Pipe()
    with running(ctx, children.send_then_exit_unclosed, tx, size, child_control,
                 hand_over=(tx, child_control)) as child:
        assert control.poll(WAIT)
        if control.recv() == "sent":
            assert rx.recv(timeout=WAIT) == message(0, size)
        with pytest.raises(shmring.Closed):
            rx.recv(timeout=WAIT)
        assert_exits_cleanly(child)
