"""python -m shmring ls | rm | info: the commands besides bench."""

from __future__ import annotations

import sys

import pytest

import shmring
from shmring import cli
from tests import helpers as h


def test_info_shows_a_live_ring(capsys):
    address = "shm://" + h.unique_name()
    tx = shmring.open(address, "w", create=True, capacity=1 << 12)
    rx = shmring.open(address, "r")
    with tx, rx:
        name = tx.address.removeprefix("shm://")
        assert cli.main(["info", name]) == 0
        assert name in capsys.readouterr().out


@pytest.mark.parametrize("argv, says", [
    (["info", "no-such-ring"], "no shared-memory ring named"),
    (["rm", "bad/name"], "name is 1 to"),
])
def test_a_wrong_name_is_one_line_on_stderr_and_exit_status_2(capsys, argv, says):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err and err.count("\n") == 1


@pytest.mark.skipif(sys.platform != "win32", reason="Windows: a ring cannot be removed, only released by its holders")
def test_rm_on_windows_says_who_keeps_the_ring(capsys):
    tx, rx = shmring.pair("shm", capacity=1 << 12)
    with tx, rx:
        assert cli.main(["rm", tx.address]) == 1
        err = capsys.readouterr().err
        assert "cannot be removed on Windows" in err and "2 live end holder(s)" in err
        tx.send(b"still here")
        assert rx.recv(timeout=5) == b"still here"


@pytest.mark.skipif(sys.platform != "win32", reason="Windows keeps no list of sections")
def test_ls_on_windows_says_listing_is_not_available(capsys):
    assert cli.main(["ls"]) == 2
    assert "name the ring" in capsys.readouterr().err
