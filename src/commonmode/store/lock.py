"""One scan at a time per store: an OS file lock beside the database, taken before collecting.

The lock is `fcntl.flock` on `<db>.lock`, so the kernel releases it when the process ends, however it ends
(a killed scan leaves no stale lock; the file itself is only where the holder's pid is written).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from commonmode.errors import UsageError
from commonmode.files import create_private

POLL_SECONDS = 0.2


class ScanLock:
    """`with ScanLock(db, wait=30):` holds the store's scan lock, waiting up to `wait` seconds for it."""

    def __init__(self, db: Path, *, wait: float = 0.0) -> None:
        self.db, self.wait = db, wait
        self.path = db.with_name(db.name + ".lock")
        self._fd: int | None = None

    def __enter__(self) -> ScanLock:
        create_private(self.path)
        fd = os.open(self.path, os.O_RDWR)
        deadline = time.monotonic() + max(self.wait, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    waited = f" (waited {self.wait:g} s)" if self.wait else ""
                    raise UsageError(f"another scan is running on {self.db} (pid {holder}){waited}; "
                                     "pass --wait SECONDS to wait for it") from None
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
