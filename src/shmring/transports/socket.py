"""The socket transport: length-prefixed frames over a stream socket (unix or TCP).

``pair(max_message_size=16 MiB)`` uses ``socket.socketpair(AF_UNIX,
SOCK_STREAM)`` for related processes. By address:

- ``open("unix:///abs/path", ...)``: a unix-domain socket file.
- ``open("tcp://host:port", ...)`` (IPv6: ``tcp://[::1]:port``): TCP, the
  transport for peers on other machines; both sides set TCP_NODELAY.
  There is no authentication: bind to 127.0.0.1 or a trusted network.

Either direction may create. ``create=True`` binds and listens (a unix
socket file gets mode 0600 before anyone can connect; AlreadyExists when
the path or port is taken) and returns at once: it accepts its one peer in
its first ``send``/``recv``, within that call's timeout (Timeout if nobody
connected by then). ``tcp://host:0`` picks a free port, which the
endpoint's ``address`` then shows. After that one peer is accepted the
listener closes and the socket file is removed; it is also removed when the
creating endpoint closes. The other side connects at ``open``, retrying for
``open_timeout`` seconds (default 5) while the connection is refused (the
creator may not be listening yet); NotFound after that, or at once for a
unix path that does not exist. Whoever connects first is the peer, so one
end must be "r" and the other "w".

Guarantees, timeouts and Ctrl-C are those of every stream transport (see
:mod:`shmring.transports.pipe` and :mod:`shmring.framing`). A receiver that
closes or dies makes ``send`` raise Closed; on TCP the kernel learns of it
from the peer's reset, so the first ``send`` after the close may still
succeed (the message is lost, as one sent just before a close would be) and
a following one raises Closed.

On Windows (see :mod:`shmring.transports._winsocket`): ``pair()`` is
``socket.socketpair()``, which there is a TCP connection over the loopback
(with TCP_NODELAY), since Windows Python has no AF_UNIX socketpair;
``tcp://`` is the same as everywhere; ``unix://`` works only on a Windows
Python that has ``socket.AF_UNIX`` (none so far, 3.10 to 3.13 included) and
otherwise raises :class:`UnixSocketsUnavailable` (a ChannelError and a
ValueError) naming what to use instead: ``tcp://`` or ``fifo://``.
Every wait is a ``select`` in slices of at most 50 ms, so Ctrl-C interrupts
it there too.
"""

from __future__ import annotations

import errno
import os
import socket as _socket
import stat
import sys

from ..channel import (
    AlreadyExists,
    ChannelError,
    Deadline,
    NotFound,
    Timeout,
    UnixSocketsUnavailable,
    check_direction,
    check_timeout,
)
from ._paths import OwnedPath, absolute_path, already_exists, unlink_path
from ._stream import DEFAULT_MAX_MESSAGE_SIZE, StreamReceiver, StreamSender, check_max_message_size

DEFAULT_OPEN_TIMEOUT = 5.0
RETRY_INTERVAL = 0.02  # seconds between connection attempts while refused

_WINDOWS = sys.platform == "win32"
if _WINDOWS:
    from . import _winsocket
ACCEPT_SLICE = 0.05 if _WINDOWS else None  # Windows: accept() does not return for Ctrl-C, so wait in slices


class SocketSender(StreamSender):
    """Sends frames into a stream socket."""

    if _WINDOWS:
        _handles = _winsocket.SocketHandles


class SocketReceiver(StreamReceiver):
    """Receives frames from a stream socket."""

    if _WINDOWS:
        _handles = _winsocket.SocketHandles


def pair(*, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE):
    """A new connected pair of unix stream sockets (on Windows: TCP over the loopback): (Sender, Receiver)."""
    max_message_size = check_max_message_size(max_message_size)
    if _WINDOWS:
        a, b = _socket.socketpair()  # AF_INET on 127.0.0.1: Windows has no AF_UNIX socketpair
        _socket_options(a)
        _socket_options(b)
    else:
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    address = "socket:socketpair"
    return SocketSender(address, max_message_size, a.detach()), SocketReceiver(address, max_message_size, b.detach())


def open_unix(path: str, direction: str, *, create: bool = False,
              max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE, open_timeout: float = DEFAULT_OPEN_TIMEOUT):
    """Open one end of the unix-socket channel at ``path`` ("w": Sender, "r": Receiver)."""
    _check_unix_sockets(path)
    path = absolute_path("unix", path)
    address = f"unix://{path}"
    if create:
        return _endpoint(direction, address, max_message_size, listener=_UnixListener(address, path))
    connect = lambda deadline: _connect_unix(address, path, deadline)  # noqa: E731
    return _endpoint(direction, address, max_message_size, connect=connect, open_timeout=open_timeout)


def open_tcp(host_port: str, direction: str, *, create: bool = False,
             max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE, open_timeout: float = DEFAULT_OPEN_TIMEOUT):
    """Open one end of the TCP channel at ``host:port`` ("w": Sender, "r": Receiver)."""
    host, port = _host_and_port(host_port)
    if create:
        listener = _TcpListener(host, port)
        return _endpoint(direction, listener.address, max_message_size, listener=listener)
    address = f"tcp://{host_port}"
    connect = lambda deadline: _connect_tcp(address, host, port, deadline)  # noqa: E731
    return _endpoint(direction, address, max_message_size, connect=connect, open_timeout=open_timeout)


def unlink_unix(path: str) -> None:
    """Remove a leftover unix socket file."""
    _check_unix_sockets(path)
    unlink_path(absolute_path("unix", path), stat.S_ISSOCK, "socket")


