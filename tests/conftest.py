"""Suite-wide checks: nothing the tests make may stay behind in /dev/shm."""

import gc
import os

import pytest

from tests.helpers import SHM_DIR, segments_of


@pytest.fixture(autouse=True, scope="session")
def no_segments_left_behind():
    before = segments_of(os.getpid())
    yield
    gc.collect()  # endpoints nobody closed are closed when collected
    left = segments_of(os.getpid()) - before
    for name in left:
        os.unlink(os.path.join(SHM_DIR, name))  # keep the machine clean even when failing
    assert not left, f"shared-memory segments left in {SHM_DIR} by the suite: {sorted(left)}"
