"""Layer normalization over the last axis (Ba, Kiros & Hinton, 2016)."""
from __future__ import annotations

import numpy as np


def layernorm_forward(x, gamma, beta, eps):
    """y = gamma * xhat + beta, xhat = (x - mean) / sqrt(var + eps) over the last axis
    (biased variance, as in Keras and PyTorch). Returns y and the cache (xhat, rstd).
    Two arrays of x's size are allocated (xhat, y); everything else happens in them."""
    mean = x.mean(axis=-1, keepdims=True)
    xhat = x - mean                       # centred x, scaled in place below
    y = np.multiply(xhat, xhat)           # (x - mean)², then reused for the output
    var = y.mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + x.dtype.type(eps))
    xhat *= rstd
    np.multiply(xhat, gamma, out=y)
    y += beta
    return y, (xhat, rstd)


def layernorm_backward(dy, cache, gamma):
    """dbeta = Σ dy, dgamma = Σ dy·xhat (sums over all but the last axis).
    With g = dy·gamma and N features, xhat depends on x through the mean and the variance:
    ∂xhat_j/∂x_i = rstd (δ_ij − 1/N − xhat_i xhat_j / N), hence
    dx = rstd/N · (N·g − Σg − xhat·Σ(g·xhat)). Returns dx, dgamma, dbeta.
    Two arrays of dy's size are allocated (a scratch t, and g which becomes dx)."""
    xhat, rstd = cache
    n = xhat.shape[-1]
    red = tuple(range(dy.ndim - 1))
    t = np.multiply(dy, xhat)
    dgamma = t.sum(axis=red)
    dbeta = np.sum(dy, axis=red)
    g = np.multiply(dy, gamma)
    sum_g = g.sum(axis=-1, keepdims=True)
    sum_gx = np.multiply(g, xhat, out=t).sum(axis=-1, keepdims=True)
    g *= xhat.dtype.type(n)                # dx = (N·g − Σg − xhat·Σ(g·xhat)) · rstd/N, in place
    g -= sum_g
    g -= np.multiply(xhat, sum_gx, out=t)
    g *= rstd / xhat.dtype.type(n)
    return g, dgamma, dbeta
