"""Files commonmode writes: private to the user, whatever the umask.

The database, reports and tickets map who can change an organisation's DNS and read its secrets, so every
file commonmode creates is 0600 and every folder it creates is 0700 (README, "Security model"). Files and
folders that already exist keep the mode their owner gave them.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parents with mode 0700 (existing folders are left as they are)."""
    missing: list[Path] = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(d, DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def create_private(path: Path) -> bool:
    """Create an empty file with mode 0600 unless it exists (its folder too, 0700). True if it created it."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    os.fchmod(fd, FILE_MODE)  # the umask may have taken bits off
    os.close(fd)
    return True


def write_private(path: Path, text: str) -> Path:
    """Write `text` to `path`; a file this creates is 0600 and a folder 0700, whatever the umask."""
    create_private(path)
    path.write_text(text, encoding="utf-8")
    return path
