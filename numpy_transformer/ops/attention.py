"""Scaled dot-product attention and multi-head attention (paper, section 3.2), forward beside
backward, with an optional key/value cache for decoding one position at a time.

Masks are boolean, True = may attend (see ops/softmax.py).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..config.tree import Tree
from .dropout import dropout_backward, dropout_forward
from .linear import linear_backward, linear_forward
from .softmax import softmax_backward, softmax_forward


def padding_mask(ids, pad_id=0):
    """(B, T) ids → (B, 1, 1, T) boolean, True where the *key* is a real token. Broadcasts over
    heads and query positions, so no query attends to padding."""
    ids = np.asanyarray(ids)
    if ids.ndim != 2:
        raise ValueError(f"padding_mask expects ids of shape (batch, seq_len), got {ids.shape}")
    return (ids != pad_id)[:, None, None, :]


def causal_mask(T):
    """(T, T) boolean, True on and below the diagonal: query t may attend to keys 0..t only
    (the book's look-ahead mask, inverted)."""
    return np.tril(np.ones((T, T), dtype=bool))


def check_mask(mask, scores_shape):
    """A clear error for a mask that is not boolean or does not broadcast to the scores."""
    mask = np.asanyarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"attention mask must be boolean (True = may attend), got dtype {mask.dtype}")
    try:
        np.broadcast_shapes(mask.shape, scores_shape)
    except ValueError:
        raise ValueError(f"attention mask of shape {mask.shape} does not broadcast to the "
                         f"scores' shape {scores_shape}") from None
    return mask


