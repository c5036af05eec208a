"""Windows: the pipe transport over named pipes, with overlapped I/O (imported on Windows only).

Why named pipes for ``pair("pipe")`` too: ``os.pipe()`` on Windows is
``CreatePipe``, whose anonymous pipes are named pipes with a generated name
that cannot do overlapped I/O, so a read or write on them can only block
for ever or be polled. ``pair()`` therefore makes what CreatePipe would,
itself: a one-way, byte-mode pipe with a random name, one instance, local
clients only, both ends opened at once (``multiprocessing.Pipe`` does the
same on Windows). It is still a kernel pipe with a 64 KiB buffer, like a
Linux pipe; only the handles can wait with a timeout.

``fifo://NAME`` is the Windows named pipe ``\\\\.\\pipe\\NAME`` (see
:func:`pipe_name`): the creator (``create=True``) is the pipe's server, the
other end opens it as a client. The rendezvous follows the POSIX FIFO's:
the creator returns at once and meets its peer in its first call (within
that call's timeout); the other end opens at ``open()`` or fails then.

Waiting: every wait is on the event of an overlapped operation, in slices of
at most 50 ms, so Ctrl-C (whose handler runs between two slices) interrupts
it promptly; ``timeout=0`` never waits at all.

Writing, and what "committed" means here. A write that fits the pipe's
buffer completes at once. A larger one (or one into a full pipe) is still
taken by the kernel at once: its data is in the pipe, where the reader can
read it, and only its completion waits until the reader has made room.
Cancelling it would not take back what the reader already read, so shmring
never cancels a write: a frame handed to the pipe is committed, and ``send``
returns while it is in flight. What a timeout bounds is the wait for the
previous frame's write to complete (the pipe to take it whole) before this
one is handed over; if that wait runs out, this message is not sent at all
(Timeout, nothing of it written). So at most one frame beyond the pipe's
buffer is ever waiting, as with the POSIX pending tail; close (and exit)
waits for it, and gives up once the reader is gone. A sender killed while a
write is in flight loses it: the kernel cancels it, and the reader gets
Corrupt if it had read part of that frame, as on POSIX.

Reading: an overlapped read returns whatever the pipe holds (up to the
buffer's size) or waits for the next bytes; a read that times out is
cancelled, which on a pipe either took bytes (they are kept) or took none.
"""

from __future__ import annotations

import sys

assert sys.platform == "win32", "a Windows-only module"  # and mypy checks the rest only with --platform win32

import ctypes
import itertools
import os
import re
import secrets
from ctypes import wintypes
from itertools import starmap
from multiprocessing import context

import _winapi

from ..channel import AlreadyExists, ChannelError, Closed, Deadline, InUse, NotFound, Timeout
from ..framing import HEADER, FrameReader

BUFFER_SIZE = 64 * 1024  # each pipe's kernel buffer: a Linux pipe's default size
JOIN_LIMIT = 64 * 1024  # frames up to this size are written as one buffer (header + payload)
SLICE_MS = 50  # the longest single wait, so that Ctrl-C is seen promptly

PIPE_ACCESS_INBOUND = 0x1
PIPE_ACCESS_OUTBOUND = 0x2
PIPE_TYPE_BYTE = PIPE_READMODE_BYTE = 0x0
PIPE_REJECT_REMOTE_CLIENTS = 0x8

ERROR_FILE_NOT_FOUND = 2
ERROR_ACCESS_DENIED = 5
ERROR_INVALID_NAME = 123
ERROR_BAD_PATHNAME = 161
ERROR_PIPE_BUSY = 231
ERROR_NO_DATA = 232  # the other end closed ("the pipe is being closed")
ERROR_PIPE_NOT_CONNECTED = 233
ERROR_OPERATION_ABORTED = 995
ERROR_IO_PENDING = 997
PEER_GONE = frozenset((109, ERROR_NO_DATA, ERROR_PIPE_NOT_CONNECTED))  # 109: ERROR_BROKEN_PIPE

_PREFIX = "\\\\.\\pipe\\"
_DRIVE = re.compile(r"[A-Za-z]:[\\/]")
_counter = itertools.count()


