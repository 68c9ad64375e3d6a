"""Inverted dropout, forward beside backward."""
from __future__ import annotations

import numpy as np


def dropout_forward(x, p, rng, training):
    """y = x · m with m = keep / (1 − p), keep ~ Bernoulli(1 − p): E[y] = x, so inference is the
    identity. Returns y and the scaled mask m (None when dropout is a no-op); the same `rng`
    state reproduces the mask (the gradient checks rely on it)."""
    if not training or p == 0.0:
        return x, None
    if rng is None:
        raise ValueError("dropout in training mode needs a numpy Generator `rng`")
    keep = rng.random(x.shape, dtype=np.float64 if x.dtype == np.float64 else np.float32) >= p
    mask = keep * x.dtype.type(1.0 / (1.0 - p))      # bool · float: the mask in x's dtype
    return x * mask, mask


def dropout_backward(dy, mask):
    """y = x · m is linear in x, so dx = dy · m (the identity when the forward was a no-op)."""
    return dy if mask is None else dy * mask
