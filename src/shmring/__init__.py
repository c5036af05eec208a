"""shmring: move messages between processes through lock-free shared-memory rings.

    tx, rx = shmring.pair("shm", capacity=1 << 20)
    tx.send(b"hello")
    rx.recv()  # b"hello"
"""

from .channel import (
    AlreadyExists,
    BufferTooSmall,
    ChannelError,
    Closed,
    Corrupt,
    IncompatibleVersion,
    InUse,
    MessageTooLarge,
    NotFound,
    Receiver,
    Sender,
    Timeout,
)
from .transports import open, pair, unlink

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "BufferTooSmall",
    "ChannelError",
    "Closed",
    "Corrupt",
    "IncompatibleVersion",
    "InUse",
    "MessageTooLarge",
    "NotFound",
    "Receiver",
    "Sender",
    "Timeout",
    "open",
    "pair",
    "unlink",
]
