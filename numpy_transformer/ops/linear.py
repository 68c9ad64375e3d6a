"""The linear (dense) layer y = x W + b, forward beside backward."""
from __future__ import annotations

import numpy as np


def matmul2d(x, w):
    """x (..., k) @ w (k, n) as one 2-D GEMM over the flattened leading axes (np.matmul on a
    3-D x would loop over the batch axis, one small GEMM per matrix)."""
    y = np.matmul(x.reshape(-1, x.shape[-1]), w)
    return y.reshape(*x.shape[:-1], w.shape[-1])


def linear_forward(x, weight, bias):
    """y = x W + b over the last axis: x (..., in), W (in, out), b (out,).
    The cache is x itself (the backward needs it for dW). matmul2d's one 2-D GEMM, written out:
    this is the last call on the way from a model's forward to the matmul (docs/architecture.md)."""
    y = np.matmul(x.reshape(-1, x.shape[-1]), weight).reshape(*x.shape[:-1], weight.shape[-1])
    y += bias
    return y, x


def linear_backward(dy, x, weight):
    """With the leading axes flattened to N rows (x: N×in, dy: N×out) and y[n, j] = Σ_i x[n, i] W[i, j] + b[j]:
        dW = xᵀ dy,   db = Σ_n dy[n],   dx = dy Wᵀ.
    Returns dx, dW, db."""
    x2 = x.reshape(-1, x.shape[-1])
    dy2 = dy.reshape(-1, dy.shape[-1])
    return matmul2d(dy, weight.T), np.matmul(x2.T, dy2), dy2.sum(axis=0)