def _check_unix_sockets(path) -> None:
    if not hasattr(_socket, "AF_UNIX"):
        raise UnixSocketsUnavailable(
            f"unix:// sockets are not available on this Python ({sys.platform}, no socket.AF_UNIX), got "
            f"unix://{path}; use tcp://127.0.0.1:PORT instead (tcp://127.0.0.1:0 picks a free port), or "
            f"fifo://{path} (a named pipe there) or shm://name"
        )


def _endpoint(direction, address, max_message_size, *, listener=None, connect=None, open_timeout=None):
    try:
        check_direction(direction)
        max_message_size = check_max_message_size(max_message_size)
        fd = None if listener is not None else _retry_refused(connect, address, check_timeout(open_timeout))
    except BaseException:
        if listener is not None:
            listener.close()
        raise
    cls = SocketSender if direction == "w" else SocketReceiver
    return cls(address, max_message_size, fd, rendezvous=listener)


# ---- the connecting side ------------------------------------------------------------


def _retry_refused(connect, address: str, timeout) -> int:
    """Connect, retrying while refused (the creator may not listen yet); the connected descriptor."""
    deadline = Deadline(timeout)
    while True:
        try:
            return connect(deadline)
        except (ConnectionRefusedError, BlockingIOError, _socket.timeout):
            pass  # BlockingIOError: a unix listener's backlog is full
        if not deadline.nap(RETRY_INTERVAL):
            raise NotFound(
                f"nothing accepted a connection to {address} within {timeout} s; open it with create=True "
                "first (a unix socket file left by a dead process refuses too: remove it with shmring.unlink)"
            )


def _connect_unix(address: str, path: str, deadline) -> int:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(deadline.remaining())
        sock.connect(path)
    except FileNotFoundError:
        sock.close()
        raise NotFound(f"no socket at {path}; create it with shmring.open({address!r}, ..., create=True)") from None
    except BaseException:
        sock.close()
        raise
    return sock.detach()


def _connect_tcp(address: str, host: str, port: int, deadline) -> int:
    left = deadline.remaining()
    try:  # a TCP handshake needs a moment even when open_timeout is 0
        sock = _socket.create_connection((host, port), timeout=None if left is None else max(left, 0.05))
    except _socket.gaierror as e:
        raise ValueError(f"cannot resolve the host of {address}: {e.strerror}") from None
    _socket_options(sock)
    return sock.detach()


def _socket_options(sock) -> None:
    if sock.family in (_socket.AF_INET, _socket.AF_INET6):
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)  # one frame is one segment, sent now


def _host_and_port(host_port: str):
    host, sep, port = host_port.rpartition(":") if isinstance(host_port, str) else ("", "", "")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(
            f"a tcp address looks like 'tcp://127.0.0.1:5000' or 'tcp://[::1]:5000', got tcp://{host_port}"
        )
    return host, int(port)


# ---- the listening side ---------------------------------------------------------------


class _Listener:
    """Accepts the one peer of a created channel, on first use; then stops listening."""

    _sock = None

    def connect(self, timeout) -> int:
        """Wait (within ``timeout``) for the peer and return the connected descriptor."""
        if self._sock is None:
            raise ChannelError(f"{self.address}: the listener is closed")
        timeout = check_timeout(timeout)
        try:
            if ACCEPT_SLICE is None:
                self._sock.settimeout(timeout)
                conn, _ = self._sock.accept()
            else:
                conn = self._accept_in_slices(Deadline(timeout))
        except (_socket.timeout, BlockingIOError):  # BlockingIOError: timeout=0 and nobody waiting
            raise Timeout(f"no peer has connected to {self.address} yet") from None
        _socket_options(conn)
        self.close()  # one peer per channel: later connections are refused
        return conn.detach()

    def _accept_in_slices(self, deadline):
        while True:
            left = deadline.remaining()
            self._sock.settimeout(ACCEPT_SLICE if left is None else min(ACCEPT_SLICE, left))
            try:
                return self._sock.accept()[0]
            except (_socket.timeout, BlockingIOError):
                if left is not None and deadline.remaining() == 0:
                    raise

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class _UnixListener(_Listener):
    def __init__(self, address: str, path: str):
        self.address = address
        self._owned = None
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            try:
                sock.bind(path)
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise already_exists(address, path) from None
                if e.errno == errno.ENOENT:
                    raise NotFound(f"the directory of {path} does not exist; create it first") from None
                raise
            self._owned = OwnedPath(path)
            os.chmod(path, 0o600)  # before listen(): nobody can connect in between
            sock.listen(1)
        except BaseException:
            sock.close()
            if self._owned is not None:
                self._owned.close()
            raise
        self._sock = sock

    def close(self) -> None:
        super().close()
        if self._owned is not None:
            self._owned.close()
            self._owned = None


class _TcpListener(_Listener):
    def __init__(self, host: str, port: int):
        family = _socket.AF_INET6 if ":" in host else _socket.AF_INET
        try:
            self._sock = _socket.create_server((host, port), family=family, backlog=1)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise AlreadyExists(
                    f"port {port} on {host} is taken; open tcp://{host}:{port} without create=True to connect "
                    "to it, or create on another port (port 0 picks a free one: see the endpoint's address)"
                ) from None
            raise
        bound_port = self._sock.getsockname()[1]
        self.address = f"tcp://[{host}]:{bound_port}" if ":" in host else f"tcp://{host}:{bound_port}"
