"""Univariate series for the book's RNN chapters: a generated sunspot-like monthly series
shipped with the package, a CSV reader for the real one, min-max scaling, windowed samples and
the book's Fibonacci data (chapter 9)."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from .errors import InputError, MissingFileError
from .fileio import read_utf8

SHIPPED_SERIES = Path(__file__).resolve().parents[1] / "data" / "seasonal_series.csv"


def seasonal_series(n_months=2820, seed=0):
    """A sunspot-like monthly series (the book uses the monthly sunspot numbers 1749-1983,
    2,820 months): solar cycles of 9.5-12.5 years whose peaks vary from cycle to cycle (60-200),
    a fast rise and slow decay within each cycle, never negative, with noise that grows with
    the level (counts are noisier when there are more spots). Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    values, t = [], 0
    while t < n_months:
        length = int(rng.integers(114, 151))           # months in this cycle
        peak = rng.uniform(60, 200)
        phase = np.arange(length) / length
        shape = np.sin(np.pi * phase ** 0.6) ** 2       # rises in ~35 % of the cycle, decays slower
        values.append(peak * shape)
        t += length
    base = np.concatenate(values)[:n_months]
    noisy = base + rng.normal(0.0, 4.0 + 0.15 * base)
    return np.round(np.maximum(noisy, 0.0), 1)


def write_series_csv(path, values, start_year=1749):
    """The layout of the real monthly-sunspots.csv: "Month,Sunspots" then "1749-01,58.0"."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Month", "Sunspots"])
        for i, v in enumerate(values):
            w.writerow([f"{start_year + i // 12}-{i % 12 + 1:02d}", f"{v:.1f}"])


def load_series(path=None):
    """The last column of a CSV as float64 (a header line is skipped; e.g. the monthly sunspots
    file "Month","Sunspots"); default: the series shipped in the package. Clear errors for a
    missing file, bytes that are not UTF-8, a non-numeric entry or a series too short to window."""
    path = Path(path) if path else SHIPPED_SERIES
    if not path.is_file():
        raise MissingFileError(f"series file not found: {path}")
    values = []
    for i, row in enumerate(csv.reader(io.StringIO(read_utf8(path), newline=""))):
        if not row or not "".join(row).strip():
            continue
        try:
            values.append(float(row[-1]))
        except ValueError:
            if i == 0:
                continue                               # header
            raise InputError(f"{path}, line {i + 1}: last column {row[-1]!r} is not a number") from None
    a = np.asarray(values, np.float64)
    if a.size < 3:
        raise InputError(f"{path}: needs at least 3 numbers, found {a.size}")
    if not np.all(np.isfinite(a)):
        raise InputError(f"{path}: holds NaN/inf at line(s) {(np.flatnonzero(~np.isfinite(a)) + 2)[:5].tolist()}")
    return a


class MinMaxScaler:
    """x' = (x − min) / (max − min), fitted on the training part only (the book fits on the
    whole series, which lets the test period's range leak into training)."""

    def __init__(self, values):
        self.lo, self.hi = float(np.min(values)), float(np.max(values))
        if not self.hi > self.lo:
            raise InputError("MinMaxScaler: the training values are all equal; nothing to scale")

    def transform(self, x):
        return (np.asarray(x, np.float64) - self.lo) / (self.hi - self.lo)

    def inverse(self, x):
        return np.asarray(x, np.float64) * (self.hi - self.lo) + self.lo


def make_windows(series, time_steps, stride=1):
    """Samples X[i] = series[s : s + time_steps], y[i] = series[s + time_steps] for
    s = 0, stride, 2·stride, … (stride = time_steps gives the book's non-overlapping windows).
    Returns X (N, time_steps, 1), y (N, 1)."""
    series = np.asarray(series)
    if time_steps < 1 or stride < 1:
        raise ValueError(f"time_steps and stride must be >= 1, got {time_steps}, {stride}")
    starts = np.arange(0, len(series) - time_steps, stride)
    if starts.size == 0:
        raise ValueError(f"a series of {len(series)} values has no window of {time_steps} steps plus a target")
    idx = starts[:, None] + np.arange(time_steps)
    return series[idx][:, :, None], series[starts + time_steps][:, None]


