"""The other side of tests/test_interrupts.py (importable under spawn): plain
numbered traffic, so the interrupted side can be checked message by message."""

import struct

SEQ = struct.Struct("<Q")


def message(seq: int) -> bytes:
    """Message seq: its number, then 0-200 bytes that depend on it."""
    return SEQ.pack(seq) + bytes([seq & 0xFF]) * (seq * 7 % 201)


def number_of(msg: bytes) -> int:
    """The number of an intact message; AssertionError for a damaged one."""
    seq = SEQ.unpack_from(msg)[0]
    assert msg == message(seq), f"message {seq} arrived damaged"
    return seq


def send_numbered(tx, count: int) -> None:
    with tx:
        for seq in range(count):
            tx.send(message(seq))


def receive_numbered(rx, results) -> None:
    """Receive until Closed; report how many arrived and the first break of the sequence."""
    expected, error = 0, None
    with rx:
        for msg in rx:
            seq = number_of(msg)
            if seq != expected and error is None:
                error = f"message {seq} arrived where {expected} was due"
            expected = seq + 1
    results.put((expected, error))
