"""The book's attention layer over an RNN's states (chapter 9), forward beside backward.

It pools a sequence of states h_1 … h_T (B, T, H) into one context vector, with a learned
score per step and no query:

    e_t = tanh(h_t W + b_t),   α = softmax(e) over t,   context = Σ_t α_t h_t

W is (H, 1) and b is (T, 1), one bias per time step, as in the book's Keras layer (its
`attention_weight` and `attention_bias`): the layer can learn a preference for positions as
well as for contents, and it is tied to one sequence length T. An optional boolean mask
(B, T) (True = may attend) excludes steps from the softmax.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .checks import check_finite, check_time_mask, float_dtype
from .softmax import softmax_backward, softmax_forward


class TimeAttentionCache(NamedTuple):
    h: np.ndarray          # (B, T, H)
    W: np.ndarray          # (H, 1)
    e: np.ndarray          # (B, T) tanh(h W + b)
    weights: np.ndarray    # (B, T) α


def _check(h, W, b, mask):
    dt = float_dtype(W, b, names=("W", "b"))
    h = np.asarray(h)
    if h.ndim != 3:
        raise ValueError(f"time_attention: h must be (batch, time, H), got shape {h.shape}")
    B, T, H = h.shape
    if W.shape != (H, 1) or b.shape != (T, 1):
        raise ValueError(f"time_attention: h is (B, T, H) = {h.shape}, so W must be {(H, 1)} and b "
                         f"{(T, 1)} (one bias per step); got W {W.shape}, b {b.shape}")
    if mask is not None:
        mask = check_time_mask(mask, B, T, "time_attention", attend=True)
    check_finite(W=W, b=b, h=h)
    return h.astype(dt, copy=False), mask


def time_attention_forward(h, W, b, mask=None):
    """h (B, T, H), W (H, 1), b (T, 1), mask (B, T) or None. Returns the context (B, H), the
    weights α (B, T) and the cache."""
    h, mask = _check(h, W, b, mask)
    e = np.tanh(h @ W[:, 0] + b[:, 0])                 # (B, T)
    alpha = softmax_forward(e, mask)
    context = np.matmul(alpha[:, None, :], h)[:, 0]
    return context, alpha, TimeAttentionCache(h, W, e, alpha)


def time_attention_backward(dcontext, cache, dweights=None):
    """Gradients {h, W, b}. With p_t = h_t W + b_t, e_t = tanh(p_t), α = softmax(e):
        context = Σ_t α_t h_t  ⇒  dα_t = dcontext·h_t (+ dweights_t),  dh_t ← α_t dcontext
        de = α ⊙ (dα − Σ_t α_t dα_t),   dp_t = de_t (1 − e_t²)
        dW = Σ_{b,t} h_tᵀ dp_t,   db_t = Σ_batch dp_t,   dh_t += dp_t Wᵀ
    h reaches the output twice, as the values summed and through the scores."""
    h, W, e, alpha = cache.h, cache.W, cache.e, cache.weights
    B, T, H = h.shape
    dcontext = np.asarray(dcontext, h.dtype)
    if dcontext.shape != (B, H):
        raise ValueError(f"time_attention_backward: dcontext must be {(B, H)}, got {dcontext.shape}")
    dalpha = np.matmul(h, dcontext[:, :, None])[:, :, 0]
    if dweights is not None:
        dalpha = dalpha + np.asarray(dweights, h.dtype)
    dp = softmax_backward(dalpha, alpha) * (1 - e * e)             # (B, T)
    dh = alpha[:, :, None] * dcontext[:, None, :] + dp[:, :, None] * W[:, 0]
    return {"h": dh, "W": (h.reshape(B * T, H).T @ dp.reshape(B * T))[:, None],
            "b": dp.sum(axis=0)[:, None]}
