"""Suite-wide checks: nothing the tests make may stay behind in /dev/shm.

Under wine only: CreateProcess now and then fails with ERROR_INTERNAL_ERROR
(WinError 1359) in the wineserver, about one spawn in a few hundred, before
any code of the child runs. That is wine's, not Windows' nor shmring's, so the
suite retries such a start a few times there instead of failing a test.
"""

import gc
import os

import pytest

from tests.helpers import SHM_DIR, segments_of
from tests.platform_support import UNDER_WINE

WINE_INTERNAL_ERROR = 1359
WINE_CREATE_PROCESS_TRIES = 5


@pytest.fixture(autouse=True, scope="session")
def no_segments_left_behind():
    before = segments_of(os.getpid())
    yield
    gc.collect()  # endpoints nobody closed are closed when collected
    left = segments_of(os.getpid()) - before
    for name in left:
        os.unlink(os.path.join(SHM_DIR, name))  # keep the machine clean even when failing
    assert not left, f"shared-memory segments left in {SHM_DIR} by the suite: {sorted(left)}"


@pytest.fixture(autouse=True, scope="session")
def retry_wines_create_process_errors():
    if not UNDER_WINE:
        yield
        return
    import _winapi

    create_process = _winapi.CreateProcess

    def create_process_retrying(*args):
        for attempt in range(WINE_CREATE_PROCESS_TRIES):
            try:
                return create_process(*args)
            except OSError as e:
                if e.winerror != WINE_INTERNAL_ERROR or attempt == WINE_CREATE_PROCESS_TRIES - 1:
                    raise

    _winapi.CreateProcess = create_process_retrying
    yield
    _winapi.CreateProcess = create_process
