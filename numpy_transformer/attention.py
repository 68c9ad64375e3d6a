"""Masks, masked softmax, scaled dot-product attention and multi-head attention.

Mask convention: boolean, **True = may attend** (Keras' `attention_mask`). The book uses the
inverse (1 = masked out, added as -1e9 to the scores); we keep the Keras convention so the
same mask feeds both backends unchanged.
"""
from __future__ import annotations

import math

import numpy as np

from .basic import flush_tiny, linear_backward, linear_forward


def padding_mask(ids, pad_id=0):
    """(B, T) ids → (B, 1, 1, T) boolean, True where the *key* is a real token. Broadcasts over
    heads and query positions, so no query attends to padding."""
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f"padding_mask expects ids of shape (batch, seq_len), got {ids.shape}")
    return (ids != pad_id)[:, None, None, :]


def causal_mask(T):
    """(T, T) boolean, True on and below the diagonal: query t may attend to keys 0..t only
    (the book's look-ahead mask, inverted)."""
    return np.tril(np.ones((T, T), dtype=bool))


def _check_mask(mask, scores_shape):
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"attention mask must be boolean (True = may attend), got dtype {mask.dtype}")
    try:
        np.broadcast_shapes(mask.shape, scores_shape)
    except ValueError:
        raise ValueError(f"attention mask of shape {mask.shape} does not broadcast to the "
                         f"scores' shape {scores_shape}") from None
    return mask


def softmax_forward(x, mask=None, out=None):
    """p = exp(x - max) / Σ exp(x - max) over the last axis (subtracting the row max keeps
    exp finite). Masked entries (mask False) get p = 0 exactly; a row with no allowed entry
    gets all zeros instead of NaN (Keras would give a uniform row there). Probabilities below
    tiny/eps (1e-31 in float32) are set to 0 (basic.flush_tiny: no subnormals downstream).
    `out=x` computes in place (x is overwritten with p): attention scores can be (B, H, T, T),
    so no temporaries."""
    if out is None:
        e = x.copy()
    else:
        if out is not x:
            np.copyto(out, x)
        e = out
    if mask is not None:
        np.copyto(e, -np.inf, where=~mask)
    m = np.max(e, axis=-1, keepdims=True)
    if mask is not None:
        m[~np.isfinite(m)] = 0  # fully masked rows: exp(-inf - 0) = 0, no NaN
    e -= m
    np.exp(e, out=e)
    s = np.sum(e, axis=-1, keepdims=True)
    if mask is not None:
        s[s == 0] = 1
    e /= s
    return flush_tiny(e)   # p of confident rows underflows: no subnormals into the GEMMs


def softmax_backward(dp, p, out=None):
    """∂p_i/∂x_j = p_i (δ_ij − p_j), so dx = p · (dp − Σ_j dp_j p_j). Masked entries have p = 0
    and so receive zero gradient. `out=dp` overwrites dp."""
    s = np.einsum("...i,...i->...", dp, p)[..., None]   # Σ_j dp_j p_j, no (.., T, T) temporary
    dx = np.subtract(dp, s, out=out)
    dx *= p
    return dx


def scaled_dot_product_attention(q, k, v, mask=None):
    """Attention(Q, K, V) = softmax(Q Kᵀ / sqrt(d_k)) V for q (..., Tq, d_k), k (..., Tk, d_k),
    v (..., Tk, d_v); 2-D arrays work too. `mask` (bool, True = may attend) broadcasts to
    (..., Tq, Tk). Returns the output (..., Tq, d_v) and the weights (..., Tq, Tk)."""
    out, cache = sdpa_forward(q, k, v, mask)
    return out, cache[3]


def sdpa_forward(q, k, v, mask=None):
    """Forward of scaled dot-product attention. The scale is applied to q, (..., Tq, d_k),
    rather than to the (..., Tq, Tk) scores: same product, one pass over a smaller array.
    The cache is (scale·q, k, v, p, scale)."""
    for name, a in (("q", q), ("k", k), ("v", v)):
        if a.ndim < 2:
            raise ValueError(f"attention input {name} must have at least 2 dims (..., T, d), got {a.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"attention shapes do not fit: q {q.shape}, k {k.shape}, v {v.shape}")
    scale = q.dtype.type(1.0 / math.sqrt(q.shape[-1]))
    q = q * scale
    scores = np.matmul(q, np.swapaxes(k, -1, -2))
    if mask is not None:
        mask = _check_mask(mask, scores.shape)
    p = softmax_forward(scores, mask, out=scores)   # scores are ours: softmax in place
    return np.matmul(p, v), (q, k, v, p, scale)


def sdpa_backward(dout, cache):
    """With S = (scale·Q) Kᵀ, P = softmax(S), O = P V:
    dV = Pᵀ dO, dP = dO Vᵀ, dS = softmax_backward(dP, P), dQ = scale·dS K, dK = dSᵀ (scale·Q).
    Returns dq, dk, dv."""
    q_scaled, k, v, p, scale = cache
    dv = np.matmul(np.swapaxes(p, -1, -2), dout)
    dp = np.matmul(dout, np.swapaxes(v, -1, -2))
    ds = softmax_backward(dp, p, out=dp)
    dq = np.matmul(ds, k)
    dq *= scale
    return dq, np.matmul(np.swapaxes(ds, -1, -2), q_scaled), dv


# ---------------------------------------------------------------- multi-head attention
# p holds the local names {wq, wk, wv, wo}.{weight, bias}, each projection (d_model, d_model)
# = (d_model, num_heads·d_k) (errata 1: per-head projections side by side, scale 1/sqrt(d_k)).

def _split_heads(x, num_heads, n):
    """(B, T, n·H·d_k) → n arrays (B, H, T, d_k): one strided view per projection."""
    B, T, _ = x.shape
    x = x.reshape(B, T, n, num_heads, -1).transpose(2, 0, 3, 1, 4)
    return tuple(x)


def _merge_heads(x):
    """(B, H, T, d_k) → (B, T, H·d_k): the concatenation of the heads."""
    B, H, T, dk = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * dk)


