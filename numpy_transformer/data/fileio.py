"""Atomic file writes: a temporary file in the target's directory, then a rename over it."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path, write):
    """Call write(tmp_path) on a temporary file beside `path`, fsync it, give it the usual
    permissions (0666 less the umask; mkstemp makes it 0600), then os.replace it over `path`
    (atomic on POSIX and Windows): readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
