"""The position-wise feed-forward network with its ReLU in place (ops/feedforward.py computes
the same with two more arrays of (B, T, d_ff))."""
from __future__ import annotations

import numpy as np

from ..ops.feedforward import FFNCache
from ..ops.linear import linear_backward, linear_forward


def feed_forward_forward(x, p):
    """As ops.feedforward.feed_forward_forward; the ReLU overwrites the first GEMM's output."""
    h = linear_forward(x, p["linear1.weight"], p["linear1.bias"])[0]
    a = np.maximum(h, 0, out=h)
    y = linear_forward(a, p["linear2.weight"], p["linear2.bias"])[0]
    return y, FFNCache(x, a)


def feed_forward_backward(dy, cache, p):
    """As ops.feedforward.feed_forward_backward; the ReLU's gradient overwrites da."""
    x, a = cache
    da, dw2, db2 = linear_backward(dy, a, p["linear2.weight"])
    dh = np.multiply(da, a > 0, out=da)
    dx, dw1, db1 = linear_backward(dh, x, p["linear1.weight"])
    return dx, {"linear1.weight": dw1, "linear1.bias": db1, "linear2.weight": dw2, "linear2.bias": db2}