def check_qkv(q, k, v):
    for name, a in (("q", q), ("k", k), ("v", v)):
        if a.ndim < 2:
            raise ValueError(f"attention input {name} must have at least 2 dims (..., T, d), got {a.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"attention shapes do not fit: q {q.shape}, k {k.shape}, v {v.shape}")


# ---------------------------------------------------------------- scaled dot-product attention

class SDPACache(NamedTuple):
    q: np.ndarray          # (..., Tq, d_k)
    k: np.ndarray          # (..., Tk, d_k)
    v: np.ndarray          # (..., Tk, d_v)
    weights: np.ndarray    # P = softmax(S), (..., Tq, Tk), before dropout
    scale: float           # 1 / sqrt(d_k)
    drop_mask: object      # dropout's scaled mask on P; None when dropout is off


def sdpa_forward(q, k, v, mask=None, dropout=0.0, rng=None):
    """Attention(Q, K, V) = softmax(Q Kᵀ / sqrt(d_k)) V (paper, eq. 1).
    The 1/sqrt(d_k) keeps the scores' variance near 1 when q and k have unit-variance entries
    (a dot product of d_k terms has variance d_k), so softmax does not saturate.
    q (..., Tq, d_k), k (..., Tk, d_k), v (..., Tk, d_v); `mask` broadcasts to (..., Tq, Tk).
    `dropout` > 0 drops attention weights, P̃ = Dropout(P), O = P̃ V, with masks drawn from
    `rng` (BERT's attention_probs_dropout_prob; callers pass 0 outside training).
    Returns O (..., Tq, d_v) and the cache."""
    check_qkv(q, k, v)
    scale = 1.0 / math.sqrt(q.shape[-1])
    S = np.matmul(q, np.swapaxes(k, -1, -2)) * q.dtype.type(scale)
    if mask is not None:
        mask = check_mask(mask, S.shape)
    P = softmax_forward(S, mask)
    P_dropped, drop_mask = dropout_forward(P, dropout, rng, training=True)
    return np.matmul(P_dropped, v), SDPACache(q, k, v, P, scale, drop_mask)


def sdpa_backward(dO, cache):
    """With S = scale · Q Kᵀ, P = softmax(S), P̃ = P · M (M dropout's scaled mask, or 1),
    O = P̃ V (matrix products, so each gradient is the upstream gradient times the transposed
    other factor; the mask multiplies elementwise, so it multiplies the gradient too):
        dV = P̃ᵀ dO,   dP̃ = dO Vᵀ,   dP = dP̃ · M,   dS = softmax_backward(dP, P),
        dQ = scale · dS K,   dK = scale · dSᵀ Q.
    A dropped weight passes no gradient to its score directly, but still reaches every score
    of its row through softmax's normalisation (softmax_backward). Returns dQ, dK, dV."""
    P, M = cache.weights, cache.drop_mask
    dV = np.matmul(np.swapaxes(P if M is None else P * M, -1, -2), dO)
    dP = dropout_backward(np.matmul(dO, np.swapaxes(cache.v, -1, -2)), M)
    dS = softmax_backward(dP, P) * P.dtype.type(cache.scale)
    return np.matmul(dS, cache.k), np.matmul(np.swapaxes(dS, -1, -2), cache.q), dV


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(Q Kᵀ / sqrt(d_k)) V for q (..., Tq, d_k), k (..., Tk, d_k), v (..., Tk, d_v);
    2-D arrays work too. Returns the output (..., Tq, d_v) and the weights (..., Tq, Tk)."""
    out, cache = sdpa_forward(q, k, v, mask)
    return out, cache.weights


# ---------------------------------------------------------------- key/value cache

class KVCache:
    """Keys and values (B, H, T, d_k) kept between decoding steps of one attention block.

    Self-attention (`fixed=False`): under the causal mask, earlier positions' keys and values
    never change, so each step appends the new position's and attends over all so far: a
    step costs O(t) instead of re-running the prefix, O(t²).
    Cross-attention (`fixed=True`): keys and values come from the encoder output, which is the
    same at every step; they are computed on the first step and reused."""

    def __init__(self, batch, num_heads, max_len, d_k, dtype, fixed=False):
        self.fixed = fixed
        self.t = 0                       # positions stored
        self.k = self.v = None
        if not fixed:
            self.k = np.zeros((batch, num_heads, max_len, d_k), dtype)
            self.v = np.zeros((batch, num_heads, max_len, d_k), dtype)

    def append(self, k, v):
        """Store the new positions' k, v (B, H, n, d_k); return every stored position's."""
        t, n = self.t, k.shape[2]
        if t + n > self.k.shape[2]:
            raise ValueError(f"key/value cache is full: {t} + {n} positions > max_len={self.k.shape[2]}")
        self.k[:, :, t:t + n], self.v[:, :, t:t + n] = k, v
        self.t = t + n
        return self.k[:, :, :self.t], self.v[:, :, :self.t]

    def reorder(self, index):
        """Keep batch rows `index` (beam search re-ranks its hypotheses every step)."""
        if self.k is not None:
            self.k, self.v = self.k[index], self.v[index]


# ---------------------------------------------------------------- multi-head attention
# p is the block's parameter tree: p.wq, p.wk, p.wv, p.wo, each with .weight and .bias. Each projection is (d_model, h·d_k):
# the h heads' (d_model, d_k) matrices W^Q_i side by side (errata 1), scale 1/sqrt(d_k).

def split_heads(x, num_heads):
    """(B, T, h·d_k) → (B, h, T, d_k): head i reads columns i·d_k … (i+1)·d_k − 1 (a view)."""
    B, T, _ = x.shape
    return x.reshape(B, T, num_heads, -1).transpose(0, 2, 1, 3)


def merge_heads(x):
    """(B, h, T, d_k) → (B, T, h·d_k): Concat(head_1, …, head_h), the inverse of split_heads."""
    B, H, T, dk = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * dk)


class MHACache(NamedTuple):
    x_q: np.ndarray                 # the queries' input (B, Tq, d_model)
    x_kv: np.ndarray | None         # the keys'/values' input; None for self-attention (= x_q)
    concat: np.ndarray              # Concat(heads) (B, Tq, h·d_k), the input of W_o
    sdpa: SDPACache                 # per-head Q, K, V and the weights P

    @property
    def weights(self):
        """The attention weights (B, h, Tq, Tk)."""
        return self.sdpa.weights


def mha_forward(x_q, x_kv, p, num_heads, mask=None, kv_cache=None, dropout=0.0, rng=None):
    """MultiHead(Q, K, V) = Concat(head_1, …, head_h) W_O + b_O,
    head_i = Attention(x_q W_Q^i + b_Q^i, x_kv W_K^i + b_K^i, x_kv W_V^i + b_V^i).
    `x_kv=None` is self-attention (keys and values read x_q). x_q (B, Tq, d_model),
    x_kv (B, Tk, d_model). With a `kv_cache`, x_q holds only the new positions: self-attention
    appends their keys/values to the cache and attends over all stored ones; cross-attention
    computes the keys/values of x_kv on the first call and reuses them. `dropout`, `rng`:
    dropout on the attention weights (sdpa_forward). Returns out (B, Tq, d_model) and the cache."""
    src = x_q if x_kv is None else x_kv
    Q = split_heads(linear_forward(x_q, p.wq.weight, p.wq.bias)[0], num_heads)
    if kv_cache is not None and kv_cache.fixed and kv_cache.k is not None:
        K, V = kv_cache.k, kv_cache.v
    else:
        K = split_heads(linear_forward(src, p.wk.weight, p.wk.bias)[0], num_heads)
        V = split_heads(linear_forward(src, p.wv.weight, p.wv.bias)[0], num_heads)
        if kv_cache is not None and kv_cache.fixed:
            kv_cache.k, kv_cache.v = K, V
        elif kv_cache is not None:
            K, V = kv_cache.append(K, V)
    O, sdpa_cache = sdpa_forward(Q, K, V, mask, dropout, rng)
    concat = merge_heads(O)
    out = linear_forward(concat, p.wo.weight, p.wo.bias)[0]
    return out, MHACache(x_q, x_kv, concat, sdpa_cache)


def mha_backward(dout, cache, p):
    """Back through W_O, the head merge, attention and the three projections.

    The merge is a reshape, so its gradient is the inverse reshape: dO_i = split(dConcat).
    Head i's query is Q_i = x_q W_Q^i + b_Q^i with W_Q^i the columns of W_Q that head i owns,
    so dW_Q^i = x_qᵀ dQ_i and db_Q^i = Σ_rows dQ_i; putting the heads' columns back side by side
    gives dW_Q = x_qᵀ Concat(dQ_1..dQ_h), db_Q = Σ_rows Concat(dQ_i). Likewise
    dW_K = x_kvᵀ Concat(dK_i), dW_V = x_kvᵀ Concat(dV_i).

    db_K is exactly zero: adding b_K^i to every key adds the same q_t·b_K^i to every score of
    query t, and softmax is invariant to a per-row constant. In the formulas: db_K^i = Σ_j dK_ij
    = scale · Σ_j Σ_t dS_tj q_t = scale · Σ_t q_t (Σ_j dS_tj) and every row of dS sums to zero
    (ops/softmax.py). (The book's Keras layers and PyTorch keep b_K anyway; so do we, for
    parity of parameter names — it simply never moves.)

    x_q feeds the queries, x_kv the keys and values; in self-attention both are x_q, so
    dx_q = dQ W_Qᵀ + dK W_Kᵀ + dV W_Vᵀ. Returns dx_q, dx_kv (None for self-attention) and the
    gradient tree, shaped like p."""
    x_q, x_kv = cache.x_q, cache.x_kv
    num_heads = cache.sdpa.q.shape[1]
    src = x_q if x_kv is None else x_kv
    dconcat, dwo, dbo = linear_backward(dout, cache.concat, p.wo.weight)
    dQ, dK, dV = sdpa_backward(split_heads(dconcat, num_heads), cache.sdpa)
    dx_q, dwq, dbq = linear_backward(merge_heads(dQ), x_q, p.wq.weight)
    dsrc_k, dwk, dbk = linear_backward(merge_heads(dK), src, p.wk.weight)
    dsrc_v, dwv, dbv = linear_backward(merge_heads(dV), src, p.wv.weight)
    grads = Tree(wq=Tree(weight=dwq, bias=dbq), wk=Tree(weight=dwk, bias=dbk),
                 wv=Tree(weight=dwv, bias=dbv), wo=Tree(weight=dwo, bias=dbo))
    if x_kv is None:
        return dx_q + dsrc_k + dsrc_v, None, grads
    return dx_q, dsrc_k + dsrc_v, grads
