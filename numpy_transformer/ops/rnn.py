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

from .linear import matmul2d


class SimpleRNNCache(NamedTuple):
    x: np.ndarray            # (B, T, D) the inputs
    h0: np.ndarray           # (B, H) the initial state (zeros when none was given)
    W_x: np.ndarray          # (D, H)
    W_h: np.ndarray          # (H, H)
    h: np.ndarray            # (B, T, H) every state, h[:, t] = h_{t+1} in the 1-based notation above
    mask: np.ndarray | None  # (B, T) boolean or None


def float_dtype(*arrays, names):
    """The one floating dtype that all weights share (float32 or float64), else a clear error."""
    dtypes = {np.asarray(a).dtype for a in arrays}
    if len(dtypes) != 1:
        raise TypeError(f"{', '.join(names)} must share one float dtype, got "
                        f"{', '.join(f'{n}: {np.asarray(a).dtype}' for n, a in zip(names, arrays))}")
    dt = dtypes.pop()
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{', '.join(names)} must be float32 or float64, got {dt}")
    return dt


def check_finite(**arrays):
    """A clear error naming the first array that holds NaN or ±inf (weights that diverged, or
    data with holes): otherwise the NaN would surface steps later as a NaN loss."""
    for name, a in arrays.items():
        if a is not None and not np.all(np.isfinite(a)):
            raise ValueError(f"{name} holds NaN or inf ({int(np.size(a) - np.isfinite(a).sum())} "
                             f"of {np.size(a)} entries)")


def check_time_mask(mask, B, T, what, attend=False):
    """mask: boolean (B, T); returned as a bool array. attend=True: a softmax runs over the
    allowed positions of each row, so a row that allows none is an error (the softmax over an
    empty set is undefined)."""
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"{what} mask must be boolean (True = a real step), got dtype {mask.dtype}")
    if mask.shape != (B, T):
        raise ValueError(f"{what} mask must have shape (batch, time) = {(B, T)}, got {mask.shape}")
    empty = np.flatnonzero(~mask.any(axis=1)) if attend else ()
    if len(empty):
        raise ValueError(f"{what}: mask row(s) {empty.tolist()} allow no position: the softmax over an "
                         f"empty set is undefined (drop those rows)")
    return mask


def _check(x, h0, W_x, W_h, b, mask):
    dt = float_dtype(W_x, W_h, b, names=("W_x", "W_h", "b"))
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"simple_rnn: x must be (batch, time, features), got shape {x.shape}")
    B, T, D = x.shape
    if T < 1:
        raise ValueError("simple_rnn: x has no time steps (T = 0)")
    if W_x.ndim != 2 or W_h.ndim != 2 or b.ndim != 1:
        raise ValueError(f"simple_rnn: W_x must be (D, H), W_h (H, H), b (H,); got {W_x.shape}, "
                         f"{W_h.shape}, {b.shape}")
    H = W_h.shape[0]
    if W_x.shape != (D, H) or W_h.shape != (H, H) or b.shape != (H,):
        raise ValueError(f"simple_rnn: sizes do not fit: x has D = {D} features, so W_x must be ({D}, H); "
                         f"got W_x {W_x.shape}, W_h {W_h.shape}, b {b.shape}")
    if h0 is not None:
        h0 = np.asarray(h0)
        if h0.shape != (B, H):
            raise ValueError(f"simple_rnn: h0 must be (batch, H) = {(B, H)}, got {h0.shape}")
    if mask is not None:
        mask = check_time_mask(mask, B, T, "simple_rnn")
    check_finite(W_x=W_x, W_h=W_h, b=b, x=x, h0=h0)
    x = x.astype(dt, copy=False)
    h0 = np.zeros((B, H), dt) if h0 is None else h0.astype(dt, copy=False)
    return x, h0, mask


def simple_rnn_forward(x, h0, W_x, W_h, b, mask=None):
    """Run the recurrence over all T steps. x (B, T, D); h0 (B, H) or None for zeros;
    W_x (D, H), W_h (H, H), b (H,); mask (B, T) boolean or None. The computation runs in the
    weights' dtype (x and h0 are cast to it). Returns h (B, T, H), every state, and the cache.

    The input projection x_t W_x + b of every step does not depend on the recurrence, so it is
    one GEMM over all B·T rows before the loop; only h_{t-1} W_h is inherently sequential."""
    x, h0, mask = _check(x, h0, W_x, W_h, b, mask)
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
    x, h0, W_x, W_h, h, mask = cache
    B, T, H = h.shape
    dh = np.asarray(dh, h.dtype)
    if dh.shape != h.shape:
        raise ValueError(f"simple_rnn_backward: dh must have the states' shape {h.shape}, got {dh.shape}")
    da = 1 - h * h                                  # tanh' of every step in one pass; becomes da below
    W_hT = np.ascontiguousarray(W_h.T)
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
    h_prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)     # h_{t-1} for every t
    da2 = da.reshape(B * T, H)
    return {"x": matmul2d(da, W_x.T),
            "h0": g,
            "W_x": x.reshape(B * T, -1).T @ da2,
            "W_h": h_prev.reshape(B * T, H).T @ da2,
            "b": da2.sum(axis=0)}
