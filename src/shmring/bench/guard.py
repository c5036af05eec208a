"""Stop waiting on a child that died or hangs, instead of waiting for ever.

A receiver that polls (cloudtoid, iceoryx2) or blocks on a kernel object
(a message queue) never learns that the process on the other side died. A
watcher thread waits on the child's exit and on a deadline; whichever comes
first while the parent is still inside the guarded block, it sends SIGALRM
to the main thread, whose handler raises there: a blocking system call
returns EINTR, a polling loop sees the exception at its next bytecode.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from multiprocessing.connection import wait


class ChildLost(RuntimeError):
    pass


@contextmanager
def child_guard(child, seconds: float, what: str):
    main = threading.main_thread()
    if threading.current_thread() is not main or not hasattr(signal, "pthread_kill"):
        yield  # signals reach only the main thread; elsewhere, no guard
        return
    lock, state = threading.Lock(), {"inside": True, "why": ""}

    def watch():
        exited = wait([child.sentinel], timeout=seconds)
        with lock:
            if state["inside"]:
                state["why"] = (f"{what}: the child exited (code {child.exitcode}) before the end" if exited
                                else f"{what} did not finish within {seconds:.0f} s")
                signal.pthread_kill(main.ident, signal.SIGALRM)

    def expire(signum, frame):
        raise ChildLost(state["why"])

    previous = signal.signal(signal.SIGALRM, expire)
    watcher = threading.Thread(target=watch, name="bench child guard", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        try:
            with lock:
                state["inside"] = False  # from here on the watcher sends nothing
        finally:
            # Restored only now: a signal sent just before is delivered by the time
            # the lock is ours, and raises ChildLost here rather than ending the process.
            signal.signal(signal.SIGALRM, previous)
