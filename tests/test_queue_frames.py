"""The queue transport's receiver reads multiprocessing.Queue's pipe one frame
at a time (transports/_queue_frames.py): a frame cut short by a timeout or by
a signal handler's exception keeps what was read and the queue's read lock,
so no message is lost and no other receiver reads the middle of one.

The tests write frames into the queue's pipe by hand, as multiprocessing's
feeder thread does, to stop in the middle of one."""

import multiprocessing.connection
import os
import pickle
import signal
import struct

import pytest

import shmring
import shmring.transports.queue as queue_transport
from tests.platform_support import WINDOWS

pytestmark = [
    pytest.mark.skipif(WINDOWS, reason="the queue's pipe on Windows is a message-mode named pipe: no partial frames"),
    pytest.mark.timeout(60, method="thread"),
]

SHORT = 0.05


def frame(obj) -> bytes:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return struct.pack("!i", len(payload)) + payload


class Pipe:
    """The queue's pipe, written by hand: each frame begun takes a place, as Queue.put does."""

    def __init__(self, tx):
        self._fd = tx._queue._writer.fileno()
        self._places = tx._queue._sem

    def write(self, data: bytes, frames_begun: int = 0) -> None:
        for _ in range(frames_begun):
            self._places.acquire()
        os.write(self._fd, data)


def second_receiver(rx):
    """Another copy of the receiving end, with its own descriptor, as a child process would hold."""
    holder = queue_transport.me()
    rx._receivers.add(holder)
    reader = multiprocessing.connection.Connection(os.dup(rx._reader.fileno()), writable=False)
    return queue_transport.QueueReceiver(reader, rx._rlock, rx._slots, rx._receivers, rx.max_message_size, holder)


def cut_frame(rx, pipe, whole: bytes, at: int) -> None:
    """Write the first ``at`` bytes of the frame ``whole``; rx's recv times out in the middle of it."""
    pipe.write(whole[:at], 1)
    with pytest.raises(shmring.Timeout):
        rx.recv(timeout=SHORT)


@pytest.fixture
def queue():
    tx, rx = shmring.pair("queue", max_message_size=1 << 20)
    with tx, rx:
        yield tx, rx, Pipe(tx)


def test_a_frame_cut_by_a_timeout_is_finished_by_the_next_call(queue):
    tx, rx, pipe = queue
    whole = frame(b"x" * 1000)
    for cut in (2, 4, 5, 600):
        cut_frame(rx, pipe, whole, cut)
        pipe.write(whole[cut:])
        assert rx.recv(timeout=SHORT) == b"x" * 1000


def test_while_a_frame_is_cut_the_other_receivers_wait_for_the_lock(queue):
    tx, rx, pipe = queue
    other = second_receiver(rx)
    whole = frame(b"first")
    cut_frame(rx, pipe, whole, 6)
    pipe.write(whole[6:] + frame(b"second"), 1)
    with pytest.raises(shmring.Timeout, match="another receiver"):
        other.recv(timeout=SHORT)  # it would read the middle of "first" as a frame's start
    assert rx.recv(timeout=SHORT) == b"first"
    with other:
        assert other.recv(timeout=SHORT) == b"second"


def test_close_finishes_a_cut_frame_so_the_other_receivers_go_on(queue):
    tx, rx, pipe = queue
    other = second_receiver(rx)
    whole = frame(b"dropped by close")
    cut_frame(rx, pipe, whole, 7)
    pipe.write(whole[7:])
    tx.send(b"next")
    rx.close()
    with other:
        assert other.recv(timeout=5) == b"next"


def test_a_signal_handler_raising_mid_frame_loses_nothing(queue):
    tx, rx, pipe = queue

    class Interrupted(Exception):
        pass

    def handler(signum, frame_):
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        whole = frame(b"y" * 5000)
        pipe.write(whole[:100], 1)
        signal.setitimer(signal.ITIMER_REAL, SHORT)
        with pytest.raises(Interrupted):
            rx.recv(timeout=5)  # waits for the rest of the frame: the handler raises there
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    pipe.write(whole[100:])
    assert rx.recv(timeout=SHORT) == b"y" * 5000


def test_a_frame_of_something_else_than_bytes_is_dropped_with_corrupt(queue):
    tx, rx, pipe = queue
    pipe.write(frame({"not": "bytes"}), 1)
    tx.send(b"after")
    with pytest.raises(shmring.Corrupt, match="dict"):
        rx.recv(timeout=5)
    assert rx.recv(timeout=5) == b"after"


@pytest.mark.parametrize("length", [-2, 1 << 30])
def test_a_length_no_sender_writes_is_corrupt(queue, length):
    tx, rx, pipe = queue
    pipe.write(struct.pack("!i", length), 1)
    with pytest.raises(shmring.Corrupt, match="announces"):
        rx.recv(timeout=5)


def test_recv_into_a_small_buffer_keeps_the_message(queue):
    tx, rx, pipe = queue
    tx.send(b"z" * 100)
    with pytest.raises(shmring.BufferTooSmall):
        rx.recv_into(bytearray(10), timeout=5)
    buf = bytearray(100)
    assert rx.recv_into(buf, timeout=5) == 100
    assert buf == b"z" * 100


def test_a_bounded_queue_gets_its_places_back(queue):
    tx, rx = shmring.pair("queue", maxsize=2)
    with tx, rx:
        for round_ in range(5):  # a place lost per message would fill it in the first round
            tx.send(b"a", timeout=5)
            tx.send(b"b", timeout=5)
            with pytest.raises(shmring.Timeout):
                tx.send(b"c", timeout=SHORT)
            assert rx.recv_many(10, timeout=5) == [b"a", b"b"]
