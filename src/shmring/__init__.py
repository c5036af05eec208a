"""shmring: move messages between processes through lock-free shared-memory rings.

    tx, rx = shmring.pair("shm", capacity=1 << 20)
    tx.send(b"hello")
    rx.recv()  # b"hello"
"""

from ._version import __version__ as __version__  # re-exported (for type checkers too)
from .channel import (
    AlreadyExists,
    BufferTooSmall,
    ChannelError,
    Closed,
    ConcurrentUse,
    Corrupt,
    ForeignSegment,
    IncompatibleVersion,
    InUse,
    MessageTooLarge,
    NotFound,
    Receiver,
    Sender,
    Timeout,
    UnixSocketsUnavailable,
)
from .transports import open, pair, unlink

__all__ = [
    "AlreadyExists",
    "BufferTooSmall",
    "ChannelError",
    "Closed",
    "ConcurrentUse",
    "Corrupt",
    "ForeignSegment",
    "IncompatibleVersion",
    "InUse",
    "MessageTooLarge",
    "NotFound",
    "Receiver",
    "Sender",
    "Timeout",
    "UnixSocketsUnavailable",
    "open",
    "pair",
    "unlink",
]