def _fused(p, names):
    """[W_a | W_b | ...] and [b_a | b_b | ...]: the projections that read the same input, as
    one (d_model, n·d_model) GEMM operand."""
    return (np.concatenate([p[f"{n}.weight"] for n in names], axis=1),
            np.concatenate([p[f"{n}.bias"] for n in names]))


def mha_forward(xq, xkv, p, num_heads, mask=None):
    """MultiHead(Q, K, V) = Concat(head_1..head_h) W_o + b_o, head_i = Attention(x_q W_q^i, x_kv W_k^i,
    x_kv W_v^i). `xkv=None` is self-attention: the three projections then run as one fused GEMM
    with [W_q | W_k | W_v] (same math, one BLAS call); cross-attention fuses [W_k | W_v].
    xq (B, Tq, d_model), xkv (B, Tk, d_model). Returns out (B, Tq, d_model), cache (which keeps
    the fused weight for the backward)."""
    if xkv is None:
        w, b = _fused(p, ("wq", "wk", "wv"))
        q, k, v = _split_heads(linear_forward(xq, w, b)[0], num_heads, 3)
    else:
        (q,) = _split_heads(linear_forward(xq, p["wq.weight"], p["wq.bias"])[0], num_heads, 1)
        w, b = _fused(p, ("wk", "wv"))
        k, v = _split_heads(linear_forward(xkv, w, b)[0], num_heads, 2)
    o, attn_cache = sdpa_forward(q, k, v, mask)
    concat = _merge_heads(o)
    out = linear_forward(concat, p["wo.weight"], p["wo.bias"])[0]
    return out, (xq, xkv, concat, attn_cache, w)


def _merge_into(parts):
    """n arrays (B, H, T, d_k) → (B, T, n·H·d_k), the layout of a fused projection's output
    (inverse of _split_heads), written with one copy per part."""
    B, H, T, dk = parts[0].shape
    out = np.empty((B, T, len(parts), H, dk), dtype=parts[0].dtype)
    for j, a in enumerate(parts):
        out[:, :, j] = a.transpose(0, 2, 1, 3)
    return out.reshape(B, T, -1)


def mha_backward(dout, cache, p):
    """Back through W_o (linear), the head merge (a reshape: its gradient is the inverse
    reshape), attention (sdpa_backward) and the projections (linear). For self-attention all
    three projections read xq, so dxq = dQ W_qᵀ + dK W_kᵀ + dV W_vᵀ = [dQ|dK|dV] [W_q|W_k|W_v]ᵀ.
    Returns dxq, dxkv (None for self-attention) and the grads under p's names."""
    xq, xkv, concat, attn_cache, w = cache
    num_heads = attn_cache[0].shape[1]
    dconcat, dwo, dbo = linear_backward(dout, concat, p["wo.weight"])
    B, Tq, _ = dconcat.shape
    do = dconcat.reshape(B, Tq, num_heads, -1).transpose(0, 2, 1, 3)
    dq, dk, dv = sdpa_backward(do, attn_cache)
    grads = {"wo.weight": dwo, "wo.bias": dbo}
    if xkv is None:
        dxq, dw, db = linear_backward(_merge_into((dq, dk, dv)), xq, w)
        dxkv = None
        names = ("wq", "wk", "wv")
    else:
        dxq, grads["wq.weight"], grads["wq.bias"] = linear_backward(_merge_heads(dq), xq, p["wq.weight"])
        dxkv, dw, db = linear_backward(_merge_into((dk, dv)), xkv, w)
        names = ("wk", "wv")
    for name, dw_i, db_i in zip(names, np.split(dw, len(names), axis=1), np.split(db, len(names))):
        grads[f"{name}.weight"], grads[f"{name}.bias"] = dw_i, db_i
    return dxq, dxkv, grads
