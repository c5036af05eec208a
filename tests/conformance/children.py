"""What the child processes of the conformance tests run, and the messages they exchange.

Spawned children import this module by name (tests.conformance.children),
so everything a child runs lives here, at module level. Children report to
the parent through a multiprocessing Connection (``report``) and say they
are ready through an Event; nobody sleeps to wait for anyone.
"""

from __future__ import annotations

import hashlib
import itertools
import random

import shmring

WAIT = 20.0  # seconds any single wait of a child may take before it counts as hung

_PATTERN = random.Random(1234).randbytes(1 << 17)


def message(seq: int, size: int) -> bytes:
    """Message number ``seq``: its number, then bytes that depend on it (sizes below 8 cut the number)."""
    head = seq.to_bytes(8, "little")
    offset = (seq * 7919) % (len(_PATTERN) // 2)
    body = head + _PATTERN[offset:offset + max(0, size - 8)]
    return body[:size]


def seq_of(msg: bytes) -> int:
    return int.from_bytes(msg[:8], "little")


def digest(data: bytes) -> tuple[int, str]:
    return len(data), hashlib.blake2b(data, digest_size=16).hexdigest()


def outcome(error: BaseException) -> str:
    """How a child reports how its loop ended."""
    return type(error).__name__


# ---- children ---------------------------------------------------------------------


def digest_all(rx, report) -> None:
    """Receive until Closed; for each ("expect", k) from the parent, report the digests of k messages."""
    while True:
        command = report.recv()
        if command[0] == "expect":
            report.send([digest(rx.recv(timeout=WAIT)) for _ in range(command[1])])
        else:  # "end": the parent closed its sender
            try:
                rx.recv(timeout=WAIT)
                report.send("a message after the end")
            except shmring.ChannelError as e:
                report.send(outcome(e))
            return


def send_until_killed(tx, enough, count_before_signal: int, sizes) -> None:
    """Send numbered messages for ever; set ``enough`` once the first ``count_before_signal`` returned
    and a send found the channel full (it then waits for room: the kill lands in a blocked send)."""
    for seq in itertools.count():
        data = message(seq, sizes[seq % len(sizes)])
        if seq < count_before_signal:
            tx.send(data, timeout=WAIT)
            continue
        try:
            tx.send(data, timeout=0)
        except shmring.Timeout:
            enough.set()
            tx.send(data, timeout=WAIT)


def recv_until_killed(rx, ready) -> None:
    """Say ready, then wait in recv (the parent kills this process)."""
    ready.set()
    rx.recv(timeout=WAIT)


def recv_through_ctrl_c(rx, ready, report) -> None:
    """Block in recv until SIGINT; report KeyboardInterrupt, then what the channel delivers next."""
    ready.set()
    try:
        rx.recv(timeout=WAIT)
        report.send("recv returned")
    except KeyboardInterrupt:
        report.send("KeyboardInterrupt")
    report.send(rx.recv(timeout=WAIT))


def send_through_ctrl_c(tx, ready, report, size: int) -> None:
    """Send until blocked on a full channel, then until SIGINT; report it and how many sends returned."""
    seq = 0
    try:
        while True:
            try:
                tx.send(message(seq, size), timeout=0)
            except shmring.Timeout:
                ready.set()  # full: this send blocks (TCP may make room again; then we fill it again)
                tx.send(message(seq, size), timeout=WAIT)
            seq += 1
    except KeyboardInterrupt:
        report.send(("KeyboardInterrupt", seq))
    tx.send(b"after", timeout=WAIT)
    tx.close()


def echo(rx, tx, count=None) -> None:
    """Send back what arrives: ``count`` messages, or until Closed; then close ``tx``."""
    try:
        for _ in itertools.count() if count is None else range(count):
            tx.send(rx.recv(timeout=WAIT), timeout=WAIT)
    except shmring.Closed:
        pass
    tx.close()
    rx.close()


def receive_all(rx):
    """Every message until an error: (messages, the error)."""
    received = []
    while True:
        try:
            received.append(rx.recv(timeout=WAIT))
        except shmring.ChannelError as e:
            return received, e


def send_then_exit_unclosed(tx, size: int, report) -> None:
    """Send one message with a short timeout and return without closing
    ``tx``: closing at exit must finish whatever send() accepted."""
    try:
        tx.send(message(0, size), timeout=0.2)
        report.send("sent")
    except shmring.Timeout:
        report.send("Timeout")
