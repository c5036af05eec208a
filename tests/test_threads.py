"""Several threads on one endpoint: the second call raises ConcurrentUse, and
nothing is ever damaged, lost or duplicated (README: "Reliability").

cffi releases the GIL in every blocking call, so two threads inside one
endpoint is one missing lock away for any user; these tests make it happen
on purpose: a small ring, so senders wait for room with the GIL released.
"""

import threading
import time

import pytest

import shmring
from tests import interrupt_children as numbered

SHAPES = {
    "spsc": ("shm", {"capacity": 1 << 12}),
    "mpmc": ("shm", {"mode": "mpmc", "slots": 4, "slot_size": 256}),
    "pipe": ("pipe", {}),
    "socket": ("socket", {}),
    "queue": ("queue", {"maxsize": 4}),
}


def _pair(shape):
    kind, options = SHAPES[shape]
    return shmring.pair(kind, **options)
PER_THREAD = 2_000
WAIT = 30.0

pytestmark = pytest.mark.timeout(120)


def _run(threads):
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive(), "a thread hung"


@pytest.mark.parametrize("shape", SHAPES)
def test_two_threads_sending_on_one_sender_never_damage_a_message(shape):
    tx, rx = _pair(shape)
    refused, sent, got = [0, 0], [[], []], []

    def send_all(i):
        for k in range(PER_THREAD):
            seq = i * PER_THREAD + k
            while True:
                try:
                    tx.send(numbered.message(seq), timeout=WAIT)
                    sent[i].append(seq)
                    break
                except shmring.ConcurrentUse as e:
                    assert e.sent == 0
                    refused[i] += 1
                    time.sleep(0)  # give the GIL back, or the holder waits a switch interval (5 ms) for it

    def receive_all():
        for _ in range(2 * PER_THREAD):
            got.append(numbered.number_of(rx.recv(timeout=WAIT)))

    with tx, rx:
        _run([threading.Thread(target=send_all, args=(0,)), threading.Thread(target=send_all, args=(1,)),
              threading.Thread(target=receive_all)])
    assert sorted(got) == sorted(sent[0] + sent[1]) == list(range(2 * PER_THREAD))
    for i in (0, 1):  # each thread's messages in the order it sent them
        assert [s for s in got if s // PER_THREAD == i] == sent[i]
    assert sum(refused) > 0, "the threads never met: the test proved nothing"


@pytest.mark.parametrize("shape", SHAPES)
def test_two_threads_receiving_on_one_receiver_get_each_message_once(shape):
    tx, rx = _pair(shape)
    count = 2 * PER_THREAD
    refused, got = [0, 0], [[], []]
    done = threading.Event()

    def receive(i):
        buf = bytearray(rx.max_message_size)
        while not done.is_set():
            try:
                if i == 0:
                    got[i].append(numbered.number_of(rx.recv(timeout=0.05)))
                else:
                    n = rx.recv_into(buf, timeout=0.05)
                    got[i].append(numbered.number_of(bytes(buf[:n])))
            except shmring.Timeout:
                pass
            except shmring.ConcurrentUse:
                refused[i] += 1
                time.sleep(0)  # give the GIL back, or the holder waits a switch interval (5 ms) for it
            if len(got[0]) + len(got[1]) == count:
                done.set()

    def send_all():
        for seq in range(count):
            tx.send(numbered.message(seq), timeout=WAIT)

    with tx, rx:
        _run([threading.Thread(target=receive, args=(0,)), threading.Thread(target=receive, args=(1,)),
              threading.Thread(target=send_all)])
    assert sorted(got[0] + got[1]) == list(range(count))
    assert got[0] == sorted(got[0]) and got[1] == sorted(got[1])
    assert sum(refused) > 0, "the threads never met: the test proved nothing"


def test_a_call_while_another_waits_raises_concurrent_use_and_changes_nothing():
    tx, rx = shmring.pair()
    with tx, rx:
        got = []
        waiting = threading.Thread(target=lambda: got.append(rx.recv(timeout=WAIT)))
        waiting.start()
        for _ in range(10_000):  # until the thread is inside recv (it gives the GIL up to wait)
            try:
                rx.recv(timeout=0)
            except shmring.ConcurrentUse as e:
                assert "one call at a time" in str(e) and "own endpoint" in str(e) and "lock" in str(e)
                assert isinstance(e, RuntimeError)
                break
            except shmring.Timeout:
                time.sleep(0)  # let the thread run into its recv
        else:
            pytest.fail("the waiting thread never got into recv")
        for call in (lambda: rx.recv_many(4, timeout=0), lambda: rx.recv_into(bytearray(8), timeout=0)):
            with pytest.raises(shmring.ConcurrentUse):
                call()
        tx.send(b"for the waiting thread")
        waiting.join(WAIT)
        assert got == [b"for the waiting thread"]
        tx.send(b"still fine")
        assert rx.recv(timeout=WAIT) == b"still fine"
