"""Additive attention of Bahdanau, Cho & Bengio (2015), forward beside backward.

A decoder state s asks which encoder states h_1 … h_T matter now; each gets an alignment score
from a one-hidden-layer net, the scores are normalised over the T positions, and the context
is the weighted sum of the encoder states:

    e_j = v_aᵀ tanh(s W_a + h_j U_a),   α = softmax(e),   c = Σ_j α_j h_j

(the paper writes e_ij = v_aᵀ tanh(W_a s_{i−1} + U_a h_j) with column vectors; here rows times
matrices, so W_a is (d_s, d_a) and U_a (d_h, d_a), the (in, out) layout of every weight in the
project). The mask is boolean (B, T), True = may attend, as everywhere in the project.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .linear import matmul2d
from .checks import check_finite, check_time_mask, float_dtype
from .softmax import softmax_backward, softmax_forward


class BahdanauCache(NamedTuple):
    s: np.ndarray          # (B, d_s) decoder state
    h: np.ndarray          # (B, T, d_h) encoder states
    W_a: np.ndarray        # (d_s, d_a)
    U_a: np.ndarray        # (d_h, d_a)
    v_a: np.ndarray        # (d_a,)
    z: np.ndarray          # (B, T, d_a) tanh(s W_a + h_j U_a)
    weights: np.ndarray    # (B, T) α


def _check(s, h, W_a, U_a, v_a, mask):
    dt = float_dtype(W_a, U_a, v_a, names=("W_a", "U_a", "v_a"))
    s, h = np.asarray(s), np.asarray(h)
    if s.ndim != 2 or h.ndim != 3:
        raise ValueError(f"bahdanau_attention: s must be (batch, d_s) and h (batch, T, d_h); got "
                         f"s {s.shape}, h {h.shape}")
    if W_a.ndim != 2 or U_a.ndim != 2 or v_a.ndim != 1:
        raise ValueError(f"bahdanau_attention: W_a must be (d_s, d_a), U_a (d_h, d_a), v_a (d_a,); got "
                         f"{W_a.shape}, {U_a.shape}, {v_a.shape}")
    (B, d_s), (Bh, T, d_h), d_a = s.shape, h.shape, v_a.shape[0]
    if Bh != B:
        raise ValueError(f"bahdanau_attention: s has batch {B} but h has batch {Bh}")
    if T < 1:
        raise ValueError("bahdanau_attention: h has no positions (T = 0)")
    if W_a.shape != (d_s, d_a) or U_a.shape != (d_h, d_a):
        raise ValueError(f"bahdanau_attention: sizes do not fit: s has d_s = {d_s}, h has d_h = {d_h}, "
                         f"v_a has d_a = {d_a}, so W_a must be {(d_s, d_a)} and U_a {(d_h, d_a)}; "
                         f"got W_a {W_a.shape}, U_a {U_a.shape}")
    if mask is not None:
        mask = check_time_mask(mask, B, T, "bahdanau_attention", attend=True)
    check_finite(W_a=W_a, U_a=U_a, v_a=v_a, s=s, h=h)
    return s.astype(dt, copy=False), h.astype(dt, copy=False), mask


def bahdanau_attention_forward(s, h, W_a, U_a, v_a, mask=None):
    """s (B, d_s), h (B, T, d_h), W_a (d_s, d_a), U_a (d_h, d_a), v_a (d_a,), mask (B, T) or
    None. Returns the context (B, d_h), the weights α (B, T) and the cache. s W_a is computed
    once per row and broadcast over the T positions; h U_a is one GEMM over all B·T rows (in
    a decoder loop it does not change between steps, a saving the caller can make)."""
    s, h, mask = _check(s, h, W_a, U_a, v_a, mask)
    z = matmul2d(h, U_a)
    z += (s @ W_a)[:, None, :]
    np.tanh(z, out=z)
    e = z @ v_a                                          # (B, T)
    alpha = softmax_forward(e, mask)
    context = np.matmul(alpha[:, None, :], h)[:, 0]      # Σ_j α_j h_j
    return context, alpha, BahdanauCache(s, h, W_a, U_a, v_a, z, alpha)


def bahdanau_attention_backward(dcontext, cache, dweights=None):
    """Gradients {s, h, W_a, U_a, v_a} from dcontext (B, d_h) and, for a loss that reads the
    weights too, dweights (B, T). With z_j = tanh(s W_a + h_j U_a), e_j = z_j·v_a, α = softmax(e):
        c = Σ_j α_j h_j  ⇒  dα_j = dc·h_j (+ dweights_j),  dh_j ← α_j dc
        de = α ⊙ (dα − Σ_j α_j dα_j)                          (softmax, ops/softmax.py)
        dv_a = Σ_{b,j} de_j z_j,   dp_j = de_j v_a ⊙ (1 − z_j²)  (p_j the tanh's argument)
        s W_a is added to every p_j  ⇒  dW_a = sᵀ Σ_j dp_j,  ds = (Σ_j dp_j) W_aᵀ
        h_j U_a enters p_j only      ⇒  dU_a = Σ_{b,j} h_jᵀ dp_j,  dh_j += dp_j U_aᵀ
    Masked positions have α = 0, hence de = 0 there: their h_j gets no gradient."""
    s, h, W_a, U_a, v_a = cache.s, cache.h, cache.W_a, cache.U_a, cache.v_a
    z, alpha = cache.z, cache.weights
    B, T, d_h = h.shape
    dcontext = np.asarray(dcontext, h.dtype)
    if dcontext.shape != (B, d_h):
        raise ValueError(f"bahdanau_attention_backward: dcontext must be {(B, d_h)}, got {dcontext.shape}")
    dalpha = np.matmul(h, dcontext[:, :, None])[:, :, 0]           # (B, T)
    if dweights is not None:
        dweights = np.asarray(dweights, h.dtype)
        if dweights.shape != (B, T):
            raise ValueError(f"bahdanau_attention_backward: dweights must be {(B, T)}, got {dweights.shape}")
        dalpha = dalpha + dweights
    de = softmax_backward(dalpha, alpha)
    dh = alpha[:, :, None] * dcontext[:, None, :]
    dv_a = np.einsum("bt,bta->a", de, z)
    dp = (de[:, :, None] * v_a) * (1 - z * z)                      # (B, T, d_a)
    dq = dp.sum(axis=1)                                            # (B, d_a)
    dh += matmul2d(dp, U_a.T)
    return {"s": dq @ W_a.T, "h": dh, "W_a": s.T @ dq,
            "U_a": h.reshape(B * T, d_h).T @ dp.reshape(B * T, -1), "v_a": dv_a}
