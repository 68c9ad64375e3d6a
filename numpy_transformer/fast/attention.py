"""Multi-head attention computed faster, the same maths as ops/attention.py (tested equal):

* fused projections: self-attention's three projections read the same input, so they run as
  one GEMM with [W_Q | W_K | W_V] (d_model, 3·d_model); cross-attention fuses [W_K | W_V]. One
  large GEMM uses the cores better than three thin ones, and the backward's dx is one GEMM
  with the fused weight too. When decoding, the fused weight is built once per decode and kept
  in the key/value cache (FusedKVCache).
* the 1/sqrt(d_k) scale is applied to Q (..., T, d_k) instead of the (..., T, T) scores;
* softmax and its backward run in place on the scores (no (B, h, T, T) temporaries), and
  probabilities below tiny/eps are zeroed (fast/subnormal.py).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..config.tree import Tree
from ..ops.attention import KVCache, check_mask, check_qkv
from ..ops.dropout import dropout_forward
from ..ops.linear import linear_backward, linear_forward
from .subnormal import flush_tiny


def softmax_forward_inplace(x, mask=None):
    """ops.softmax.softmax_forward written into x itself, then flush_tiny."""
    if mask is not None:
        np.copyto(x, -np.inf, where=~mask)
    m = np.max(x, axis=-1, keepdims=True)
    if mask is not None:
        np.putmask(m, ~np.isfinite(m), 0)   # putmask, not m[mask] = 0: no host sync on a GPU
    x -= m
    np.exp(x, out=x)
    s = np.sum(x, axis=-1, keepdims=True)
    if mask is not None:
        np.putmask(s, s == 0, 1)
    x /= s
    return flush_tiny(x)


def softmax_backward_inplace(dp, p):
    """ops.softmax.softmax_backward written into dp: dx = p · (dp − Σ dp·p)."""
    s = np.einsum("...i,...i->...", dp, p)[..., None]   # Σ_j dp_j p_j, no (.., T, T) temporary
    dp -= s
    dp *= p
    return dp


class ScaledSDPACache(NamedTuple):
    q_scaled: np.ndarray   # Q / sqrt(d_k)
    k: np.ndarray
    v: np.ndarray
    weights: np.ndarray    # softmax, before dropout
    scale: float
    drop_mask: object      # dropout's scaled mask on the weights; None when off


def sdpa_forward(q, k, v, mask=None, dropout=0.0, rng=None):
    """softmax((Q/sqrt(d_k)) Kᵀ) V, softmax in place on the freshly made scores; dropout on
    the weights as in ops.attention.sdpa_forward (the same draws from `rng`)."""
    check_qkv(q, k, v)
    scale = q.dtype.type(1.0 / math.sqrt(q.shape[-1]))
    q = q * scale
    scores = np.matmul(q, np.swapaxes(k, -1, -2))
    if mask is not None:
        mask = check_mask(mask, scores.shape)
    p = softmax_forward_inplace(scores, mask)
    p_dropped, drop_mask = dropout_forward(p, dropout, rng, training=True)
    return np.matmul(p_dropped, v), ScaledSDPACache(q, k, v, p, scale, drop_mask)


def sdpa_backward(dout, cache):
    """As ops.attention.sdpa_backward; dK = dSᵀ (scale·Q) reuses the scaled Q, and the dropout
    mask multiplies dP̃ in place."""
    p, m = cache.weights, cache.drop_mask
    dv = np.matmul(np.swapaxes(p if m is None else p * m, -1, -2), dout)
    dp = np.matmul(dout, np.swapaxes(cache.v, -1, -2))
    if m is not None:
        dp *= m
    ds = softmax_backward_inplace(dp, p)
    dq = np.matmul(ds, cache.k)
    dq *= cache.scale
    return dq, np.matmul(np.swapaxes(ds, -1, -2), cache.q_scaled), dv


def split_fused(x, num_heads, n):
    """(B, T, n·h·d_k) → n arrays (B, h, T, d_k): one strided view per projection."""
    B, T, _ = x.shape
    return tuple(x.reshape(B, T, n, num_heads, -1).transpose(2, 0, 3, 1, 4))


def merge_fused(parts):
    """n arrays (B, h, T, d_k) → (B, T, n·h·d_k), the layout of a fused projection's output."""
    B, H, T, dk = parts[0].shape
    out = np.empty((B, T, len(parts), H, dk), dtype=parts[0].dtype)
    for j, a in enumerate(parts):
        out[:, :, j] = a.transpose(0, 2, 1, 3)
    return out.reshape(B, T, -1)


