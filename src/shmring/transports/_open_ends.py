"""Every endpoint open in this process, of every transport, closed at exit.

Closing matters: a stream sender finishes the tail of a message it could not
write whole, an shm end gives its copy back, a FIFO or socket file is
removed. So open endpoints are closed when the interpreter exits, and also
in multiprocessing children, which end with os._exit() and skip atexit:
multiprocessing's own finalizers run there instead. A child started by fork
clears the finalizers it inherited, so the registration is made again in it.
"""

from __future__ import annotations

import multiprocessing.util
import weakref

_open: weakref.WeakSet = weakref.WeakSet()


def add(endpoint) -> None:
    _open.add(endpoint)


def discard(endpoint) -> None:
    _open.discard(endpoint)


def of_type(cls) -> list:
    """The open endpoints that are instances of ``cls`` (for fork hooks)."""
    return [ep for ep in list(_open) if isinstance(ep, cls)]


def _close_all() -> None:
    for ep in list(_open):
        ep.close()


def _close_all_at_exit(_=None) -> None:
    multiprocessing.util.Finalize(None, _close_all, exitpriority=100)


class _AfterFork:
    """The key multiprocessing's after-fork registry holds weakly."""


_after_fork = _AfterFork()
_close_all_at_exit()
multiprocessing.util.register_after_fork(_after_fork, _close_all_at_exit)
