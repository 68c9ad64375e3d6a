"""Progress: a tqdm bar on a terminal; when stderr is not a terminal (a log file, a pipe, CI) or
tqdm is missing, one plain line per bar when it finishes (e.g. per epoch), not thousands of
carriage-return updates."""
from __future__ import annotations

import sys
import time


class _Plain:
    """Writes one summary line on close: `desc: n/total steps in s (postfix)`."""

    def __init__(self, total, desc):
        self.total, self.desc, self.n, self.postfix, self.t0 = total, desc, 0, "", time.perf_counter()

    def set_postfix_str(self, s):
        self.postfix = s

    def update(self, k=1):
        self.n += k

    def close(self):
        s = time.perf_counter() - self.t0
        print(f"{self.desc}: {self.n}/{self.total} steps in {s:.1f}s" + (f", {self.postfix}" if self.postfix else ""),
              file=sys.stderr, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:      # an interrupted bar says nothing; the caller reports the interruption
            self.close()


def _is_tty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def progress(total, desc="", disable=False, summary=True, leave=True):
    """`summary=False`: off a terminal, write nothing (for a caller that logs its own line, like
    the training loop's per-epoch line). `leave=False`: on a terminal the bar goes when done."""
    if disable:
        return _Silent()
    if not _is_tty(sys.stderr):
        return _Plain(total, desc) if summary else _Silent()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Plain(total, desc)
    return tqdm(total=total, desc=desc, dynamic_ncols=True, leave=leave)


class _Silent(_Plain):
    def __init__(self):
        super().__init__(0, "")

    def close(self):
        pass
