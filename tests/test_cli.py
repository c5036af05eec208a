"""python -m shmring ls | rm | info: the commands besides bench."""

from __future__ import annotations

import pytest

import shmring
from shmring import cli


def test_info_shows_a_live_ring(capsys):
    tx, rx = shmring.pair("shm", capacity=1 << 12)
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
