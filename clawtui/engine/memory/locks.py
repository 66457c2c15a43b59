"""The cross-process guard of memory batches: one `flock` per host in the engine's state folder,
so `clawtui mem set` beside `clawtui serve` never runs a batch on a host the other is changing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path


def flock_until(path: Path, deadline: float) -> int | None:
    """Take an exclusive flock on `path` before `deadline` (monotonic); the fd, or None."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(0.02)
        except OSError:
            os.close(fd)
            raise


def unflock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


class Busy(Exception):
    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.host = host
