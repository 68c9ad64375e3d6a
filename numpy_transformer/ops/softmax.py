"""Masked softmax over the last axis, forward beside backward.

Mask convention: boolean, True = may attend (Keras' `attention_mask`). The book uses the
inverse (1 = masked out, added as −1e9 to the scores); this convention lets the same mask
feed both backends unchanged.
"""
from __future__ import annotations

import numpy as np


def softmax_forward(x, mask=None):
    """p_i = exp(x_i − max) / Σ_j exp(x_j − max) over the last axis; subtracting the row max
    keeps exp finite and cancels in the ratio. Masked entries (mask False) are −∞, so p = 0
    there exactly. A row with no allowed entry gets all zeros instead of 0/0 = NaN (Keras
    gives a uniform row there; such rows are padding queries, which no loss reads)."""
    if mask is not None:
        x = np.where(mask, x, -np.inf)
    m = np.max(x, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)          # fully masked row: exp(−∞ − 0) = 0
    e = np.exp(x - m)
    s = np.sum(e, axis=-1, keepdims=True)
    return e / np.where(s == 0, 1, s)


def softmax_backward(dp, p):
    """∂p_i/∂x_j = p_i (δ_ij − p_j), so dx_j = Σ_i dp_i p_i (δ_ij − p_j) = p_j (dp_j − Σ_i dp_i p_i).
    Masked entries have p = 0 and receive zero gradient. Note Σ_j dx_j = 0: softmax does not
    change when a constant is added to a whole row, so no gradient flows along that direction."""
    return p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
