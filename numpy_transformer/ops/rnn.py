"""The simple (Elman) recurrent layer, forward beside backpropagation through time.

    h_t = tanh(x_t W_x + h_{t-1} W_h + b),   t = 1 … T,   h_0 given (zeros by default)

The weights have the layout of `keras.layers.SimpleRNN`: W_x is its `kernel` (D, H), W_h its
`recurrent_kernel` (H, H), b its `bias` (H,), so a state dict moves between the backends as is.
A boolean `mask` (B, T) (True = a real step) skips steps as Keras does: at a masked step the
state is carried over unchanged, h_t = h_{t-1}, and the output there repeats it. (One
difference in what is returned: before a row's first real step Keras' *output* is zeros while
its state is h0; this op returns the states, so h_t = h0 there. With h0 = None, the default,
the two are the same.)
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .checks import check_recurrent
from .linear import matmul2d


class SimpleRNNCache(NamedTuple):
    x: np.ndarray            # (B, T, D) the inputs
    h0: np.ndarray           # (B, H) the initial state (zeros when none was given)
    W_x: np.ndarray          # (D, H)
    W_h: np.ndarray          # (H, H)
    h: np.ndarray            # (B, T, H) every state, h[:, t] = h_{t+1} in the 1-based notation above
    mask: np.ndarray | None  # (B, T) boolean or None


def simple_rnn_forward(x, h0, W_x, W_h, b, mask=None):
    """Run the recurrence over all T steps. x (B, T, D); h0 (B, H) or None for zeros;
    W_x (D, H), W_h (H, H), b (H,); mask (B, T) boolean or None. The computation runs in the
    weights' dtype (x and h0 are cast to it). Returns h (B, T, H), every state, and the cache.

    The input projection x_t W_x + b of every step does not depend on the recurrence, so it is
    one GEMM over all B·T rows before the loop; only h_{t-1} W_h is inherently sequential."""
    x, h0, mask = check_recurrent("simple_rnn", x, h0, W_x, W_h, b, mask)
    B, T, _ = x.shape
    xw = matmul2d(x, W_x)
    xw += b
    h = np.empty((B, T, W_h.shape[0]), x.dtype)
    prev = h0
    for t in range(T):
        a = xw[:, t]
        a += prev @ W_h
        ht = np.tanh(a, out=a)
        if mask is not None:
            ht = np.where(mask[:, t, None], ht, prev)
        h[:, t] = ht
        prev = h[:, t]
    return h, SimpleRNNCache(x, h0, W_x, W_h, h, mask)


def simple_rnn_backward(dh, cache):
    """Backpropagation through time. dh (B, T, H) is ∂L/∂h_t for every output state (a loss on
    the last state alone passes zeros elsewhere). Returns {x, h0, W_x, W_h, b}.

    Write a_t = x_t W_x + h_{t-1} W_h + b, h_t = tanh(a_t). h_t reaches the loss directly (dh_t)
    and through h_{t+1}, so going backwards from t = T with g_{T+1} = 0:
        ĝ_t  = dh_t + g_{t+1}                 total gradient of the state h_t
        da_t = ĝ_t ⊙ (1 − h_t²)               tanh' = 1 − tanh²
        g_t  = da_t W_hᵀ                      what flows on to h_{t-1}
    and the weights, shared by all steps, sum their per-step gradients:
        dW_x = Σ_t x_tᵀ da_t,  dW_h = Σ_t h_{t-1}ᵀ da_t,  db = Σ_t Σ_batch da_t,
        dx_t = da_t W_xᵀ,      dh0 = g_1.
    At a masked step h_t = h_{t-1}: da_t = 0 and the state's gradient passes through, g_t = ĝ_t.
    Only the recursion for g is sequential; the sums over t are one GEMM each afterwards."""
    h, mask = cache.h, cache.mask
    B, T, H = h.shape
    dh = np.asarray(dh, h.dtype)
    if dh.shape != h.shape:
        raise ValueError(f"simple_rnn_backward: dh must have the states' shape {h.shape}, got {dh.shape}")
    da = 1 - h * h                                  # tanh' of every step in one pass; becomes da below
    W_hT = np.ascontiguousarray(cache.W_h.T)
    g = np.zeros((B, H), h.dtype)
    for t in range(T - 1, -1, -1):
        gt = dh[:, t] + g
        dat = da[:, t]
        dat *= gt
        if mask is not None:
            m = mask[:, t, None]
            dat[...] = np.where(m, dat, 0)
            g = np.where(m, dat @ W_hT, gt)
        else:
            g = dat @ W_hT
    h_prev = np.concatenate([cache.h0[:, None], h[:, :-1]], axis=1)     # h_{t-1} for every t
    da2 = da.reshape(B * T, H)
    return {"x": matmul2d(da, cache.W_x.T),
            "h0": g,
            "W_x": cache.x.reshape(B * T, -1).T @ da2,
            "W_h": h_prev.reshape(B * T, H).T @ da2,
            "b": da2.sum(axis=0)}
