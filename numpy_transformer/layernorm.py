"""Layer normalization over the last axis (Ba, Kiros & Hinton, 2016)."""
from __future__ import annotations

import numpy as np


def layernorm_forward(x, gamma, beta, eps):
    """y = gamma * xhat + beta, xhat = (x - mean) / sqrt(var + eps) over the last axis
    (biased variance, as in Keras and PyTorch). Returns y and the cache (xhat, rstd)."""
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    var = np.mean(xc * xc, axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + x.dtype.type(eps))
    xhat = xc * rstd
    return xhat * gamma + beta, (xhat, rstd)


def layernorm_backward(dy, cache, gamma):
    """dbeta = Σ dy, dgamma = Σ dy·xhat (sums over all but the last axis).
    With g = dy·gamma and N features, xhat depends on x through the mean and the variance:
    ∂xhat_j/∂x_i = rstd (δ_ij − 1/N − xhat_i xhat_j / N), hence
    dx = rstd/N · (N·g − Σg − xhat·Σ(g·xhat)). Returns dx, dgamma, dbeta."""
    xhat, rstd = cache
    n = xhat.shape[-1]
    red = tuple(range(dy.ndim - 1))
    dgamma = np.sum(dy * xhat, axis=red)
    dbeta = np.sum(dy, axis=red)
    g = dy * gamma
    sum_g = g.sum(axis=-1, keepdims=True)
    sum_gx = np.sum(g * xhat, axis=-1, keepdims=True)
    dx = (rstd / xhat.dtype.type(n)) * (n * g - sum_g - xhat * sum_gx)
    return dx, dgamma, dbeta
