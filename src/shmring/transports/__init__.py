"""Transports: one module each, all implementing the Channel contract.

``pair(kind)`` makes both ends of a new channel for related processes;
``open(address, "r"|"w")`` opens one end by address for unrelated ones.
A new transport joins by adding a line to KINDS (and SCHEMES if it has
addresses). A module serving one scheme has ``open(rest, direction,
create=..., **options)`` (and ``unlink(rest)`` if leftovers can be removed);
one serving several names them ``open_<scheme>`` / ``unlink_<scheme>``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Literal, overload

from ..channel import Receiver, Sender

# kind -> module implementing pair() (and open() for the schemes below)
KINDS = {
    "shm": "shmring.transports.shm",  # lock-free ring in shared memory
    "pipe": "shmring.transports.pipe",  # os.pipe(), or a FIFO by path
    "socket": "shmring.transports.socket",  # socketpair(), or a unix/TCP socket by address
    "queue": "shmring.transports.queue",  # multiprocessing.Queue (pair() only)
}

# address scheme -> kind
SCHEMES = {
    "shm": "shm",  # shm://name
    "fifo": "pipe",  # fifo:///absolute/path
    "unix": "socket",  # unix:///absolute/path
    "tcp": "socket",  # tcp://host:port, tcp://[::1]:port
}

_EXAMPLES = "'shm://name', 'fifo:///tmp/name', 'unix:///tmp/name' or 'tcp://127.0.0.1:5000'"


def _module(kind: str) -> ModuleType:
    try:
        return importlib.import_module(KINDS[kind])
    except KeyError:
        raise ValueError(f"unknown transport {kind!r}; choose one of {', '.join(KINDS)}") from None


def pair(kind: str = "shm", **options: Any) -> tuple[Sender, Receiver]:
    """Both ends of a new channel: ``tx, rx = pair("shm", capacity=1 << 20)``."""
    return _module(kind).pair(**options)  # type: ignore[no-any-return]


def _split(address: str) -> tuple[str, str, ModuleType]:
    if not isinstance(address, str) or "://" not in address:
        raise ValueError(f"an address looks like {_EXAMPLES}, got {address!r}")
    scheme, rest = address.split("://", 1)
    if scheme not in SCHEMES:
        raise ValueError(f"unknown address scheme {scheme!r} in {address!r}; known: {', '.join(SCHEMES)}")
    return scheme, rest, _module(SCHEMES[scheme])


@overload
def open(address: str, direction: Literal["w"], *, create: bool = False, **options: Any) -> Sender: ...
@overload
def open(address: str, direction: Literal["r"], *, create: bool = False, **options: Any) -> Receiver: ...
@overload
def open(address: str, direction: str, *, create: bool = False, **options: Any) -> Sender | Receiver: ...


def open(address: str, direction: str, *, create: bool = False, **options: Any) -> Sender | Receiver:
    """Open one end of the channel at ``address``: "w" gives a Sender, "r" a Receiver.

    Addresses: ``shm://name``, ``fifo:///abs/path``, ``unix:///abs/path``,
    ``tcp://host:port``. ``create=True`` makes the rendezvous point (the
    segment, the FIFO, the listening socket).
    """
    scheme, rest, module = _split(address)
    opener = getattr(module, f"open_{scheme}", None) or module.open
    return opener(rest, direction, create=create, **options)  # type: ignore[no-any-return]


def unlink(address: str) -> None:
    """Remove a leftover named channel (a segment, FIFO or socket file whose processes died, say)."""
    scheme, rest, module = _split(address)
    remover = getattr(module, f"unlink_{scheme}", None) or getattr(module, "unlink", None)
    if remover is None:
        raise ValueError(f"{scheme}:// addresses leave nothing behind to unlink, got {address!r}")
    remover(rest)
