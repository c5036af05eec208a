"""iceoryx2: zero-copy publish-subscribe over shared memory (a service opened by name).

Used as its Python examples use it for dynamic-size data: a service of
``Slice[c_uint8]``; the sender loans a sample, copies the message in and
sends it; the receiver polls ``Subscriber.receive()`` (iceoryx2's lowest
latency: no event or wait-set in the loop) and copies the payload out to
bytes (``recv``) or into a reused buffer (``recv_into``). Every message is
delivered, as on every other row: safe overflow is off and a full subscriber
buffer (16 samples) makes the publisher retry (``RetryUntilDelivered``).
Ports do not pickle: the ends travel as the service name (named.py).
"""

from __future__ import annotations

import ctypes

from ..contenders import Contender
from .named import NamedEnd, unique_name

BUFFER = 16  # samples a subscriber holds before the publisher has to wait
_node = None  # one iceoryx2 node per process


def _service(name: str, create: bool):
    import iceoryx2 as iox2

    global _node
    if _node is None:
        iox2.set_log_level(iox2.LogLevel.Error)  # keep "no config file, using defaults" off the terminal
        _node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
    builder = (_node.service_builder(iox2.ServiceName.new(name))
               .publish_subscribe(iox2.Slice[ctypes.c_uint8])
               .enable_safe_overflow(False)
               .subscriber_max_buffer_size(BUFFER)
               .history_size(0))
    return builder.create() if create else builder.open()


class Sender(NamedEnd):
    def _open(self, create: bool) -> None:
        import iceoryx2 as iox2

        self._service = _service(self.name, create)
        self._publisher = (self._service.publisher_builder()
                           .initial_max_slice_len(self.max_size)
                           .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
                           .create())
        loan, memmove = self._publisher.loan_slice_uninit, ctypes.memmove

        def send(data) -> None:
            sample = loan(len(data))
            memmove(sample.payload_ptr, data, len(data))
            sample.assume_init().send()

        self.send = send

    def _close(self) -> None:
        self._publisher.delete()
        self._service = None


class Receiver(NamedEnd):
    def _open(self, create: bool) -> None:
        self._service = _service(self.name, create)
        self._subscriber = self._service.subscriber_builder().buffer_size(BUFFER).create()
        receive, string_at, memmove = self._subscriber.receive, ctypes.string_at, ctypes.memmove

        def recv() -> bytes:
            while True:
                sample = receive()
                if sample is not None:
                    data = string_at(sample.payload_ptr, sample.header.number_of_elements)
                    sample.delete()  # hand the sample back to the publisher's pool now
                    return data

        def recv_into(buffer) -> int:
            while True:
                sample = receive()
                if sample is not None:
                    n = sample.header.number_of_elements
                    if n > len(buffer):
                        raise ValueError(f"a {n}-byte message does not fit a {len(buffer)}-byte buffer")
                    memmove((ctypes.c_char * len(buffer)).from_buffer(buffer), sample.payload_ptr, n)
                    sample.delete()
                    return n

        self.recv = recv
        self.recv_into = recv_into

    def _close(self) -> None:
        self._subscriber.delete()
        self._service = None


def make_pair(max_size: int):
    name = unique_name("shmring-bench-")
    return Sender(name, max_size), Receiver(name, max_size)


PEER = Contender("iceoryx2 publish-subscribe", make_pair, module="iceoryx2", package="iceoryx2",
                 how="Slice[c_uint8] service; loan + copy + send, polls receive()")
