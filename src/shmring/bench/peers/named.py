"""Ends that travel to the child as a name and open the library's object where they are used.

Some libraries' objects cannot be pickled (a zmq socket, an iceoryx2
publisher, a POSIX message queue descriptor). Their adapters subclass
NamedEnd: the pickled form is the name and the message size only, and
``open(create)`` makes the real object in the process that calls it. After
``open`` the subclass binds ``send`` / ``recv`` / ``recv_into`` as instance
attributes, straight to the library's methods where it can, so an adapter
adds no Python call of its own to each message.
"""

from __future__ import annotations

import os
import secrets


def unique_name(prefix: str) -> str:
    """A name no other process on the machine is using."""
    return f"{prefix}{os.getpid()}-{secrets.token_hex(4)}"


class NamedEnd:
    def __init__(self, name: str, max_size: int):
        self.name = name
        self.max_size = max_size
        self._opened = False

    def open(self, create: bool) -> None:
        """Make the library's object: the creating side first, then the other (which joins it)."""
        self._open(create)
        self._opened = True

    def close(self) -> None:
        if self._opened:
            self._opened = False
            self._close()

    def __getstate__(self):
        return {"name": self.name, "max_size": self.max_size, "_opened": False}

    def _open(self, create: bool) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError
