"""The pipe transport: length-prefixed frames over ``os.pipe()`` or a named pipe (FIFO).

``pair(max_message_size=16 MiB)`` makes an anonymous pipe for related
processes (pass the ends to ``multiprocessing`` children).
``open("fifo:///abs/path", "r"|"w", create=False)`` opens a FIFO by path:

- ``create=True`` makes it (``mkfifo``, mode 0600; AlreadyExists if the path
  exists) and removes it when the endpoint that made it closes (pickled
  copies do not remove it).
- POSIX blocks ``open()`` of a FIFO until the other side opens too; shmring
  never does. The reading end opens at once (``O_NONBLOCK``) and, until a
  writer has opened, a ``recv`` waits for one within its timeout (end of file
  then means "no writer yet", not Closed). The writing end cannot open at all
  before a reader (``ENXIO``): ``open(..., "w")`` retries every 10 ms for
  ``open_timeout`` seconds (default 5) and then raises Timeout; a writer
  opened with ``create=True`` returns at once and waits for the reader in its
  first ``send``, within that send's timeout. Waiting for a reader is polling
  (the OS has no way to wait for it), so that first meeting costs up to 10 ms.

On Windows (see :mod:`shmring.transports._winpipe`): ``pair()`` makes a
one-way pipe as CreatePipe would, but with overlapped I/O, and
``fifo://PATH`` is the named pipe ``\\\\.\\pipe\\PATH``: the whole absolute
path names it, with backslashes (``fifo:///tmp/x`` is ``\\\\.\\pipe\\tmp\\x``,
``fifo://C:\\Temp\\x`` is ``\\\\.\\pipe\\C:\\Temp\\x``; a relative path is
refused there too). Why one scheme and not a ``pipe://`` of its own: a
Windows named pipe is what plays the FIFO's part there (a byte stream
between unrelated processes, met by name), and one scheme lets the same
address work on every OS. What differs, because a Windows pipe is a server
and a client, not a file: nothing appears in the directory of PATH; the
creator is the server and takes one peer (a second opener gets InUse, as
does one that opens the direction the creator took); the other end must
exist when it opens (NotFound at once otherwise, ``open_timeout`` has
nothing to wait for); only the creator's user may open it (the pipe's
security descriptor, as mode 0600 on POSIX); the pipe disappears when the
creator's handle closes (as the FIFO file is removed then), so nothing is
ever left behind and ``unlink`` is a no-op.

What every stream transport guarantees (see :mod:`shmring.framing`):
messages arrive whole and in order; a sender that closes or dies between
messages gives the receiver Closed after the last one; a sender killed in
the middle of writing a message gives Corrupt after the last whole one. A
``send`` timeout bounds the wait for room for the frame's first byte; a
frame begun is always finished (by this send, the next one, or close), so
``send`` returning means the message was committed, and Ctrl-C in the middle
of a big message still lets it arrive whole. Ctrl-C while waiting before the
first byte sends nothing. One process uses an end at a time.
"""

from __future__ import annotations

import errno
import os
import stat
import sys

from ..channel import Deadline, NotFound, Timeout, check_direction, check_timeout
from ._paths import OwnedPath, absolute_path, already_exists, unlink_path
from ._stream import DEFAULT_MAX_MESSAGE_SIZE, StreamReceiver, StreamSender, check_max_message_size

DEFAULT_OPEN_TIMEOUT = 5.0
READER_POLL_INTERVAL = 0.01  # seconds between tries to open a FIFO for writing

_WINDOWS = sys.platform == "win32"
if _WINDOWS:
    from . import _winpipe


class PipeSender(StreamSender):
    """Sends frames into a pipe or FIFO."""

    if _WINDOWS:
        _handles = _winpipe.PipeHandles


class PipeReceiver(StreamReceiver):
    """Receives frames from a pipe or FIFO."""

    if _WINDOWS:
        _handles = _winpipe.PipeHandles


def pair(*, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE):
    """A new anonymous pipe: (Sender, Receiver)."""
    max_message_size = check_max_message_size(max_message_size)
    if _WINDOWS:
        w, r = _winpipe.anonymous_pair()
    else:
        r, w = os.pipe()
    return PipeSender("pipe:anonymous", max_message_size, w), PipeReceiver("pipe:anonymous", max_message_size, r)


def open(path: str, direction: str, *, create: bool = False, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
         open_timeout: float = DEFAULT_OPEN_TIMEOUT):
    """Open one end of the FIFO at ``path`` ("w": Sender, "r": Receiver)."""
    if _WINDOWS:
        check_max_message_size(max_message_size)
        check_timeout(open_timeout)
        return _winpipe.open_fifo(PipeSender, PipeReceiver, path, check_direction(direction), create=create,
                                  max_message_size=max_message_size)
    path = absolute_path("fifo", path)
    address = f"fifo://{path}"
    max_message_size = check_max_message_size(max_message_size)
    open_timeout = check_timeout(open_timeout)
    check_direction(direction)
    owned = _make_fifo(address, path) if create else None
    try:
        if not create:
            _check_is_fifo(address, path)
        if direction == "r":
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            return PipeReceiver(address, max_message_size, fd, owned_path=owned, peer_seen=False)
        rendezvous = _FifoWriterRendezvous(address, path)
        fd = None if create else rendezvous.connect(open_timeout)
        return PipeSender(address, max_message_size, fd, rendezvous=rendezvous if create else None,
                            owned_path=owned)
    except BaseException:
        if owned is not None:
            owned.close()
        raise


def unlink(path: str) -> None:
    """Remove a leftover FIFO (processes that have it open keep it).

    On Windows, a no-op once the name is checked: a named pipe disappears
    with the last handle to it, so a dead process never leaves one behind,
    and a live one cannot be removed from outside."""
    if _WINDOWS:
        _winpipe.pipe_name(path)
        return
    unlink_path(absolute_path("fifo", path), stat.S_ISFIFO, "FIFO")


def _make_fifo(address: str, path: str) -> OwnedPath:
    try:
        os.mkfifo(path, 0o600)
    except FileExistsError:
        raise already_exists(address, path) from None
    except FileNotFoundError:
        raise NotFound(f"the directory of {path} does not exist; create it first") from None
    return OwnedPath(path)


def _check_is_fifo(address: str, path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise NotFound(f"no FIFO at {path}; create it with shmring.open({address!r}, ..., create=True)") from None
    if not stat.S_ISFIFO(mode):
        raise ValueError(f"{path} exists but is not a FIFO")


class _FifoWriterRendezvous:
    """Opens a FIFO for writing, which the OS allows only once a reader has it open."""

    def __init__(self, address: str, path: str):
        self._address = address
        self._path = path

    def connect(self, timeout) -> int:
        deadline = Deadline(timeout)
        while True:
            try:
                return os.open(self._path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except FileNotFoundError:
                raise NotFound(f"the FIFO {self._path} was removed before a reader opened it") from None
            except OSError as e:
                if e.errno != errno.ENXIO:  # ENXIO: no reader yet
                    raise
            if not deadline.nap(READER_POLL_INTERVAL):
                raise Timeout(
                    f"no reader has opened {self._address} yet; open its 'r' end first, or wait longer "
                    "(open_timeout= for open(), timeout= for the first send)"
                )

    def close(self) -> None:
        pass
