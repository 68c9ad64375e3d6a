"""The gated recurrent unit (Cho et al., 2014), forward beside backpropagation through time, in
exactly the layout and variant of `keras.layers.GRU` (reset_after=True, Keras' default):

    [x_z, x_r, x_n] = x_t W_x + b_x                 W_x = kernel (D, 3H),  b_x = bias[0] (3H,)
    [u_z, u_r, u_n] = h_{t-1} W_h + b_h             W_h = recurrent_kernel (H, 3H),  b_h = bias[1]
    z_t = σ(x_z + u_z)                              update gate
    r_t = σ(x_r + u_r)                              reset gate
    n_t = tanh(x_n + r_t ⊙ u_n)                     candidate ("reset after" the recurrent matmul)
    h_t = z_t ⊙ h_{t-1} + (1 − z_t) ⊙ n_t

The gates' columns are ordered z, r, n in W_x, W_h and both bias rows, as in Keras, so a state
dict moves between the backends as is (b is `bias` (2, 3H): row 0 for the input, row 1 for the
recurrent projection). A boolean mask (B, T) (True = a real step) carries the state over a
masked step unchanged, h_t = h_{t-1}, as in ops/rnn.py (and the same remark about Keras'
*outputs* before a row's first real step applies).

The input projections x_t W_x + b_x of every step are one GEMM before the loop; the weights'
gradients are one GEMM each after the backward loop. `gru_step` / `gru_step_backward` are one
step on an already projected input, for recurrences whose input depends on the previous step
(a decoder with input feeding, models/rnn_translator.py).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .checks import check_recurrent
from .linear import matmul2d


class GRUStepCache(NamedTuple):
    h_prev: np.ndarray       # (B, H) h_{t-1}
    z: np.ndarray            # (B, H) update gate
    r: np.ndarray            # (B, H) reset gate
    n: np.ndarray            # (B, H) candidate
    u_n: np.ndarray          # (B, H) h_{t-1} W_h[:, 2H:] + b_h[2H:] (what the reset gate scales)


class GRUCache(NamedTuple):
    x: np.ndarray            # (B, T, D)
    h0: np.ndarray           # (B, H)
    W_x: np.ndarray          # (D, 3H)
    W_h: np.ndarray          # (H, 3H)
    h: np.ndarray            # (B, T, H) every state
    z: np.ndarray            # (B, T, H)
    r: np.ndarray            # (B, T, H)
    n: np.ndarray            # (B, T, H)
    u_n: np.ndarray          # (B, T, H)
    mask: np.ndarray | None  # (B, T) boolean or None


def _sigmoid(a):
    # σ(a) = (1 + tanh(a/2)) / 2: no overflow in exp for large |a|, same values
    return 0.5 + 0.5 * np.tanh(0.5 * a)


def gru_step(xw, h_prev, W_h, b_h):
    """One step on the projected input xw = x_t W_x + b_x (B, 3H): returns (h_t, GRUStepCache)."""
    H = h_prev.shape[1]
    u = h_prev @ W_h
    u += b_h
    z = _sigmoid(xw[:, :H] + u[:, :H])
    r = _sigmoid(xw[:, H:2 * H] + u[:, H:2 * H])
    u_n = u[:, 2 * H:]
    n = np.tanh(xw[:, 2 * H:] + r * u_n)
    h = n + z * (h_prev - n)                   # z h_{t-1} + (1 − z) n
    return h, GRUStepCache(h_prev, z, r, n, u_n)


def gru_step_backward(dh, c, W_hT):
    """One step back: dh = ∂L/∂h_t (B, H), c the step's cache, W_hT = W_hᵀ (3H, H). Returns
    (dxw (B, 3H), du (B, 3H), dh_prev (B, H)): the gradients of the input projection, of the
    recurrent projection u = h_{t-1} W_h + b_h, and of h_{t-1} (through u and through z h_{t-1}).
        dz = dh ⊙ (h_{t-1} − n),  dn = dh ⊙ (1 − z)
        da_n = dn ⊙ (1 − n²)                      (a_n = x_n + r ⊙ u_n)
        dr = da_n ⊙ u_n,  du_n = da_n ⊙ r
        da_z = dz ⊙ z(1 − z),  da_r = dr ⊙ r(1 − r)
        dxw = [da_z, da_r, da_n],  du = [da_z, da_r, du_n]
        dh_{t-1} = dh ⊙ z + du W_hᵀ"""
    z, r, n = c.z, c.r, c.n
    da_n = dh * (1 - z) * (1 - n * n)
    da_z = dh * (c.h_prev - n) * z * (1 - z)
    da_r = da_n * c.u_n * r * (1 - r)
    dxw = np.concatenate([da_z, da_r, da_n], axis=1)
    du = np.concatenate([da_z, da_r, da_n * r], axis=1)
    return dxw, du, dh * z + du @ W_hT


def gru_forward(x, h0, W_x, W_h, b, mask=None):
    """Run the GRU over all T steps. x (B, T, D); h0 (B, H) or None for zeros; W_x (D, 3H),
    W_h (H, 3H), b (2, 3H) (Keras' kernel, recurrent_kernel, bias); mask (B, T) boolean or None.
    Computes in the weights' dtype. Returns h (B, T, H), every state, and the cache."""
    x, h0, mask = check_recurrent("gru", x, h0, W_x, W_h, b, mask, gates=3, bias_rows=(2,))
    B, T, _ = x.shape
    H = W_h.shape[0]
    xw = matmul2d(x, W_x)                      # every step's input projection, one GEMM
    xw += b[0]
    h, z, r, n, u_n = (np.empty((B, T, H), x.dtype) for _ in range(5))
    prev = h0
    for t in range(T):
        ht, c = gru_step(xw[:, t], prev, W_h, b[1])
        if mask is not None:
            ht = np.where(mask[:, t, None], ht, prev)
        h[:, t], z[:, t], r[:, t], n[:, t], u_n[:, t] = ht, c.z, c.r, c.n, c.u_n
        prev = h[:, t]
    return h, GRUCache(x, h0, W_x, W_h, h, z, r, n, u_n, mask)


def gru_backward(dh, cache):
    """Backpropagation through time. dh (B, T, H) = ∂L/∂h_t for every output state. Returns
    {x, h0, W_x, W_h, b}. Going backwards with g_{T+1} = 0 (the gradient reaching h_t from
    step t + 1): ĝ_t = dh_t + g_{t+1}, then gru_step_backward gives dxw_t, du_t and g_t. At a
    masked step h_t = h_{t-1}: dxw_t = du_t = 0 and g_t = ĝ_t. The shared weights sum over steps:
        dW_x = Σ_t x_tᵀ dxw_t,  dW_h = Σ_t h_{t-1}ᵀ du_t,  db = [Σ dxw_t; Σ du_t],  dx_t = dxw_t W_xᵀ
    — one GEMM each over all B·T rows, after the loop."""
    h, mask = cache.h, cache.mask
    B, T, H = h.shape
    dh = np.asarray(dh, h.dtype)
    if dh.shape != h.shape:
        raise ValueError(f"gru_backward: dh must have the states' shape {h.shape}, got {dh.shape}")
    W_hT = np.ascontiguousarray(cache.W_h.T)
    h_prev = np.concatenate([cache.h0[:, None], h[:, :-1]], axis=1)      # h_{t-1} for every t
    dxw = np.empty((B, T, 3 * H), h.dtype)
    du = np.empty((B, T, 3 * H), h.dtype)
    g = np.zeros((B, H), h.dtype)
    for t in range(T - 1, -1, -1):
        gt = dh[:, t] + g
        step = GRUStepCache(h_prev[:, t], cache.z[:, t], cache.r[:, t], cache.n[:, t], cache.u_n[:, t])
        dxw_t, du_t, g = gru_step_backward(gt, step, W_hT)
        if mask is not None:
            m = mask[:, t, None]
            dxw_t, du_t, g = np.where(m, dxw_t, 0), np.where(m, du_t, 0), np.where(m, g, gt)
        dxw[:, t], du[:, t] = dxw_t, du_t
    dxw2, du2 = dxw.reshape(B * T, 3 * H), du.reshape(B * T, 3 * H)
    return {"x": matmul2d(dxw, cache.W_x.T),
            "h0": g,
            "W_x": cache.x.reshape(B * T, -1).T @ dxw2,
            "W_h": h_prev.reshape(B * T, H).T @ du2,
            "b": np.stack([dxw2.sum(axis=0), du2.sum(axis=0)])}
