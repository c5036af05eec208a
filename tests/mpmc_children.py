"""What the child processes of tests/test_shm_mpmc.py do (importable under spawn)."""

import threading
import struct
from array import array


# (producer id, sequence number, checksum), then padding up to the size asked for
HEADER = struct.Struct("<IQQ")
_MIX = 0x9E3779B97F4A7C15


def checksum(producer: int, seq: int, size: int) -> int:
    return ((seq * _MIX) ^ (producer << 48) ^ size) & 0xFFFFFFFFFFFFFFFF


def message(producer: int, seq: int, size: int) -> bytes:
    head = HEADER.pack(producer, seq, checksum(producer, seq, size))
    fill = bytes([(producer * 31 + seq) & 0xFF]) * (size - HEADER.size)
    return head + fill


def check(msg: bytes) -> tuple[int, int]:
    """(producer, seq) of an intact message; AssertionError otherwise."""
    producer, seq, check_value = HEADER.unpack_from(msg)
    assert check_value == checksum(producer, seq, len(msg)), f"damaged message {producer}/{seq}"
    assert msg[HEADER.size:] == bytes([(producer * 31 + seq) & 0xFF]) * (len(msg) - HEADER.size)
    return producer, seq


def produce(tx, producer: int, count: int, sizes: tuple[int, int]) -> None:
    lo, hi = sizes
    send = tx.send
    for seq in range(count):
        send(message(producer, seq, lo + (seq * 7 + producer) % (hi - lo + 1)))
    tx.close()


def consume(rx, producers: int, results) -> None:
    """Receive until Closed; check order per producer; report the sequence numbers seen."""
    seen = [array("Q") for _ in range(producers)]
    last = [-1] * producers
    for msg in rx:
        producer, seq = check(msg)
        assert seq > last[producer], f"producer {producer}: {seq} after {last[producer]}"
        last[producer] = seq
        seen[producer].append(seq)
    rx.close()
    results.put([s.tobytes() for s in seen])


def hold_then_die(end, ready) -> None:
    """Open an end (registering this process as its holder), say so, wait to be killed."""
    ready.set()
    threading.Event().wait()  # until killed (signal.pause does not exist on Windows)


def send_forever(tx, producer: int, ready) -> None:
    """Send numbered messages until killed (a SIGKILL lands anywhere, mid-claim included)."""
    seq = 0
    ready.set()
    while True:
        tx.send(message(producer, seq, 48))
        seq += 1


def receive_and_record(rx, seen, count, ready) -> None:
    """Receive until killed, writing each (producer, seq) down as it arrives."""
    ready.set()
    while True:
        producer, seq = check(rx.recv())
        i = count.value
        seen[i] = producer << 32 | seq
        count.value = i + 1
