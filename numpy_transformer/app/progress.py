"""A progress bar: tqdm when installed, else a plain line every few percent (no hard dependency)."""
from __future__ import annotations

import sys


class _Plain:
    def __init__(self, total, desc):
        self.total, self.desc, self.n, self.postfix, self._last = total, desc, 0, "", -1

    def set_postfix_str(self, s):
        self.postfix = s

    def update(self, k=1):
        self.n += k
        pct = int(100 * self.n / max(self.total, 1))
        if pct // 10 != self._last // 10 or self.n == self.total:
            self._last = pct
            print(f"{self.desc}: {pct:3d}% {self.n}/{self.total} {self.postfix}", file=sys.stderr, flush=True)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress(total, desc="", disable=False):
    if disable:
        return _Silent()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Plain(total, desc)
    return tqdm(total=total, desc=desc, dynamic_ncols=True, leave=True)


class _Silent(_Plain):
    def __init__(self):
        super().__init__(0, "")

    def update(self, k=1):
        pass
