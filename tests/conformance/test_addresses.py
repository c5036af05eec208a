"""Channels opened by address: create, open, NotFound, AlreadyExists, files removed, FIFO and socket rendezvous."""

from __future__ import annotations

import os
import pickle
import stat
import tempfile
import threading
import time

import pytest

import shmring
from tests.conformance.children import WAIT
from tests.conformance.processes import wait_until_blocked
from tests.conformance.availability import FIFO_IS_A_FILE, UNIX_SOCKETS, scheme_params
from tests.platform_support import skip_on_windows

pytestmark = pytest.mark.timeout(30)

FILE_SCHEMES = scheme_params(["fifo", "unix"])


@pytest.fixture
def workdir():
    path = tempfile.mkdtemp(prefix="shmr-addr-")  # short: unix socket paths have at most 107 bytes
    yield path
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))
    os.rmdir(path)


@pytest.mark.parametrize("scheme", FILE_SCHEMES)
@pytest.mark.parametrize("creator", ["r", "w"])
def test_the_file_has_mode_0600_and_goes_when_its_creator_closes(workdir, scheme, creator):
    address = f"{scheme}://{workdir}/chan"
    made = shmring.open(address, creator, create=True)
    path = f"{workdir}/chan"
    opposite = "w" if creator == "r" else "r"
    if scheme == "fifo" and not FIFO_IS_A_FILE:
        # A Windows named pipe is no file: nothing appears in the directory (its
        # owner-only DACL plays mode 0600's part), and its name goes with it.
        assert os.listdir(workdir) == []
    else:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    other = shmring.open(address, opposite, open_timeout=WAIT)
    made.close()
    other.close()
    assert not os.path.exists(path)
    with pytest.raises(shmring.NotFound):
        shmring.open(address, opposite, open_timeout=0)


@pytest.mark.parametrize("scheme", FILE_SCHEMES)
def test_create_on_an_existing_path_is_already_exists(workdir, scheme):
    if scheme == "fifo" and not FIFO_IS_A_FILE:
        pytest.skip("a Windows named pipe lives in \\\\.\\pipe\\, so a file at the path does not take its name "
                    "(test_create_on_a_name_in_use_is_already_exists covers a taken name)")
    with open(f"{workdir}/taken", "w"):
        pass
    with pytest.raises(shmring.AlreadyExists) as e:
        shmring.open(f"{scheme}://{workdir}/taken", "r", create=True)
    assert isinstance(e.value, FileExistsError)
    assert os.path.exists(f"{workdir}/taken")  # not ours: left alone


@pytest.mark.parametrize("scheme", FILE_SCHEMES)
@pytest.mark.parametrize("creator", ["r", "w"])
def test_create_on_a_name_in_use_is_already_exists(workdir, scheme, creator):
    address = f"{scheme}://{workdir}/chan"
    with shmring.open(address, creator, create=True):
        for direction in ("r", "w"):
            with pytest.raises(shmring.AlreadyExists) as e:
                shmring.open(address, direction, create=True)
            assert isinstance(e.value, FileExistsError)


@pytest.mark.parametrize("scheme", FILE_SCHEMES)
@pytest.mark.parametrize("direction", ["r", "w"])
def test_opening_a_missing_path_is_not_found(workdir, scheme, direction):
    with pytest.raises(shmring.NotFound) as e:
        shmring.open(f"{scheme}://{workdir}/missing", direction)
    assert isinstance(e.value, FileNotFoundError)


def test_tcp_create_on_a_taken_port_is_already_exists():
    first = shmring.open("tcp://127.0.0.1:0", "r", create=True)
    try:
        with pytest.raises(shmring.AlreadyExists):
            shmring.open(first.address, "r", create=True)
    finally:
        first.close()


def test_tcp_connecting_to_nothing_is_not_found_after_open_timeout():
    probe = shmring.open("tcp://127.0.0.1:0", "r", create=True)
    address = probe.address
    probe.close()  # a port that nothing listens on now
    start = time.perf_counter()
    with pytest.raises(shmring.NotFound):
        shmring.open(address, "w", open_timeout=0.3)
    assert 0.3 <= time.perf_counter() - start < 3


def test_tcp_port_0_picks_a_port_the_address_shows():
    rx = shmring.open("tcp://127.0.0.1:0", "r", create=True)
    try:
        port = int(rx.address.rsplit(":", 1)[1])
        assert port > 0
        with shmring.open(f"tcp://127.0.0.1:{port}", "w") as tx:
            tx.send(b"found it")
            assert rx.recv(timeout=WAIT) == b"found it"
    finally:
        rx.close()


