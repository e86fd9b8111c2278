"""Files that survive a crash whole: written beside their place, flushed to disk, renamed over it.

A reader sees the old file or the new one, never part of either; after `write_atomically`
returns, a power cut keeps the new file (its directory entry is flushed too). Used for the
files auditlog writes outside its databases: published tiles in a directory, a witness's
state, fetched copies of published projections, evidence.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` (its directory made if missing); OSError as the OS raised it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_directory(path.parent)


def fsync_directory(path: Path) -> None:
    """Flush a directory's entries (a rename in it) to disk, where the platform allows."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