def split_series(series, train_fraction=0.8, time_steps=12, stride=1):
    """The book's split: the first train_fraction of the series for training, the rest for
    testing (in time order: the test period is the future), each windowed on its own; the test
    windows start time_steps before the split so the first test target is the first value
    after it. Scaled by a MinMaxScaler fitted on the training part. Returns
    (X_train, y_train, X_test, y_test, scaler, first_test_index)."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    n = int(len(series) * train_fraction)
    if n <= time_steps or len(series) - n < 1:
        raise InputError(f"a series of {len(series)} values is too short for time_steps={time_steps} "
                         f"and train_fraction={train_fraction}")
    scaler = MinMaxScaler(series[:n])
    scaled = scaler.transform(series)
    Xtr, ytr = make_windows(scaled[:n], time_steps, stride)
    Xte, yte = make_windows(scaled[n - time_steps:], time_steps, 1)
    return Xtr, ytr, Xte, yte, scaler, n


def fibonacci_data(total=1200, time_steps=20, train_fraction=0.7, seed=13):
    """The book's chapter-9 data: the Fibonacci numbers 1, 2, 3, 5, … (`total` of them),
    min-max scaled to [0, 1], every window of `time_steps` numbers with the next number as
    the target, split at random (RandomState(13) as in the book) into train and test. The
    numbers grow as φ^n, so after scaling all but the last few dozen are ~0: the error is
    decided by the windows near the end of the sequence. Returns Xtr, ytr, Xte, yte
    ((N, T, 1) and (N, 1)) and the test windows' positions in the sequence."""
    if total < time_steps + 2:
        raise InputError(f"total ({total}) must exceed time_steps + 1 ({time_steps + 1})")
    if total > 1470:
        raise InputError(f"total ({total}) > 1470: the 1471st Fibonacci number overflows float64")
    seq = np.zeros(total)
    a, b = 0.0, 1.0
    for i in range(total):
        seq[i] = a + b
        a, b = b, seq[i]
    seq = (seq - seq.min()) / (seq.max() - seq.min())
    X, y = make_windows(seq, time_steps, 1)
    idx = np.random.RandomState(seed).permutation(len(X))
    k = int(train_fraction * len(X))
    tr, te = idx[:k], idx[k:]
    return X[tr], y[tr], X[te], y[te], te


def fibonacci_like_data(n=1200, time_steps=20, train_fraction=0.7, seed=13):
    """Many Fibonacci-like sequences instead of the book's one: each sample starts from its own
    random pair x_1, x_2 ~ U(0, 1) and follows x_{t+1} = x_t + x_{t-1}; the input is
    x_1 … x_T, the target x_{T+1}. Everything is divided by the largest possible target (the
    one of x_1 = x_2 = 1), so targets fall in (0, 1] and spread over that range: the net has
    to learn the rule (x_{T+1} = x_T + x_{T-1}), not the end of one sequence. Returns Xtr, ytr,
    Xte, yte ((N, T, 1), (N, 1)) and the test rows' indices."""
    if n < 2 or time_steps < 2:
        raise InputError(f"need n >= 2 samples and time_steps >= 2, got {n}, {time_steps}")
    rng = np.random.default_rng(seed)
    seq = np.empty((n + 1, time_steps + 1))
    seq[:, :2] = rng.uniform(0, 1, (n + 1, 2))
    seq[-1, :2] = 1.0                                  # the bound, dropped below
    for t in range(2, time_steps + 1):
        seq[:, t] = seq[:, t - 1] + seq[:, t - 2]
    seq = seq[:-1] / seq[-1, -1]
    X, y = seq[:, :time_steps, None], seq[:, time_steps:]
    k = int(train_fraction * n)
    return X[:k], y[:k], X[k:], y[k:], np.arange(k, n)
