"""Torture: a full /dev/shm (issue 13), in a private mount namespace.

A child process unshares its mount namespace (CLONE_NEWNS), makes every
mount in it private (MS_REC | MS_PRIVATE on /, so nothing propagates back
to the host) and mounts a 1 MiB tmpfs on /dev/shm, where glibc's shm_open
puts segments. There it checks what README promises ("a segment that does
not fit fails at creation, never later"; segment_posix.c reserves the
memory with posix_fallocate):

- a ring larger than the whole tmpfs (spsc by pair(), mpmc, and a named
  ring by open(create=True)) fails at creation with OSError ENOSPC, with a
  message naming /dev/shm, and leaves nothing in /dev/shm;
- a ring that fits works: three laps of full-size messages, so every page
  of the ring is written and read;
- a 64 KiB ring made before /dev/shm fills up works, every page of it,
  once it is full (its memory was reserved at creation);
- with /dev/shm filled up by a file, even the smallest ring (spsc, mpmc,
  named) fails the same way, and nothing is left behind;
- with 64 KiB freed again, a ring needing more fails and a 16 KiB one
  works, every page of it.

None of it may SIGBUS: the parent sees the child's exit status. The child
reports through a pipe. The test skips where the namespace or the mount is
not allowed (not Linux, not root / no CAP_SYS_ADMIN, a seccomp profile that
forbids unshare or mount), saying why.
"""

from __future__ import annotations

import errno
import os
import signal
import sys

import pytest

from tests import torture_children as kids
from tests.platform_support import QUICK_START

TMPFS_BYTES = 1 << 20

pytestmark = [
    pytest.mark.torture,
    pytest.mark.skipif(sys.platform != "linux", reason="mount namespaces and /dev/shm are Linux's"),
]


def run_in_private_namespace() -> dict:
    # fork: the child must be single-threaded for unshare(CLONE_NEWNS) to
    # cover the whole process, and it needs nothing but this module.
    reader, writer = QUICK_START.Pipe(duplex=False)
    child = QUICK_START.Process(target=kids.full_dev_shm, args=(writer, TMPFS_BYTES), daemon=True)
    child.start()
    writer.close()
    try:
        got = reader.recv() if reader.poll(60) else None
    except EOFError:
        got = None
    child.join(30)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("the child was still running 30 s after it reported")
    if child.exitcode and child.exitcode < 0:
        name = signal.Signals(-child.exitcode).name
        pytest.fail(f"the child was killed by {name} (its report: {got!r})")
    assert got is not None, f"the child exited with {child.exitcode} without reporting"
    return got


def assert_refused(outcome, what):
    kind, err, message, left = outcome
    assert kind == "OSError", f"{what}: expected OSError ENOSPC, got {kind}: {message}"
    assert err == errno.ENOSPC, f"{what}: expected ENOSPC, got errno {err}: {message}"
    assert "/dev/shm" in message, f"{what}: the message does not name /dev/shm: {message}"
    assert [n for n in left if n != "filler"] == [], f"{what}: left behind in /dev/shm: {left}"


def assert_worked(outcome, what):
    kind, err, message, left = outcome
    assert kind == "ok", f"{what}: expected a working ring, got {kind} (errno {err}): {message}"
    assert [n for n in left if n != "filler"] == [], f"{what}: left behind in /dev/shm after close: {left}"


@pytest.mark.timeout(120)
def test_a_full_dev_shm_fails_ring_creation_cleanly_and_never_with_sigbus():
    host_before = os.statvfs("/dev/shm")
    got = run_in_private_namespace()
    if "skip" in got:
        pytest.skip(got["skip"])
    assert "error" not in got, f"the child failed: {got['error']}"
    assert got["tmpfs_bytes"] == TMPFS_BYTES, f"/dev/shm in the child is {got['tmpfs_bytes']} bytes, not our tmpfs"

    assert_refused(got["too_big_spsc"], "an spsc ring larger than /dev/shm")
    assert_refused(got["too_big_mpmc"], "an mpmc ring larger than /dev/shm")
    assert_refused(got["too_big_named"], "a named ring larger than /dev/shm")
    assert_worked(got["fits"], f"a ring of {got['fits_capacity']} bytes in {got['free_at_start']} free")

    assert got["free_when_full"] < 4096, f"the filler left {got['free_when_full']} bytes free"
    assert_worked(got["made_before_full"], "a 64 KiB ring made before /dev/shm filled up, used after")
    assert_refused(got["full_smallest"], "the smallest spsc ring in a full /dev/shm")
    assert_refused(got["full_mpmc"], "the smallest mpmc ring in a full /dev/shm")
    assert_refused(got["full_named"], "a named ring in a full /dev/shm")

    assert 64 * 1024 <= got["free_after_trim"] < (1 << 17) + 4096
    assert_refused(got["partly_free_too_big"], f"a 128 KiB ring in {got['free_after_trim']} bytes free")
    assert_worked(got["partly_free_fits"], f"a 16 KiB ring in {got['free_after_trim']} bytes free")
    assert got["left_in_dev_shm"] == [], f"left in the private /dev/shm: {got['left_in_dev_shm']}"

    # The mount stayed in the child's namespace.
    host_after = os.statvfs("/dev/shm")
    assert (host_after.f_blocks, host_after.f_frsize) == (host_before.f_blocks, host_before.f_frsize)
    assert not os.path.exists("/dev/shm/filler")
