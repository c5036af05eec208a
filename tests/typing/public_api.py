"""The public API as a user's type checker sees it.

tools/check_types.sh installs shmring as a user would (py.typed included) and
runs `mypy --strict` on this file: every assert_type must hold, and every
`type: ignore[...]` must be needed (strict mode reports unused ones), so a
missing or wrong annotation in the API fails the check either way.

Not a test module (pytest collects only test_*.py), and it does nothing when
imported: each use of the API sits in a function that is never called.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type

import shmring
from shmring import Receiver, Sender


def anonymous_pair() -> None:
    tx, rx = shmring.pair("shm", capacity=1 << 20, spin_us=50)
    assert_type(tx, Sender)
    assert_type(rx, Receiver)
    assert_type(shmring.pair("pipe"), tuple[Sender, Receiver])
    assert_type(shmring.pair(), tuple[Sender, Receiver])

    tx.send(b"hello")
    tx.send(bytearray(b"hello"), timeout=0)
    tx.send(memoryview(b"hello"), timeout=1.5)
    tx.send_many([b"a", bytearray(b"b"), memoryview(b"c")], timeout=None)
    assert_type(tx.max_message_size, int)
    assert_type(tx.closed, bool)
    assert_type(tx.address, str)

    assert_type(rx.recv(), bytes)
    assert_type(rx.recv(timeout=0), bytes)
    assert_type(rx.recv_into(bytearray(64), timeout=2), int)
    assert_type(rx.recv_many(16), list[bytes])
    assert_type(iter(rx), Iterator[bytes])
    for message in rx:
        assert_type(message, bytes)

    with tx as sender, rx as receiver:
        assert_type(sender, Sender)
        assert_type(receiver, Receiver)
    tx.close()
    rx.close()

    # What the API does not allow, a type checker does not either.
    tx.send("text")  # type: ignore[arg-type]
    tx.send(b"x", 1.0)  # type: ignore[call-arg]
    rx.send(b"x")  # type: ignore[attr-defined]
    tx.recv()  # type: ignore[attr-defined]


def named_channels(direction: str) -> None:
    w = shmring.open("shm://orders", "w", create=True, capacity=1 << 20)
    assert_type(w, Sender)
    r = shmring.open("shm://orders", "r")
    assert_type(r, Receiver)
    # Sharing between users: permissions (and group) at create, trust at open.
    assert_type(shmring.open("shm://shared", "w", create=True, permissions=0o660, group="staff"), Sender)
    assert_type(shmring.open("shm://shared", "r", trust_owner="alice", trust_group=20), Receiver)
    assert_type(shmring.open("tcp://127.0.0.1:5000", "r", create=True), Receiver)
    # A direction known only at run time gives either end.
    assert_type(shmring.open("unix:///tmp/orders", direction), Sender | Receiver)
    assert_type(shmring.unlink("shm://orders"), None)


def errors() -> None:
    try:
        shmring.open("shm://orders", "r").recv(timeout=1)
    except shmring.Timeout as e:
        assert_type(e.sent, int)
    except shmring.BufferTooSmall as e:
        assert_type(e.needed, int)
    except shmring.ChannelError as e:
        assert_type(e, shmring.ChannelError)

    # The hierarchy: one base, and the builtin each error also is.
    errors: list[shmring.ChannelError] = [
        shmring.Timeout("t"),
        shmring.Closed("c"),
        shmring.MessageTooLarge("m"),
        shmring.BufferTooSmall("b", needed=10),
        shmring.Corrupt("x"),
        shmring.NotFound("n"),
        shmring.AlreadyExists("a"),
        shmring.IncompatibleVersion("v"),
        shmring.InUse("u"),
        shmring.ForeignSegment("f"),
    ]
    timeout: TimeoutError = shmring.Timeout("t")
    too_large: ValueError = shmring.MessageTooLarge("m")
    too_small: ValueError = shmring.BufferTooSmall("b", 10)
    missing: FileNotFoundError = shmring.NotFound("n")
    exists: FileExistsError = shmring.AlreadyExists("a")
    foreign: PermissionError = shmring.ForeignSegment("f")
    del errors, timeout, too_large, too_small, missing, exists, foreign


def version() -> None:
    assert_type(shmring.__version__, str)