def pipe_name(rest: str) -> str:
    """The Windows pipe path of ``fifo://rest``.

    A fifo address holds an absolute path on every OS, so that one address
    serves both and a relative one is refused everywhere (ValueError). On
    Windows there are no FIFO files: a pipe lives in the pipe namespace, not
    in a directory, and the whole path names it, separators as backslashes:
    ``fifo:///tmp/chan`` is ``\\\\.\\pipe\\tmp\\chan`` and
    ``fifo://C:\\Temp\\chan`` is ``\\\\.\\pipe\\C:\\Temp\\chan``
    (the full path rather than its last component, so that two directories
    never share a pipe; like every pipe name, case-insensitive). A full
    ``\\\\.\\pipe\\NAME`` is taken as it is.
    """
    if not isinstance(rest, str) or "\0" in rest or not (rest[:1] in ("/", "\\") or _DRIVE.match(rest)):
        raise ValueError(
            "a fifo address holds an absolute path: 'fifo:///tmp/name' (three slashes), "
            f"'fifo://C:\\path\\name' or 'fifo://\\\\.\\pipe\\name', got fifo://{rest}"
        )
    if rest.lower().startswith(_PREFIX):
        name = rest[len(_PREFIX):]
    else:
        name = rest.replace("/", "\\").lstrip("\\")
    if not name or len(name) > 240:
        raise ValueError(f"a Windows pipe name has 1 to 240 characters, got {_PREFIX}{name} from fifo://{rest}")
    return _PREFIX + name


# ---- making and opening pipes -----------------------------------------------------------


def _create_server(path: str, direction: str, *, first: bool = True) -> int:
    """A new pipe (one instance, this machine only) that this process reads from ("r") or writes to."""
    access = (PIPE_ACCESS_INBOUND if direction == "r" else PIPE_ACCESS_OUTBOUND) | _winapi.FILE_FLAG_OVERLAPPED
    if first:
        access |= _winapi.FILE_FLAG_FIRST_PIPE_INSTANCE  # never a second instance of someone else's pipe
    mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | _winapi.PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS
    return _winapi.CreateNamedPipe(path, access, mode, 1, BUFFER_SIZE, BUFFER_SIZE, 0, _own_user_only())


_security = None  # (SECURITY_ATTRIBUTES, its descriptor): made once, kept for the process's life


def _own_user_only() -> int:
    """The address of SECURITY_ATTRIBUTES that let only this process's user open a pipe.

    Windows' default for a pipe lets everyone read it; this is the pipe's
    mode 0600 (csrc/segment_win32.c gives the shm sections the same: owner
    and sole grantee, the user, in a protected DACL).
    """
    global _security
    if _security is None:
        sid = _user_sid()
        descriptor = ctypes.c_void_p()
        if not _advapi32.ConvertStringSecurityDescriptorToSecurityDescriptorW(
                f"O:{sid}D:P(A;;GA;;;{sid})", 1, ctypes.byref(descriptor), None):  # 1: SDDL_REVISION_1
            raise ctypes.WinError(ctypes.get_last_error())
        attributes = _SecurityAttributes(ctypes.sizeof(_SecurityAttributes), descriptor, False)
        _security = (attributes, descriptor)
    return ctypes.addressof(_security[0])


def _user_sid() -> str:
    """This process's user, as a string SID (S-1-5-...)."""
    token = wintypes.HANDLE()
    if not _advapi32.OpenProcessToken(_winapi.GetCurrentProcess(), TOKEN_QUERY, ctypes.byref(token)):
        raise ctypes.WinError(ctypes.get_last_error())
    try:
        info = ctypes.create_string_buffer(256)  # a TOKEN_USER: a SID pointer, then the SID (at most 68 bytes)
        size = wintypes.DWORD()
        if not _advapi32.GetTokenInformation(token, 1, info, len(info), ctypes.byref(size)):  # 1: TokenUser
            raise ctypes.WinError(ctypes.get_last_error())
    finally:
        _winapi.CloseHandle(token.value or 0)
    text = wintypes.LPWSTR()
    if not _advapi32.ConvertSidToStringSidW(ctypes.c_void_p.from_buffer(info).value, ctypes.byref(text)):
        raise ctypes.WinError(ctypes.get_last_error())
    try:
        return text.value or ""
    finally:
        _kernel32.LocalFree(ctypes.cast(text, ctypes.c_void_p))


