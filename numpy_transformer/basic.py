"""Element-wise and dense ops: linear, ReLU, inverted dropout (forward and backward side by side),
and the flush of subnormal-bound probabilities."""
from __future__ import annotations

import numpy as np


def flush_tiny(p):
    """Set entries of a non-negative array (probabilities) below tiny/eps of its dtype (float32:
    1e-31) to zero, in place. Softmax outputs of confident rows reach the subnormal range
    (exp(−88) in float32); subnormal operands make the CPU's multiply-adds, and so every GEMM
    they enter, many times slower (training got 12-27 % slower per epoch as the model grew
    confident). TensorFlow flushes subnormals to zero in hardware; NumPy cannot, so we zero the
    entries that would create them: anything ≥ tiny/eps times a factor ≥ eps is still a normal
    number, and such an entry is below the dtype's precision in any sum with a normal number."""
    fi = np.finfo(p.dtype)
    np.putmask(p, p < fi.tiny / fi.eps, 0)   # p ≥ 0: no abs() temporary of p's size
    return p


def matmul2d(x, w):
    """x (..., k) @ w (k, n) as one 2-D GEMM over the flattened leading axes. np.matmul on a
    3-D x would instead loop over the batch axis with one small GEMM per matrix."""
    y = np.matmul(x.reshape(-1, x.shape[-1]), w)
    return y.reshape(*x.shape[:-1], w.shape[-1])


def linear_forward(x, weight, bias):
    """y = x @ W + b over the last axis; x (..., in), W (in, out), b (out,).
    The cache is x itself (the backward needs it for dW)."""
    y = matmul2d(x, weight)
    y += bias
    return y, x


def linear_backward(dy, x, weight):
    """With y = x W + b and the leading axes flattened to rows (x: N×in, dy: N×out):
    dW = xᵀ dy (each y[n, j] = Σ_i x[n, i] W[i, j]), db = Σ_n dy[n], dx = dy Wᵀ.
    Returns dx, dW, db."""
    x2 = x.reshape(-1, x.shape[-1])
    dy2 = dy.reshape(-1, dy.shape[-1])
    return matmul2d(dy, weight.T), np.matmul(x2.T, dy2), dy2.sum(axis=0)


def relu_forward(x, out=None):
    """y = max(x, 0). The cache is the output (y > 0 marks where the gradient flows).
    `out=x` overwrites x (callers that own x and no longer need it save an allocation)."""
    y = np.maximum(x, 0, out=out)
    return y, y


def relu_backward(dy, y, out=None):
    """dy/dx = 1 where x > 0 else 0 (we take 0 at the kink), so dx = dy · [y > 0].
    `out=dy` overwrites dy (callers that own dy save an allocation)."""
    return np.multiply(dy, y > 0, out=out)


def dropout_forward(x, p, rng, training):
    """Inverted dropout: y = x · m with m = keep/(1-p), keep ~ Bernoulli(1-p), so E[y] = x and
    inference is the identity. Returns y and the scaled mask m (None when it is a no-op);
    pass the same `rng` state to reproduce the mask (gradient checks do this)."""
    if not training or p == 0.0:
        return x, None
    if rng is None:
        raise ValueError("dropout in training mode needs a numpy Generator `rng`")
    mask = rng.random(x.shape, dtype=np.float64 if x.dtype == np.float64 else np.float32)
    np.greater_equal(mask, mask.dtype.type(p), out=mask)   # keep ∈ {0, 1}, written in place
    mask *= mask.dtype.type(1.0 / (1.0 - p))
    return x * mask, mask.astype(x.dtype, copy=False)


def dropout_backward(dy, mask):
    """y = x · m is linear in x, so dx = dy · m (identity when the forward was a no-op)."""
    return dy if mask is None else dy * mask
