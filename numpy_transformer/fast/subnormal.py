"""Keeping subnormal numbers out of the hot path.

Softmax probabilities of confident rows reach the subnormal range (exp(−88) in float32), and
subnormal operands make a CPU's multiply-adds, and so every GEMM they enter, many times slower
(docs/performance.md has the measurements). TensorFlow sets
the CPU to flush subnormals to zero; NumPy cannot, so we zero the entries that would create
them. Anything ≥ tiny/eps times a factor ≥ eps is still a normal number, and an entry below
tiny/eps is below the dtype's precision in any sum with a normal number, so the results change
by less than the rounding they already carry (tested against the plain ops in float64).
"""
from __future__ import annotations

import numpy as np


def tiny_threshold(dtype):
    """tiny/eps of the dtype: 1e-31 in float32, 1e-292 in float64."""
    fi = np.finfo(dtype)
    return fi.tiny / fi.eps


def flush_tiny(p):
    """Zero the entries of a non-negative array (probabilities) below tiny/eps, in place."""
    np.putmask(p, p < tiny_threshold(p.dtype), 0)   # p ≥ 0: no abs() temporary of p's size
    return p


def flush_tiny_signed(a, scratch):
    """Zero the entries of `a` with |a| below tiny/eps, in place; `scratch` is a buffer of a's
    shape for |a| (Adam's decaying m and v)."""
    np.putmask(a, np.abs(a, out=scratch) < tiny_threshold(a.dtype), 0)
    return a
