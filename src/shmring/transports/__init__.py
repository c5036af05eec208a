"""Transports: one module each, all implementing the Channel contract.

``pair(kind)`` makes both ends of a new channel for related processes;
``open(address, "r"|"w")`` opens one end by address for unrelated ones.
A new transport joins by adding a line to KINDS (and SCHEMES if it has
addresses).
"""

from __future__ import annotations

import importlib

# kind -> module implementing pair() (and open() for the schemes below)
KINDS = {
    "shm": "shmring.transports.shm",
}

# address scheme -> kind
SCHEMES = {
    "shm": "shm",
}


def _module(kind: str):
    try:
        return importlib.import_module(KINDS[kind])
    except KeyError:
        raise ValueError(f"unknown transport {kind!r}; choose one of {', '.join(KINDS)}") from None


def pair(kind: str = "shm", **options):
    """Both ends of a new channel: ``tx, rx = pair("shm", capacity=1 << 20)``."""
    return _module(kind).pair(**options)


def open(address: str, direction: str, *, create: bool = False, **options):
    """Open one end of the channel at ``address``: "w" gives a Sender, "r" a Receiver.

    Addresses: ``shm://name``. ``create=True`` makes the rendezvous point.
    """
    if not isinstance(address, str) or "://" not in address:
        raise ValueError(f"an address looks like 'shm://name', got {address!r}")
    scheme, rest = address.split("://", 1)
    if scheme not in SCHEMES:
        raise ValueError(f"unknown address scheme {scheme!r} in {address!r}; known: {', '.join(SCHEMES)}")
    return _module(SCHEMES[scheme]).open(rest, direction, create=create, **options)


def unlink(address: str) -> None:
    """Remove a leftover named channel (a segment whose processes died, say)."""
    scheme, _, rest = address.partition("://")
    if SCHEMES.get(scheme) != "shm":
        raise ValueError(f"unlink() takes a shm:// address, got {address!r}")
    _module("shm").unlink(rest)
