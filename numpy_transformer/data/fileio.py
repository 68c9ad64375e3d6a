"""Atomic file writes: a temporary file in the target's directory, then a rename over it; the
names those temporary files have, so that a run directory can be cleared of the ones a killed
process left behind; the check that a directory takes files at all, made before any work; and
the one-line error for a user's text file that is not UTF-8."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from .errors import InputError, UsageError

# atomic_write's temporary files: mkstemp's ".<target name>." + 8 characters of
# tempfile's alphabet [a-z0-9_] + ".tmp" (".checkpoint.safetensors.k3x_9q2a.tmp")
TEMP_PREFIX, TEMP_SUFFIX = ".{name}.", ".tmp"
ATOMIC_TEMP = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")


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
    (atomic on POSIX and Windows): readers see the old file or the new one, never half.
    A process killed before the rename leaves the temporary file (ATOMIC_TEMP names it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX.format(name=path.name), suffix=TEMP_SUFFIX, dir=path.parent)
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


def remove_temp_files(directory, patterns=(ATOMIC_TEMP,)):
    """Delete the files directly in `directory` whose whole name matches one of `patterns` (the
    temporary files of writers killed mid-write: nothing else); returns their names, sorted."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for f in sorted(directory.iterdir()):
        if any(p.fullmatch(f.name) for p in patterns) and f.is_file() and not f.is_symlink():
            f.unlink(missing_ok=True)
            removed.append(f.name)
    return removed


def check_writable(directory, flag):
    """Before any work: can files be written in `directory`, or, where it does not exist yet, in
    its nearest existing parent (where it will be made)? A probe file is created and removed
    there (os.access is not enough: root passes it on a 0555 directory, and it says nothing of
    a full disk). A UsageError names the directory and the cause."""
    directory = Path(directory)
    there = directory
    while not there.exists() and there != there.parent:
        there = there.parent
    if not there.is_dir():
        raise UsageError(f"{flag} {directory}: {there} is a file, not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=TEMP_PREFIX.format(name="write-probe"), suffix=TEMP_SUFFIX, dir=there)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        what = "cannot write there" if there == directory else f"cannot create it in {there}"
        raise UsageError(f"{flag} {directory}: {what} ({e.strerror or e})") from None
