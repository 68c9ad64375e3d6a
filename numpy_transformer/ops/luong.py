"""Luong, Pham & Manning (2015), "Effective Approaches to Attention-based Neural Machine
Translation": global and local attention and the attentional hidden state, forward beside backward.

The decoder's current state h_t (B, d_t) scores every encoder state h̄_s (B, T, d_s):

    dot      score(h_t, h̄_s) = h_tᵀ h̄_s                     (d_t = d_s)
    general  score(h_t, h̄_s) = h_tᵀ W_a h̄_s                 W_a (d_t, d_s)
    concat   score(h_t, h̄_s) = v_aᵀ tanh([h_t; h̄_s] W_a)    W_a (d_t + d_s, d_a), v_a (d_a,)

α = softmax(score) over the T positions (mask True = may attend), context c_t = Σ_s α_s h̄_s
(the paper's eqs. 7–8; rows times matrices, weights in the project's (in, out) layout).

Local attention (eqs. 9–10) looks at the window [p_t − D, p_t + D] only and scales the weights
by a Gaussian centred on p_t, σ = D/2:
    a_t(s) = align(h_t, h̄_s) · exp(−(s − p_t)² / (2σ²))
with align the softmax above restricted to the window, and — as in the paper — no
renormalisation afterwards (Σ_s a_t(s) ≤ 1). Positions are 0-based, s = 0 … T−1. The window is
closed: s belongs to it iff |s − p_t| ≤ D (2D + 1 positions for an integer p_t, as in the paper;
2D for any other p_t). A window that reaches past either end of the sequence is cut to the positions that
exist (the paper: "we simply ignore the outside part"); a row whose window holds no allowed
position (say p_t far beyond T, or over padding only) raises a ValueError naming the rows.
Alignment: "monotonic" (local-m) takes p_t given, p_t = t; "predictive" (local-p) predicts it,
p_t = S·sigmoid(v_pᵀ tanh(h_t W_p)), W_p (d_t, d_p), v_p (d_p,), with S = T, the (padded)
number of source positions given, the same for every row (padded positions are removed by the
mask; p_t ∈ (0, T)). Both alignments return the gradient of p_t's use (dp_t for monotonic, through W_p,
v_p and h_t for predictive). The window membership is a step function of p_t, so its derivative
is zero almost everywhere; only the Gaussian carries p_t's gradient.

The attentional hidden state (eq. 5): h̃_t = tanh([c_t; h_t] W_c), W_c (d_s + d_t, d_out).

The forwards check their input first (ops/checks.py); a decoder that checked its encoder
states once calls luong_attention_unchecked / attentional_hidden_unchecked at every step.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .checks import check_attentional_hidden, check_luong_attention, check_luong_local, check_window
from .linear import matmul2d
from .softmax import softmax_backward, softmax_forward


class LuongCache(NamedTuple):
    score: str             # "dot" | "general" | "concat"
    h_t: np.ndarray        # (B, d_t) decoder state
    h_s: np.ndarray        # (B, T, d_s) encoder states
    params: dict           # the score's weights (W_a, v_a), as used
    q: np.ndarray | None   # general: h_t W_a (B, d_s); concat: z = tanh([h_t; h̄_s] W_a) (B, T, d_a)
    weights: np.ndarray    # (B, T) α


class LuongLocalCache(NamedTuple):
    alignment: str            # "monotonic" | "predictive"
    glob: LuongCache          # the attention restricted to the window: glob.weights = align
    p_t: np.ndarray           # (B,) the window centres
    gauss: np.ndarray         # (B, T) exp(−(s − p_t)² / 2σ²)
    sigma: float              # D / 2
    S: int                    # the predictive scale (T)
    W_p: np.ndarray | None    # predictive: (d_t, d_p)
    v_p: np.ndarray | None    # predictive: (d_p,)
    z_p: np.ndarray | None    # predictive: tanh(h_t W_p) (B, d_p)
    weights: np.ndarray       # (B, T) a_t = align · gauss


class AttentionalHiddenCache(NamedTuple):
    x: np.ndarray            # (B, d_c + d_t) [c_t; h_t]
    W_c: np.ndarray          # (d_c + d_t, d_out)
    d_c: int
    out: np.ndarray          # (B, d_out) h̃_t


def _attend(score, h_t, h_s, p, allowed):
    """The scores, α = softmax over the allowed positions and the context, from checked input."""
    if score == "dot":
        q = None
        e = np.matmul(h_s, h_t[:, :, None])[:, :, 0]
    elif score == "general":
        q = h_t @ p["W_a"]                                        # (B, d_s): h_tᵀ W_a once per row
        e = np.matmul(h_s, q[:, :, None])[:, :, 0]
    else:
        d_t = h_t.shape[1]
        q = matmul2d(h_s, p["W_a"][d_t:])                         # [h_t; h̄_s] W_a = h_t W_top + h̄_s W_bottom
        q += (h_t @ p["W_a"][:d_t])[:, None, :]
        np.tanh(q, out=q)
        e = q @ p["v_a"]
    alpha = softmax_forward(e, allowed)
    return LuongCache(score, h_t, h_s, p, q, alpha)


def _attend_backward(cache, dalpha, dh_s):
    """Gradients of the scores' inputs from dα (B, T); dh_s (B, T, d_s) is added to in place.
        de = α ⊙ (dα − Σ α dα)                                       (ops/softmax.py)
        dot:     e_s = h̄_s·h_t        ⇒ dh_t = Σ_s de_s h̄_s,  dh̄_s += de_s h_t
        general: e_s = h̄_s·q, q = h_t W_a ⇒ dq = Σ_s de_s h̄_s,  dh̄_s += de_s q,
                 dW_a = h_tᵀ dq,  dh_t = dq W_aᵀ
        concat:  e_s = z_s·v_a, z_s = tanh(h_t W_top + h̄_s W_bot) ⇒ dv_a = Σ de_s z_s,
                 dp_s = de_s v_a ⊙ (1 − z_s²), dW_top = h_tᵀ Σ_s dp_s, dW_bot = Σ h̄_sᵀ dp_s,
                 dh_t = (Σ_s dp_s) W_topᵀ, dh̄_s += dp_s W_botᵀ."""
    score, h_t, h_s, p, q = cache.score, cache.h_t, cache.h_s, cache.params, cache.q
    de = softmax_backward(dalpha, cache.weights)
    if score == "dot":
        dh_s += de[:, :, None] * h_t[:, None, :]
        return {"h_t": np.matmul(de[:, None, :], h_s)[:, 0]}
    if score == "general":
        dq = np.matmul(de[:, None, :], h_s)[:, 0]
        dh_s += de[:, :, None] * q[:, None, :]
        return {"h_t": dq @ p["W_a"].T, "W_a": h_t.T @ dq}
    (B, T, d_s), d_t = h_s.shape, h_t.shape[1]
    dv_a = np.einsum("bt,bta->a", de, q)
    dp = (de[:, :, None] * p["v_a"]) * (1 - q * q)                 # (B, T, d_a)
    dsum = dp.sum(axis=1)
    dh_s += matmul2d(dp, p["W_a"][d_t:].T)
    dW_a = np.concatenate([h_t.T @ dsum, h_s.reshape(B * T, d_s).T @ dp.reshape(B * T, -1)])
    return {"h_t": dsum @ p["W_a"][:d_t].T, "W_a": dW_a, "v_a": dv_a}


def _upstream(dcontext, dweights, h_s, what):
    B, T, d_s = h_s.shape
    dcontext = np.asarray(dcontext, h_s.dtype)
    if dcontext.shape != (B, d_s):
        raise ValueError(f"{what}: dcontext must be {(B, d_s)}, got {dcontext.shape}")
    da = np.matmul(h_s, dcontext[:, :, None])[:, :, 0]              # c = Σ a_s h̄_s ⇒ da_s = dc·h̄_s
    if dweights is not None:
        dweights = np.asarray(dweights, h_s.dtype)
        if dweights.shape != (B, T):
            raise ValueError(f"{what}: dweights must be {(B, T)}, got {dweights.shape}")
        da = da + dweights
    return dcontext, da


def luong_attention_forward(h_t, h_s, score, params=None, mask=None):
    """Global attention. h_t (B, d_t), h_s (B, T, d_s), score "dot" | "general" | "concat",
    params {} | {W_a} | {W_a, v_a}, mask (B, T) boolean or None. Returns the context (B, d_s),
    the weights α (B, T) (masked positions exactly 0) and the cache."""
    h_t, h_s, p, mask = check_luong_attention(h_t, h_s, score, params, mask)
    return luong_attention_unchecked(h_t, h_s, score, p, mask)


def luong_attention_unchecked(h_t, h_s, score, params, mask):
    """luong_attention_forward on inputs that passed check_luong_attention: a decoder checks
    the encoder states once, not at every target step. c_t = Σ_s α_s h̄_s."""
    cache = _attend(score, h_t, h_s, params, mask)
    return np.matmul(cache.weights[:, None, :], h_s)[:, 0], cache.weights, cache


def luong_attention_backward(dcontext, cache, dweights=None):
    """{h_t, h_s, <the score's params>} from dcontext (B, d_s) and, for a loss that reads the
    weights too, dweights (B, T): dα_s = dc·h̄_s (+ dweights_s), dh̄_s = α_s dc + the score's
    part (see _attend_backward). Masked positions have α = 0, hence de = 0: no gradient."""
    dcontext, dalpha = _upstream(dcontext, dweights, cache.h_s, "luong_attention_backward")
    dh_s = cache.weights[:, :, None] * dcontext[:, None, :]
    g = _attend_backward(cache, dalpha, dh_s)
    return {"h_t": g.pop("h_t"), "h_s": dh_s, **g}


def luong_local_attention_forward(h_t, h_s, score, params, D, alignment, p_t=None, mask=None):
    """Local attention. As luong_attention_forward, plus the half-width D (a positive integer;
    σ = D/2) and alignment "monotonic" (p_t given: a scalar or (B,), 0-based source positions,
    e.g. the target step t) or "predictive" (p_t = None; params also hold W_p (d_t, d_p) and
    v_p (d_p,)). Returns the context Σ_s a_t(s) h̄_s (B, d_s), the weights a_t (B, T) and the
    cache (cache.p_t: the centres used). See the module docstring for the window's edges."""
    h_t, h_s, p, p_t, mask = check_luong_local(h_t, h_s, score, params, D, alignment, p_t, mask)
    (B, T, _), dt, sigma = h_s.shape, h_s.dtype, D / 2
    W_p, v_p, z_p = p.pop("W_p", None), p.pop("v_p", None), None
    if alignment == "predictive":
        z_p = np.tanh(h_t @ W_p)
        p_t = T / (1 + np.exp(-(z_p @ v_p)))                        # S·sigmoid(v_pᵀ tanh(W_p h_t)), S = T
    dist = np.arange(T, dtype=dt)[None, :] - p_t[:, None]          # s − p_t
    allowed = np.abs(dist) <= D
    if mask is not None:
        allowed &= mask
    check_window(allowed, p_t, D)
    glob = _attend(score, h_t, h_s, p, allowed)
    gauss = np.exp(-dist * dist / (2 * sigma * sigma))
    a = glob.weights * gauss                                        # eq. 10, no renormalisation
    context = np.matmul(a[:, None, :], h_s)[:, 0]
    return context, a, LuongLocalCache(alignment, glob, p_t, gauss, sigma, T, W_p, v_p, z_p, a)


def luong_local_attention_backward(dcontext, cache, dweights=None):
    """{h_t, h_s, <the score's params>, p_t (monotonic) | W_p, v_p (predictive)}.
    With a_s = α_s g_s, g_s = exp(−(s − p_t)²/2σ²):
        da_s = dc·h̄_s (+ dweights_s),  dh̄_s = a_s dc + (the score's part),
        dα_s = da_s g_s  (then the global backward),  dg_s = da_s α_s,
        dp_t = Σ_s dg_s g_s (s − p_t)/σ²            (∂g_s/∂p_t = g_s (s − p_t)/σ²)
    predictive, p_t = S·sigmoid(u), u = z_p·v_p, z_p = tanh(h_t W_p):
        du = dp_t · p_t (1 − p_t/S),  dv_p = Σ_b du z_p,  dr = du v_p ⊙ (1 − z_p²),
        dW_p = h_tᵀ dr,  dh_t += dr W_pᵀ."""
    glob = cache.glob
    dcontext, da = _upstream(dcontext, dweights, glob.h_s, "luong_local_attention_backward")
    dh_s = cache.weights[:, :, None] * dcontext[:, None, :]
    g = _attend_backward(glob, da * cache.gauss, dh_s)
    dist = np.arange(glob.h_s.shape[1], dtype=dh_s.dtype)[None, :] - cache.p_t[:, None]
    dp_t = np.sum(da * cache.weights * dist, axis=1) / cache.sigma ** 2   # α g = a
    out = {"h_t": g.pop("h_t"), "h_s": dh_s, **g}
    if cache.alignment == "monotonic":
        out["p_t"] = dp_t
        return out
    du = dp_t * cache.p_t * (1 - cache.p_t / cache.S)
    dr = (du[:, None] * cache.v_p) * (1 - cache.z_p ** 2)
    out["h_t"] = out["h_t"] + dr @ cache.W_p.T
    out.update(W_p=glob.h_t.T @ dr, v_p=du @ cache.z_p)
    return out


def attentional_hidden_forward(c_t, h_t, W_c):
    """h̃_t = tanh([c_t; h_t] W_c): c_t (B, d_c), h_t (B, d_t), W_c (d_c + d_t, d_out).
    Returns (h̃_t, cache)."""
    return attentional_hidden_unchecked(*check_attentional_hidden(c_t, h_t, W_c), W_c)


def attentional_hidden_unchecked(c_t, h_t, W_c):
    """attentional_hidden_forward on inputs that passed check_attentional_hidden (a decoder's
    per-step call)."""
    x = np.concatenate([c_t, h_t], axis=1)
    out = np.tanh(x @ W_c)
    return out, AttentionalHiddenCache(x, W_c, c_t.shape[1], out)


def attentional_hidden_backward(dout, cache):
    """{c_t, h_t, W_c}: dr = dh̃ ⊙ (1 − h̃²), dW_c = [c_t; h_t]ᵀ dr, d[c_t; h_t] = dr W_cᵀ, split."""
    out, d_c = cache.out, cache.d_c
    dout = np.asarray(dout, out.dtype)
    if dout.shape != out.shape:
        raise ValueError(f"attentional_hidden_backward: dout must be {out.shape}, got {dout.shape}")
    dr = dout * (1 - out * out)
    dx = dr @ cache.W_c.T
    return {"c_t": dx[:, :d_c], "h_t": dx[:, d_c:], "W_c": cache.x.T @ dr}
