"""Batches of the shm transport as Python sees them: packed for send_many,
split back into ``bytes`` objects after recv_many.

C moves a batch as one buffer of the messages back to back plus an array of
their sizes. The Python side is what limits a batch's speed, so every
per-message step here runs in C code of CPython (``b"".join``, ``map``,
``struct``) rather than in a Python loop: a loop iteration alone costs more
than the ring does per message.
"""

from __future__ import annotations

import functools
import struct
from array import array

from .._core import ffi
from .._fastpath import lib as fastlib

_SIZE = ffi.sizeof("uint64_t")
_FORMAT_BYTES = 21  # per message: 20 digits and "s"


def pack(messages: list):
    """The messages back to back in one buffer, and their sizes."""
    try:
        data = b"".join(messages)
    except TypeError:
        raise TypeError(
            "send_many() takes an iterable of bytes-like objects (bytes, bytearray, memoryview, numpy arrays)"
        ) from None
    except BufferError as e:
        raise ValueError(f"send_many() needs C-contiguous buffers: {e}") from None
    types = list(map(type, messages))  # counted in C: a set or a loop costs more
    n = len(types)
    if types.count(bytes) == n or types.count(bytes) + types.count(bytearray) == n:
        return data, array("Q", map(len, messages))
    # len() of a numpy array or memoryview counts items, not bytes: sizes that
    # merely add up could still cut the batch in the wrong places.
    return data, array("Q", map(_nbytes, messages))


def _nbytes(message) -> int:
    return memoryview(message).nbytes


def split(buffer, lens, n: int) -> list:
    """The n messages that lie back to back in ``buffer``, as bytes; ``lens``
    is the C array of their sizes."""
    sizes = ffi.buffer(lens, n * _SIZE)
    if sizes[_SIZE:] == sizes[:-_SIZE]:  # each size equals the one before: all one size
        return list(_all_of_size(lens[0], n).unpack_from(buffer))
    return _split_mixed(buffer, lens, n)


@functools.lru_cache(maxsize=64)
def _all_of_size(size: int, n: int) -> struct.Struct:
    """One struct that cuts n messages of one size out of a buffer in one C
    call (about 20 ns a message here, a third of struct.iter_unpack's)."""
    return struct.Struct(f"{size}s" * n)


def _split_mixed(buffer, lens, n: int) -> list:
    """Messages of several sizes: C writes the struct format that cuts them
    (about 35 ns a message here; slicing each one out costs over 200)."""
    format_buffer = ffi.new("char[]", n * _FORMAT_BYTES)
    length = fastlib.shmring_struct_format(lens, n, format_buffer, len(format_buffer))
    return list(struct.Struct(ffi.buffer(format_buffer, length)[:]).unpack_from(buffer))  # not cached: one-off
