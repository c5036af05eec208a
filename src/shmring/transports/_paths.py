"""Files that name a channel (a FIFO, a unix socket): checking their paths, removing them."""

from __future__ import annotations

import os

from ..channel import AlreadyExists


def absolute_path(scheme: str, rest: str) -> str:
    """The path of ``scheme://rest``, which must be absolute (``fifo:///tmp/x``: three slashes)."""
    if not isinstance(rest, str) or not rest.startswith("/") or "\0" in rest:
        raise ValueError(
            f"a {scheme} address holds an absolute path: '{scheme}:///tmp/name' (three slashes), "
            f"got {scheme}://{rest}"
        )
    return rest


def already_exists(address: str, path: str) -> AlreadyExists:
    return AlreadyExists(
        f"{path} already exists; open {address} without create=True, or remove a leftover with "
        f"shmring.unlink({address!r})"
    )


class OwnedPath:
    """A file this process made for a channel, to remove when the endpoint that made it closes.

    It remembers the file's identity, so it never removes a file someone else
    put at the same path since, and the pid, so a forked child that inherits
    the endpoint never removes its parent's file.
    """

    def __init__(self, path: str):
        st = os.stat(path)
        self.path = path
        self._identity = (st.st_dev, st.st_ino)
        self._pid = os.getpid()

    def close(self) -> None:
        if self._pid != os.getpid() or self.path is None:
            return
        path, self.path = self.path, None
        try:
            st = os.stat(path)
            if (st.st_dev, st.st_ino) == self._identity:
                os.unlink(path)
        except FileNotFoundError:
            pass


def unlink_path(path: str, is_kind, kind_name: str) -> None:
    """Remove a leftover channel file, refusing files of another kind."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not is_kind(mode):
        raise ValueError(f"{path} is not a {kind_name}; shmring.unlink() leaves it alone")
    os.unlink(path)
