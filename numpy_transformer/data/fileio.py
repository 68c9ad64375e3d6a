"""Atomic file writes (a temporary file in the target's directory, then a rename over it), and
the one-line error for a user's text file that is not UTF-8."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import InputError


def not_utf8(path, lineno, error):
    """The InputError for bytes that are not UTF-8 in line `lineno` (1-based) of `path`;
    `error`: the UnicodeDecodeError of decoding that line, so its position is the line's byte."""
    return InputError(f"{path}: line {lineno} is not valid UTF-8 ({error.reason} at byte {error.start})")


def read_utf8(path):
    """The text of a UTF-8 file (a leading BOM dropped), or not_utf8's error naming the line and
    the byte within it (a binary file passed as data, a file saved in Latin-1)."""
    raw = Path(path).read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        start = raw.rfind(b"\n", 0, e.start) + 1
        e.start -= start                                # its position within the line
        raise not_utf8(path, raw.count(b"\n", 0, start) + 1, e) from None


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