class _SecurityAttributes(ctypes.Structure):
    _fields_ = [("nLength", wintypes.DWORD), ("lpSecurityDescriptor", ctypes.c_void_p),
                ("bInheritHandle", wintypes.BOOL)]


_advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)
_kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
_advapi32.OpenProcessToken.argtypes = [wintypes.HANDLE, wintypes.DWORD, ctypes.POINTER(wintypes.HANDLE)]
_advapi32.GetTokenInformation.argtypes = [wintypes.HANDLE, ctypes.c_int, ctypes.c_void_p, wintypes.DWORD,
                                          ctypes.POINTER(wintypes.DWORD)]
_advapi32.ConvertSidToStringSidW.argtypes = [ctypes.c_void_p, ctypes.POINTER(wintypes.LPWSTR)]
_advapi32.ConvertStringSecurityDescriptorToSecurityDescriptorW.argtypes = [
    wintypes.LPCWSTR, wintypes.DWORD, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
_kernel32.LocalFree.argtypes = [ctypes.c_void_p]
TOKEN_QUERY = 0x0008


def _open_client(path: str, direction: str) -> int:
    access = _winapi.GENERIC_READ if direction == "r" else _winapi.GENERIC_WRITE
    return _winapi.CreateFile(path, access, 0, _winapi.NULL, _winapi.OPEN_EXISTING,
                              _winapi.FILE_FLAG_OVERLAPPED, _winapi.NULL)


def anonymous_pair():
    """(write handle, read handle) of a new one-way pipe with a random name, already connected."""
    path = f"{_PREFIX}shmring-{os.getpid()}-{next(_counter)}-{secrets.token_hex(8)}"
    reader = _create_server(path, "r")
    try:
        writer = _open_client(path, "w")
    except BaseException:
        _winapi.CloseHandle(reader)
        raise
    return writer, reader


def open_fifo(sender_cls, receiver_cls, rest: str, direction: str, *, create: bool, max_message_size: int):
    """Open one end of the named pipe of ``fifo://rest`` (see pipe.open)."""
    path = pipe_name(rest)
    address = f"fifo://{rest}"
    cls = receiver_cls if direction == "r" else sender_cls
    if create:
        return cls(address, max_message_size, None, rendezvous=_ServerRendezvous(address, path, direction))
    return cls(address, max_message_size, _connect(address, path, direction))


def _connect(address: str, path: str, direction: str) -> int:
    try:
        return _open_client(path, direction)
    except OSError as e:
        if e.winerror == ERROR_FILE_NOT_FOUND:
            raise NotFound(
                f"no pipe {path}; create it with shmring.open({address!r}, ..., create=True)"
            ) from None
        if e.winerror == ERROR_PIPE_BUSY:
            raise InUse(f"{address} already has its peer: a Windows pipe of shmring joins one reader "
                        "and one writer; create another address for another channel") from None
        if e.winerror == ERROR_ACCESS_DENIED:
            verb = "reads" if direction == "r" else "writes"
            raise InUse(f"the creator of {address} {verb} it itself (or it belongs to another user): open "
                        f"its other end, with {'w' if direction == 'r' else 'r'!r}") from None
        if e.winerror in (ERROR_INVALID_NAME, ERROR_BAD_PATHNAME):
            raise ValueError(f"{path} is not a valid pipe name ({e.strerror})") from None
        raise


class _ServerRendezvous:
    """The creator's pipe until its one peer has opened it (ConnectNamedPipe, waited for within each call)."""

    def __init__(self, address: str, path: str, direction: str):
        self._address = address
        self._direction = direction
        # the overlapped ConnectNamedPipe, kept from one call to the next
        self._connecting: _winapi.Overlapped | None = None
        self._handle: int | None
        try:
            self._handle = _create_server(path, direction)
        except OSError as e:
            if e.winerror in (ERROR_ACCESS_DENIED, ERROR_PIPE_BUSY):  # FIRST_PIPE_INSTANCE: the name is taken
                raise AlreadyExists(
                    f"a pipe {path} already exists; open {address} without create=True (a Windows pipe "
                    "disappears with the last handle to it: nothing is ever left to unlink)"
                ) from None
            if e.winerror in (ERROR_INVALID_NAME, ERROR_BAD_PATHNAME):
                raise ValueError(f"{path} is not a valid pipe name ({e.strerror})") from None
            raise

    def connect(self, timeout) -> int:
        """The handle, once the peer has opened the pipe (or opened and closed it already)."""
        if self._handle is None:
            raise ChannelError(f"{self._address}: the pipe is closed")
        if self._connecting is None:
            try:
                self._connecting = _winapi.ConnectNamedPipe(self._handle, overlapped=True)
            except OSError as e:
                if e.winerror != ERROR_NO_DATA:  # a peer came and went: reads say Closed, writes Closed
                    raise
                return self._take()
        connecting = self._connecting
        if not wait_for(connecting.event, Deadline(timeout)):
            peer = "writer" if self._direction == "r" else "reader"
            raise Timeout(f"no {peer} has opened {self._address} yet; open its "
                          f"{'w' if self._direction == 'r' else 'r'!r} end, or wait longer")
        try:
            connecting.GetOverlappedResult(True)
        except OSError as e:
            if e.winerror not in PEER_GONE:
                raise
        self._connecting = None
        return self._take()

    def _take(self) -> int:
        handle, self._handle = self._handle, None
        assert handle is not None  # connect() checked
        return handle

    def close(self) -> None:
        connecting, self._connecting = self._connecting, None
        if connecting is not None:
            _cancel(connecting)
        handle, self._handle = self._handle, None
        if handle is not None:
            _winapi.CloseHandle(handle)


# ---- waiting ---------------------------------------------------------------------------


def wait_for(event: int, deadline: Deadline) -> bool:
    """Wait until ``event`` is set, in slices of at most SLICE_MS; False once the deadline passed."""
    wait = _winapi.WaitForSingleObject
    while True:
        left = deadline.remaining()
        ms = SLICE_MS if left is None else min(SLICE_MS, -int(-left * 1000 // 1))  # rounded up
        if wait(event, ms) == _winapi.WAIT_OBJECT_0:
            return True
        if left is not None and deadline.remaining() == 0:
            return False


def bytes_waiting(handle: int) -> bool:
    """Whether the pipe holds bytes to read now (True too if it broke: the read then says so)."""
    try:
        return _winapi.PeekNamedPipe(handle)[0] != 0
    except OSError:
        return True


def _cancel(ov) -> int:
    """Cancel an overlapped operation and wait until it is over; the bytes it moved (it may have finished)."""
    try:
        ov.cancel()
    except OSError:
        pass  # finished already
    try:
        return ov.GetOverlappedResult(True)[0]
    except OSError:
        return 0


# ---- framing ---------------------------------------------------------------------------


class PipeFrameWriter:
    """Writes frames to an overlapped pipe handle (the interface of framing.FrameWriter).

    Interrupts: WriteFile's (Overlapped, error) lands in ``_issued`` by C as
    it returns (an Overlapped dropped with its write pending would cancel
    it), and one statement with no call moves it on: into ``_in_flight`` if
    pending, ``committed`` set, and ``_rest`` (the payload still to hand over
    after a header) updated. A frame whose header went is finished before the
    next one, or by interrupted(), so the reader never sees half a frame."""

    def __init__(self, handle: int, address: str):
        self._handle = handle
        self._address = address
        self._in_flight: list[_winapi.Overlapped] = []  # overlapped writes the pipe has taken but not completed, oldest first
        self._issued: list = []  # [(Overlapped, error)] of the write just handed to the pipe, not yet accounted
        self._rest_after = None  # what _rest becomes once the write being handed over is accounted
        self._rest = None  # the payload of a frame whose header went, not yet handed to the pipe
        # what _stream.StreamSender reads after an exception (see framing.FrameWriter):
        # a write issued and not yet accounted commits the current send's frame
        self._landed = self._issued
        self._writing_tail = False
        self.committed = 0  # 1 once the pipe took the current send's frame (or its header)
        self.current = False

    @property
    def pending(self) -> bool:
        """Whether a committed frame is still being written (its write has not completed)."""
        self._finish_frame()
        wait = _winapi.WaitForSingleObject
        return any(wait(ov.event, 0) != _winapi.WAIT_OBJECT_0 for ov in self._in_flight)

    def send(self, payload, timeout) -> None:
        self._finish_frame()  # an earlier send was cut short after its header
        if self._in_flight and not self._complete(Deadline(timeout)):
            raise Timeout(f"send() on {self._address} timed out (the pipe is full)")
        header = HEADER.pack(len(payload))
        self.current = True  # from here on, a write handed over is this send's frame
        if len(payload) <= JOIN_LIMIT:
            self._write(header + payload, None)
        else:  # no copy of a big payload
            self._write(header, payload)
            self._write(payload, None)

    def interrupted(self) -> int:
        """framing.FrameWriter.interrupted: whether the pipe took the current
        send's frame (a write never waits, so a begun frame is finished here)."""
        self._finish_frame()
        return self.committed

    def _finish_frame(self) -> None:
        self._account()
        if self._rest is not None:
            self._write(self._rest, None)

    def _write(self, data, rest_after) -> None:
        """Hand ``data`` to the pipe; never waits (see the module's docstring)."""
        self._account()
        self._rest_after = rest_after
        try:
            self._issued.extend(starmap(_winapi.WriteFile, ((self._handle, data, True),)))
        except OSError as e:
            if e.winerror in PEER_GONE:
                self._rest = None
                raise self._closed_error() from None
            raise
        self._account()

    def _account(self) -> None:
        """Move the write just issued on: in flight if pending; committed; the rest of its frame."""
        issued = self._issued
        if issued:
            ov, err = issued[0]
            pending = [ov] if err == ERROR_IO_PENDING else []  # the Overlapped keeps the buffer alive
            committed = 1 if self.current else self.committed
            self._in_flight, self.committed, self._rest, issued[:] = (  # one statement: no call between
                self._in_flight + pending, committed, self._rest_after, ())

    def _complete(self, deadline) -> bool:
        """Wait for the writes in flight to complete; False if the deadline passed first."""
        in_flight = self._in_flight
        while in_flight:
            ov = in_flight[0]
            if not wait_for(ov.event, deadline):
                return False
            try:
                ov.GetOverlappedResult(True)
            except OSError as e:
                if e.winerror in PEER_GONE:
                    self._abandon()
                    raise self._closed_error() from None
                raise
            in_flight.pop(0)
        return True

    def _abandon(self) -> None:
        in_flight, self._in_flight = self._in_flight, []
        for ov in in_flight:
            _cancel(ov)

    def flush(self, timeout=None) -> None:
        """Wait (within ``timeout``) for the writes in flight; Closed if the reader is gone."""
        if self._in_flight:
            self._complete(Deadline(timeout))

    def stop(self) -> None:
        """Before the handle closes: close() has waited for the writes in flight, or given them up."""

    def _closed_error(self) -> Closed:
        return Closed(f"the receiver of {self._address} closed or died")


class PipeFrameReader(FrameReader):
    """Reads frames from an overlapped pipe handle: framing.FrameReader with overlapped reads.

    Interrupts: the read in flight is state (``_reading``), put there by C
    (``list.extend`` over ``starmap``) as ReadFile returns, and kept until its
    bytes are in place; an exception while it waits leaves it in flight, and
    the next call waits on it again. Its bytes and their count land in one
    statement (no call between), as framing's do."""

    def _init_waiting(self, handle: int) -> None:
        self._stash = b""  # bytes a read brought in beyond the room it was given
        self._reading: list = []  # the overlapped read in flight: [(Overlapped, error)]

    @property
    def buffered(self) -> int:
        self._stop_reading()
        return super().buffered + len(self._stash)

    def stop(self) -> None:
        """Before the handle closes: the read in flight must be over (its Overlapped may not outlive the handle)."""
        self._stop_reading()

    def _stop_reading(self) -> None:
        """Cancel the read in flight; what it brought in goes to the stash."""
        if self._reading:
            ov = self._reading[0][0]
            n = _cancel(ov)
            self._stash, self._reading[:] = self._stash + (ov.getbuffer() or b"")[:n], ()

    def _read(self, into: memoryview, deadline, mid_frame: bool, landing: int) -> None:
        self._settle()
        self._landing = landing
        self._land_one(into, deadline, mid_frame)
        self._settle()

    def _land_one(self, into: memoryview, deadline, mid_frame: bool) -> None:
        """Read at least one byte into ``into``, waiting as ``deadline`` allows; the count lands in _landed."""
        if self._stash:
            n = min(len(into), len(self._stash))
            into[:n] = self._stash[:n]
            self._stash, self._landed[:] = self._stash[n:], (n,)
            return
        while True:
            if not self._reading:
                if deadline.remaining() == 0 and not bytes_waiting(self._fd):
                    raise Timeout(f"recv() on {self._address} timed out")  # no read to start and cancel
                try:
                    self._reading.extend(starmap(_winapi.ReadFile, ((self._fd, len(into), True),)))
                except OSError as e:
                    if e.winerror in PEER_GONE:
                        raise self._end_of_stream(mid_frame) from None
                    raise
            ov, err = self._reading[0]
            if err == ERROR_IO_PENDING and not wait_for(ov.event, deadline) and not _cancel(ov):
                self._reading[:] = ()
                raise Timeout(f"recv() on {self._address} timed out")
            try:
                n = ov.GetOverlappedResult(True)[0]
            except OSError as e:
                self._reading[:] = ()
                if e.winerror in PEER_GONE:
                    raise self._end_of_stream(mid_frame) from None
                raise
            if n:
                data = ov.getbuffer() or b""
                k = min(n, len(into))
                into[:k] = data[:k]  # again, into the same place, if a handler raises before the next line
                self._stash, self._reading[:], self._landed[:] = data[k:n], (), (k,)
                return
            self._reading[:] = ()  # a read that completed empty: nothing to take, read again


class PipeHandles:
    """What the stream endpoints of _stream do with a Windows pipe handle."""

    attach = staticmethod(lambda handle: None)  # overlapped from the start: nothing to set
    writer = PipeFrameWriter
    reader = PipeFrameReader
    close = staticmethod(_winapi.CloseHandle)

    @staticmethod
    def dup(handle: int) -> HandleCopy:
        return HandleCopy(handle)


class HandleCopy:
    """A pipe handle on its way to another process (in a pickle).

    While multiprocessing starts a child, the handle is duplicated into the
    child directly; otherwise into this process, from which the unpickling
    process takes it (DUPLICATE_CLOSE_SOURCE), which needs this process to
    live until then (multiprocessing.reduction.DupHandle does the same).
    """

    def __init__(self, handle: int):
        popen = context.get_spawning_popen()
        if popen is not None:
            self._handle = popen.duplicate_for_child(handle)
            self._pid = popen.pid
        else:
            me = _winapi.GetCurrentProcess()
            self._handle = _winapi.DuplicateHandle(me, handle, me, 0, False, _winapi.DUPLICATE_SAME_ACCESS)
            self._pid = os.getpid()

    def detach(self) -> int:
        """The handle in this process (call once)."""
        if self._pid == os.getpid():
            return self._handle
        source = _winapi.OpenProcess(_winapi.PROCESS_DUP_HANDLE, False, self._pid)
        try:
            return _winapi.DuplicateHandle(source, self._handle, _winapi.GetCurrentProcess(), 0, False,
                                           _winapi.DUPLICATE_SAME_ACCESS | _winapi.DUPLICATE_CLOSE_SOURCE)
        finally:
            _winapi.CloseHandle(source)