@pytest.mark.parametrize("address", scheme_params(["unix://{dir}/s", "tcp://127.0.0.1:0"]))
def test_the_creator_accepts_one_peer_in_its_first_call_within_its_timeout(workdir, address):
    rx = shmring.open(address.format(dir=workdir), "r", create=True)
    try:
        with pytest.raises(shmring.Timeout, match="no peer"):
            rx.recv(timeout=0.1)  # nobody connected yet
        with pytest.raises(shmring.ChannelError, match="before its peer"):
            pickle.dumps(rx)
        tx = shmring.open(rx.address, "w")
        tx.send(b"hello")
        assert rx.recv(timeout=WAIT) == b"hello"
        with pytest.raises(shmring.NotFound):  # one peer per channel: the listener is gone
            shmring.open(rx.address, "w", open_timeout=0.1)
        tx.close()
    finally:
        rx.close()


def test_a_fifo_writer_waits_for_a_reader_until_open_timeout(workdir):
    address = f"fifo://{workdir}/f"
    maker = shmring.open(address, "w", create=True)  # returns at once; meets the reader in send()
    try:
        if FIFO_IS_A_FILE:
            start = time.perf_counter()
            with pytest.raises(shmring.Timeout, match="no reader"):
                shmring.open(address, "w", open_timeout=0.2)
            assert 0.2 <= time.perf_counter() - start < 2
        else:  # a Windows pipe has one server, the creator, here its writer: a second writer cannot join
            with pytest.raises(shmring.InUse, match="open its other end"):
                shmring.open(address, "w", open_timeout=0.2)
        with pytest.raises(shmring.Timeout, match="no reader"):
            maker.send(b"x", timeout=0.1)
        with shmring.open(address, "r") as rx:
            maker.send(b"now there is one", timeout=WAIT)
            assert rx.recv(timeout=WAIT) == b"now there is one"
    finally:
        maker.close()


def test_a_fifo_reader_waits_for_its_first_writer_then_sees_it_close(workdir):
    address = f"fifo://{workdir}/f"
    with shmring.open(address, "r", create=True) as rx:
        with pytest.raises(shmring.Timeout):  # no writer yet: not Closed
            rx.recv(timeout=0.1)
        writer = threading.Thread(target=open_and_close_when_blocked, args=(threading.get_native_id(), address))
        writer.start()
        with pytest.raises(shmring.Closed):  # a writer came and went without a message
            rx.recv(timeout=WAIT)
        writer.join(WAIT)


def open_and_close_when_blocked(reader: int, address: str) -> None:
    wait_until_blocked(reader)  # the reader waits inside recv()
    shmring.open(address, "w").close()


@pytest.mark.parametrize("scheme", FILE_SCHEMES)
def test_unlink_removes_a_leftover_and_nothing_else(workdir, scheme):
    skip_on_windows("a leftover needs a process that dies without closing, made here by fork")
    path = f"{workdir}/left"
    pid = os.fork()
    if pid == 0:  # a process that makes the channel and dies without closing it
        endpoint = shmring.open(f"{scheme}://{path}", "r", create=True)  # noqa: F841 (kept: not collected)
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.path.exists(path)
    shmring.unlink(f"{scheme}://{path}")
    assert not os.path.exists(path)
    shmring.unlink(f"{scheme}://{path}")  # gone already: fine
    with open(path, "w"):
        pass
    with pytest.raises(ValueError, match="leaves it alone"):
        shmring.unlink(f"{scheme}://{path}")


@pytest.mark.parametrize(
    "address",
    ["fifo://relative/path", "unix://relative", "tcp://127.0.0.1", "tcp://:80", "tcp://h:port", "bogus://x", "no-scheme"],
)
def test_bad_addresses_say_what_an_address_looks_like(address):
    with pytest.raises(ValueError):
        shmring.open(address, "r", create=True)


@pytest.mark.parametrize("address", scheme_params(["fifo://{dir}/f", "unix://{dir}/s", "tcp://127.0.0.1:0"]))
def test_a_bad_direction_is_refused_and_leaves_nothing(workdir, address):
    with pytest.raises(ValueError, match="'w'"):
        shmring.open(address.format(dir=workdir), "x", create=True)
    assert os.listdir(workdir) == []


@pytest.mark.skipif(UNIX_SOCKETS, reason="this Python has socket.AF_UNIX: unix:// works (the tests above)")
@pytest.mark.parametrize("create", [True, False])
def test_unix_addresses_without_af_unix_say_what_to_use_instead(workdir, create):
    for direction in ("r", "w"):
        with pytest.raises(shmring.ChannelError, match="tcp://127.0.0.1:PORT.*fifo://") as e:
            shmring.open(f"unix://{workdir}/s", direction, create=create)
        assert isinstance(e.value, ValueError)  # as any address this Python cannot use
    with pytest.raises(shmring.ChannelError, match="tcp://"):
        shmring.unlink(f"unix://{workdir}/s")
    assert os.listdir(workdir) == []
