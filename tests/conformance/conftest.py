"""One fixture over every transport: adding a transport is one line in TRANSPORTS.

Every test of this directory that takes ``transport`` runs once per entry.
Transports differ only in what they declare here, and a test that cannot
apply to one says why in its skip message.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Callable

import pytest

import shmring
from tests.conformance.availability import needs_unix_sockets

MAX = 64 * 1024  # max_message_size of the byte-stream and queue channels: small keeps the suite fast


def _shm(workdir, **options):
    return shmring.pair("shm", **{"capacity": 2 * MAX, **options})


def _shm_mpmc(workdir, **options):
    return shmring.pair("shm", **{"mode": "mpmc", "slots": 16, "slot_size": MAX, **options})


def _pipe(workdir, **options):
    return shmring.pair("pipe", **{"max_message_size": MAX, **options})


def _socket(workdir, **options):
    return shmring.pair("socket", **{"max_message_size": MAX, **options})


def _queue(workdir, **options):
    # bounded, so that "full" means the same as for the others
    return shmring.pair("queue", **{"max_message_size": MAX, "maxsize": 64, **options})


def _by_address(address):
    """Make a named channel: the receiving end creates it, the sending end connects."""

    def make(workdir, **options):
        options = {"max_message_size": MAX, **options}
        rx = shmring.open(address.format(dir=workdir), "r", create=True, **options)
        try:
            tx = shmring.open(rx.address, "w", **options)
        except BaseException:
            rx.close()
            raise
        return tx, rx

    return make


@dataclass(frozen=True)
class Transport:
    name: str
    make: Callable  # make(workdir, **options) -> (Sender, Receiver)
    byte_stream: bool  # frames on a byte stream the tests can reach through fileno()
    can_cut: bool  # a sender killed while writing a message leaves part of it: the receiver says Corrupt
    committed_on_return: bool  # a message survives its sender's death once send() returned

    def __str__(self):
        return self.name


TRANSPORTS = [
    Transport("shm", _shm, byte_stream=False, can_cut=False, committed_on_return=True),
    Transport("shm-mpmc", _shm_mpmc, byte_stream=False, can_cut=False, committed_on_return=True),
    Transport("pipe", _pipe, byte_stream=True, can_cut=True, committed_on_return=True),
    Transport("socket", _socket, byte_stream=True, can_cut=True, committed_on_return=True),
    # multiprocessing.Queue: its feeder thread writes after put() returns, and writes big messages in pieces
    Transport("queue", _queue, byte_stream=False, can_cut=True, committed_on_return=False),
    Transport("fifo", _by_address("fifo://{dir}/fifo"), byte_stream=True, can_cut=True, committed_on_return=True),
    Transport("unix", _by_address("unix://{dir}/sock"), byte_stream=True, can_cut=True, committed_on_return=True),
    Transport("tcp", _by_address("tcp://127.0.0.1:0"), byte_stream=True, can_cut=True, committed_on_return=True),
]


class Channels:
    """Makes channels of one transport for a test and closes them after it."""

    def __init__(self, spec: Transport, workdir: str):
        self.spec = spec
        self.name = spec.name
        self._workdir = workdir
        self._made = []
        self._count = 0

    def make(self, **options):
        self._count += 1
        workdir = f"{self._workdir}/{self._count}"
        os.mkdir(workdir)
        tx, rx = self.spec.make(workdir, **options)
        self._made.append((tx, rx))
        return tx, rx

    def close_all(self):
        for tx, rx in self._made:
            rx.close()  # first: a sender that still has a message half-written stops waiting for it
            tx.close()


@pytest.fixture(params=[pytest.param(t, marks=needs_unix_sockets) if t.name == "unix" else t for t in TRANSPORTS],
                ids=str)
def transport(request):
    workdir = tempfile.mkdtemp(prefix="shmr-conf-")  # short: a unix socket path has at most 107 bytes
    channels = Channels(request.param, workdir)
    yield channels
    try:
        channels.close_all()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def channel(transport):
    """(Sender, Receiver) of a new channel of each transport."""
    return transport.make()
