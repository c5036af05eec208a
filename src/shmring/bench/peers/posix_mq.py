"""posix-ipc: a POSIX message queue (mq_send / mq_receive) each way.

The queues are kernel objects opened by name (the ends travel as the name,
named.py). ``send`` blocks while the queue is full; ``receive`` blocks in the
kernel until a message comes, the library's normal use. Linux caps a
queue's message size at /proc/sys/fs/mqueue/msgsize_max (8 KiB by default)
and its depth at /proc/sys/fs/mqueue/msg_max (10): larger steps are skipped,
and the depth is the most the system allows.
"""

from __future__ import annotations

from ..contenders import Contender
from .named import NamedEnd, unique_name


def _kernel_limit(name: str, default: int) -> int:
    try:
        with open(f"/proc/sys/fs/mqueue/{name}") as f:
            return int(f.read())
    except (OSError, ValueError):
        return default


MAX_MESSAGE = _kernel_limit("msgsize_max", 8192)
DEPTH = _kernel_limit("msg_max", 10)


class _End(NamedEnd):
    def _open(self, create: bool) -> None:
        import posix_ipc

        flags = posix_ipc.O_CREX if create else 0
        self._queue = posix_ipc.MessageQueue(self.name, flags, max_messages=DEPTH,
                                             max_message_size=min(self.max_size, MAX_MESSAGE))
        self._bind_ready()

    def _bind_ready(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        import posix_ipc

        self._queue.close()
        try:
            self._queue.unlink()  # whichever end closes first removes the name
        except posix_ipc.ExistentialError:
            pass


class Sender(_End):
    def _bind_ready(self) -> None:
        self.send = self._queue.send


class Receiver(_End):
    def _bind_ready(self) -> None:
        receive = self._queue.receive

        def recv() -> bytes:
            return receive()[0]  # (message, priority)

        self.recv = recv


def make_pair(max_size: int):
    name = "/" + unique_name("shmring-bench-")
    return Sender(name, max_size), Receiver(name, max_size)


def _unsupported() -> str | None:
    import posix_ipc

    return None if posix_ipc.MESSAGE_QUEUES_SUPPORTED else "this OS has no POSIX message queues"


class _PosixPeer(Contender):
    def unavailable(self) -> str | None:
        return super().unavailable() or _unsupported()


PEER = _PosixPeer("posix-ipc MessageQueue", make_pair, module="posix_ipc", package="posix-ipc",
                  max_size=MAX_MESSAGE,
                  max_size_reason=f"over the kernel's mqueue message limit ({MAX_MESSAGE} B, "
                                  "/proc/sys/fs/mqueue/msgsize_max)",
                  how=f"MessageQueue(max_messages={DEPTH}); blocking send, receive")
