"""What this Python lacks of the transports, as skip marks that say why."""

from __future__ import annotations

import socket
import sys

import pytest

from tests.platform_support import WINDOWS

# Windows CPython (3.10 to 3.13 at least) has no socket.AF_UNIX: shmring refuses
# unix:// there with a ValueError naming the alternatives (test_addresses checks it).
UNIX_SOCKETS = hasattr(socket, "AF_UNIX")
needs_unix_sockets = pytest.mark.skipif(
    not UNIX_SOCKETS,
    reason=f"unix:// needs socket.AF_UNIX, which Python on {sys.platform} lacks (tcp:// and fifo:// serve instead)",
)

# fifo:// on Windows is a named pipe, which lives in the pipe namespace (\\.\pipe\...), not as a file.
FIFO_IS_A_FILE = not WINDOWS


def scheme_params(schemes):
    """pytest params for the address schemes ``schemes``, unix skipped where it cannot exist."""
    return [pytest.param(s, marks=needs_unix_sockets) if s.startswith("unix") else s for s in schemes]


