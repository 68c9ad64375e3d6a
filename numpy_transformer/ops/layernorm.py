"""Layer normalization over the last axis (Ba, Kiros & Hinton, 2016), forward beside backward."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class LayerNormCache(NamedTuple):
    xhat: np.ndarray    # the normalised input
    rstd: np.ndarray    # 1 / sqrt(var + eps), one per row (..., 1)


def layernorm_forward(x, gamma, beta, eps):
    """y = gamma · xhat + beta, xhat = (x − mean) / sqrt(var + eps) over the last axis (biased
    variance, as in Keras and PyTorch). Returns y and the cache (xhat, rstd)."""
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + x.dtype.type(eps))
    xhat = (x - mean) * rstd
    return gamma * xhat + beta, LayerNormCache(xhat, rstd)


def layernorm_backward(dy, cache, gamma):
    """dbeta = Σ dy, dgamma = Σ dy·xhat (sums over all but the last axis).
    With g = dy·gamma and N features, xhat depends on every x of its row through the mean and
    the variance: ∂xhat_j/∂x_i = rstd (δ_ij − 1/N − xhat_i xhat_j / N), hence
        dx = rstd/N · (N·g − Σg − xhat·Σ(g·xhat)).
    Returns dx, dgamma, dbeta."""
    xhat, rstd = cache.xhat, cache.rstd
    n = xhat.shape[-1]
    rows = tuple(range(dy.ndim - 1))
    dgamma = np.sum(dy * xhat, axis=rows)
    dbeta = np.sum(dy, axis=rows)
    g = dy * gamma
    dx = (rstd / n) * (n * g - g.sum(axis=-1, keepdims=True)
                       - xhat * np.sum(g * xhat, axis=-1, keepdims=True))
    return dx, dgamma, dbeta
