"""Exceptions raised by signal handlers never lose or duplicate a message.

A storm of signals (a 200 us interval timer on POSIX; on Windows
interrupt_main from a thread, the way Ctrl-C arrives there) hits one side of
a channel while it moves numbered messages to or from a child process. The
handler raises whenever the signal lands in shmring's code; the loop catches
and goes on. Each received message must be the next one, and each send must
say whether it went (``sent``).

CPython also runs handlers in the caller's own frame, right after a call
returns and before the caller stores its result. No library can guard that
frame, so there the handler does not raise (README: "Reliability").
"""

import _thread
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager

import pytest

import shmring
from tests import interrupt_children as children
from tests.platform_support import WINDOWS

WAIT = 30.0
COUNT = 20_000
SHAPES = {
    "spsc": ("shm", {"capacity": 1 << 14}),
    "mpmc": ("shm", {"mode": "mpmc", "slots": 16, "slot_size": 256}),
    "pipe": ("pipe", {}),
    "socket": ("socket", {}),
    "queue": ("queue", {"maxsize": 64}),
}


def _pair(shape):
    kind, options = SHAPES[shape]
    return shmring.pair(kind, **options)


# Fewer, and the storm proved little. Windows: an interrupt from another thread
# lands only when that thread holds the GIL, far less often than a timer signal.
ENOUGH_INTERRUPTS = 1 if WINDOWS else 50

# SHMRING_STORM_US=30 for a denser storm (a longer run: handlers also land inside the recovery)
STORM_S = float(os.environ.get("SHMRING_STORM_US", "200")) / 1e6

# The storm's timer raises SIGALRM, which pytest-timeout's signal method uses too: a thread watches instead.
pytestmark = [
    pytest.mark.timeout(120, method="thread"),
    pytest.mark.skipif(
        sys.version_info < (3, 11),
        reason="CPython 3.10 still loses about 1 message in 10,000 to this storm, on every transport (a place "
               "where 3.10 runs handlers that these calls do not cover yet; README: Reliability)"),
]


class Interrupted(Exception):
    """What the storm's signal handler raises."""


def _in_shmring(frame) -> bool:
    return frame is not None and frame.f_globals.get("__name__", "").startswith("shmring")


@contextmanager
def interrupt_storm(every_s: float = STORM_S):
    """Signals every ``every_s`` whose handler raises Interrupted inside shmring; yields [count raised]."""
    raised, active = [0], [True]

    def handler(signum, frame):
        if active[0] and _in_shmring(frame):
            raised[0] += 1
            raise Interrupted

    if WINDOWS:  # no timer signals: trip SIGINT's handler from a thread, as Ctrl-C does
        previous = signal.signal(signal.SIGINT, handler)
        stop = threading.Event()

        def storm():  # as often as the thread gets the GIL: Windows' timed waits last a 15.6 ms tick
            while not stop.is_set():
                _thread.interrupt_main()
                time.sleep(0)

        thread = threading.Thread(target=storm, daemon=True)
        thread.start()
        try:
            yield raised
        finally:
            active[0] = False
            stop.set()
            thread.join()
            signal.signal(signal.SIGINT, previous)
        return
    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, every_s, every_s)
    try:
        yield raised
    finally:
        active[0] = False  # first: a signal still on its way raises nothing from here on
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _start(target, *args):
    child = mp.get_context("spawn").Process(target=target, args=args, daemon=True)
    child.start()
    return child


def _receive_under_storm(rx, take) -> tuple[list, int]:
    """Call ``take(got)`` (it appends what it receives to got) until Closed, through a storm."""
    got = []
    with interrupt_storm() as raised:
        while True:
            try:
                take(got)
            except shmring.Closed:
                break
            except Interrupted:
                pass
    return got, raised[0]


def _ways_to_receive(rx):
    buf = bytearray(rx.max_message_size)

    def by_recv_into(got):
        n = rx.recv_into(buf, timeout=WAIT)
        got.append(bytes(buf[:n]))

    def by_iteration(got):
        for msg in rx:
            got.append(msg)
        raise shmring.Closed("the iteration ended")

    return {
        "recv": lambda got: got.append(rx.recv(timeout=WAIT)),
        "recv_into": by_recv_into,
        "recv_many": lambda got: got.extend(rx.recv_many(64, timeout=WAIT)),
        "iteration": by_iteration,
    }


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("how", ["recv", "recv_into", "recv_many", "iteration"])
def test_a_receiver_under_a_signal_storm_gets_every_message_once_in_order(shape, how):
    tx, rx = _pair(shape)
    child = _start(children.send_numbered, tx, COUNT)
    tx.close()
    with rx:
        got, interrupts = _receive_under_storm(rx, _ways_to_receive(rx)[how])
    child.join(WAIT)
    numbers = [children.number_of(m) for m in got]
    assert numbers == list(range(COUNT)), _first_break(numbers)
    assert interrupts >= ENOUGH_INTERRUPTS


def _first_break(numbers) -> str:
    for i, n in enumerate(numbers):
        if n != i:
            return f"{len(numbers)} messages; at position {i} came {n} (lost or duplicated)"
    return f"{len(numbers)} messages of {COUNT}: the last ones are missing"


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("how", ["send", "send_many"])
def test_a_sender_under_a_signal_storm_knows_what_it_sent(shape, how):
    tx, rx = _pair(shape)
    results = mp.get_context("spawn").SimpleQueue()
    child = _start(children.receive_numbered, rx, results)
    rx.close()
    seq = 0
    with tx, interrupt_storm() as raised:
        while seq < COUNT:
            try:
                if how == "send":
                    tx.send(children.message(seq), timeout=WAIT)
                    seq += 1
                else:
                    batch = [children.message(s) for s in range(seq, min(seq + 50, COUNT))]
                    tx.send_many(batch, timeout=WAIT)
                    seq += len(batch)
            except Interrupted as e:
                # none: raised as send began; the rest did not go: send them again
                seq += getattr(e, "sent", 0)
    received, error = results.get()
    child.join(WAIT)
    assert error is None
    assert received == COUNT
    assert raised[0] >= ENOUGH_INTERRUPTS
