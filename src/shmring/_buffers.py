"""Turning what callers pass to send() and recv_into() into flat byte views.

The pure-Python transports accept what the shm transport accepts (any
C-contiguous buffer: bytes, bytearray, memoryview, numpy arrays) and reject
the rest with the same kind of error, so a program can swap transports.
"""

from __future__ import annotations


def message_view(data):
    """``data`` as something with ``len()`` in bytes: itself if bytes, else a flat memoryview.

    No copy is made. TypeError for what is not a buffer, ValueError for a
    buffer that is not C-contiguous.
    """
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        raise TypeError("send() takes bytes-like data, not str; encode it first")
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(
            f"send() takes a C-contiguous bytes-like object (bytes, bytearray, memoryview, numpy array), "
            f"not {type(data).__name__}"
        ) from None
    return _flat(view, "send() needs a C-contiguous buffer; copy it first (bytes(x) or numpy.ascontiguousarray)")


def writable_view(buffer) -> memoryview:
    """``buffer`` as a flat writable memoryview of bytes (TypeError if it cannot be one)."""
    try:
        view = memoryview(buffer)
    except TypeError:
        view = None
    if view is None or view.readonly:
        raise TypeError(
            f"recv_into() needs a writable C-contiguous buffer (bytearray, memoryview, numpy array), "
            f"not {type(buffer).__name__}"
        )
    try:
        return _flat(view, "recv_into() needs a C-contiguous buffer")
    except ValueError as e:
        raise TypeError(str(e)) from None  # the shm transport says TypeError for any unusable buffer


def _flat(view: memoryview, complaint: str) -> memoryview:
    if not view.c_contiguous:
        raise ValueError(complaint)
    if view.ndim == 1 and view.format == "B":
        return view
    if view.nbytes == 0:
        return memoryview(bytearray())  # cast("B") refuses a zero in the shape
    return view.cast("B")
