"""Ctrl-C (SIGINT) in a blocked call raises KeyboardInterrupt promptly; the channel still works after."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal

import pytest

import shmring
from tests.conformance import children
from tests.conformance.children import WAIT, message, receive_all
from tests.conformance.processes import assert_exits_cleanly, running, wait_until_blocked
from tests.platform_support import WINDOWS

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(
        WINDOWS, reason="Windows has no SIGINT to send to another process (Ctrl-C goes to a console's process group)"
    ),
]


def test_ctrl_c_in_recv(transport):
    tx, rx = transport.make()
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    report, child_report = ctx.Pipe()
    with running(ctx, children.recv_through_ctrl_c, rx, ready, child_report, hand_over=(rx,)) as child:
        assert ready.wait(WAIT)
        wait_until_blocked(child.pid)
        os.kill(child.pid, signal.SIGINT)
        assert report.poll(2), "no answer within 2 s of Ctrl-C"
        assert report.recv() == "KeyboardInterrupt"
        tx.send(b"after Ctrl-C", timeout=WAIT)
        assert report.poll(WAIT)
        assert report.recv() == b"after Ctrl-C"
        assert_exits_cleanly(child)


def test_ctrl_c_in_send(transport):
    tx, rx = transport.make()
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    report, child_report = ctx.Pipe()
    size = 1000
    with running(ctx, children.send_through_ctrl_c, tx, ready, child_report, size, hand_over=(tx,)) as child:
        assert ready.wait(WAIT)
        wait_until_blocked(child.pid)
        os.kill(child.pid, signal.SIGINT)
        assert report.poll(2), "no answer within 2 s of Ctrl-C"
        what, returned = report.recv()
        assert what == "KeyboardInterrupt"
        received, ending = receive_all(rx)
        assert_exits_cleanly(child)
    assert isinstance(ending, shmring.Closed)
    assert received[-1] == b"after"
    # Every send that returned arrives. On a byte stream, a message whose first
    # byte was out when Ctrl-C came is finished and arrives too (its send raised
    # KeyboardInterrupt but had committed it); elsewhere an interrupted send sends nothing.
    arrived = received[:-1]
    extra = (0, 1) if transport.spec.byte_stream else (0,)
    assert len(arrived) - returned in extra
    assert arrived == [message(i, size) for i in range(len(arrived))]