class FusedKVCache(KVCache):
    """ops.attention.KVCache that also keeps the fused projection weights of one decode: the
    weights do not change while decoding, so they are concatenated on the first step only."""

    def __init__(self, batch, num_heads, max_len, d_k, dtype, fixed=False):
        super().__init__(batch, num_heads, max_len, d_k, dtype, fixed)
        self.fused = {}          # projection names → ([W_a | W_b | …], [b_a | b_b | …])


def fused(p, names, kv_cache=None):
    """[W_a | W_b | …] and [b_a | b_b | …] for the projections that read the same input; kept in
    the FusedKVCache while decoding."""
    if kv_cache is not None and names in kv_cache.fused:
        return kv_cache.fused[names]
    wb = (np.concatenate([p[n].weight for n in names], axis=1),
          np.concatenate([p[n].bias for n in names]))
    if kv_cache is not None:
        kv_cache.fused[names] = wb
    return wb


class FusedMHACache(NamedTuple):
    x_q: np.ndarray
    x_kv: np.ndarray | None
    concat: np.ndarray
    sdpa: ScaledSDPACache
    w_fused: np.ndarray | None     # [W_Q|W_K|W_V] (self) or [W_K|W_V] (cross), for dx

    @property
    def weights(self):
        return self.sdpa.weights


def mha_forward(x_q, x_kv, p, num_heads, mask=None, kv_cache=None, dropout=0.0, rng=None):
    """As ops.attention.mha_forward (same arguments, dropout included; the key/value cache a
    FusedKVCache)."""
    w = None
    if x_kv is None:
        w, b = fused(p, ("wq", "wk", "wv"), kv_cache)
        q, k, v = split_fused(linear_forward(x_q, w, b)[0], num_heads, 3)
        if kv_cache is not None:
            k, v = kv_cache.append(k, v)
    else:
        (q,) = split_fused(linear_forward(x_q, p.wq.weight, p.wq.bias)[0], num_heads, 1)
        if kv_cache is not None and kv_cache.k is not None:
            k, v = kv_cache.k, kv_cache.v
        else:
            w, b = fused(p, ("wk", "wv"), kv_cache)
            k, v = split_fused(linear_forward(x_kv, w, b)[0], num_heads, 2)
            if kv_cache is not None:   # contiguous: read at every step
                kv_cache.k, kv_cache.v = np.ascontiguousarray(k), np.ascontiguousarray(v)
    o, sdpa_cache = sdpa_forward(q, k, v, mask, dropout, rng)
    B, H, T, dk = o.shape
    concat = o.transpose(0, 2, 1, 3).reshape(B, T, H * dk)
    out = linear_forward(concat, p.wo.weight, p.wo.bias)[0]
    return out, FusedMHACache(x_q, x_kv, concat, sdpa_cache, w)


def mha_backward(dout, cache, p):
    """As ops.attention.mha_backward. The projections' gradients come out of one GEMM each for
    the fused weight: dx = [dQ|dK|dV] [W_Q|W_K|W_V]ᵀ, d[W_Q|W_K|W_V] = xᵀ [dQ|dK|dV]."""
    xq, xkv, w = cache.x_q, cache.x_kv, cache.w_fused
    num_heads = cache.sdpa.q_scaled.shape[1]
    dconcat, dwo, dbo = linear_backward(dout, cache.concat, p.wo.weight)
    B, Tq, _ = dconcat.shape
    do = dconcat.reshape(B, Tq, num_heads, -1).transpose(0, 2, 1, 3)
    dq, dk, dv = sdpa_backward(do, cache.sdpa)
    grads = Tree()
    if xkv is None:
        dxq, dw, db = linear_backward(merge_fused((dq, dk, dv)), xq, w)
        dxkv = None
        names = ("wq", "wk", "wv")
    else:
        dxq, dwq, dbq = linear_backward(merge_fused((dq,)), xq, p.wq.weight)
        grads.wq = Tree(weight=dwq, bias=dbq)
        dxkv, dw, db = linear_backward(merge_fused((dk, dv)), xkv, w)
        names = ("wk", "wv")
    for name, dw_i, db_i in zip(names, np.split(dw, len(names), axis=1), np.split(db, len(names))):
        grads[name] = Tree(weight=dw_i, bias=db_i)
    grads.wo = Tree(weight=dwo, bias=dbo)       # last: the order of p (wq, wk, wv, wo)
    return dxq, dxkv, grads
