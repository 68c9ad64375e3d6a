"""BERT's own ops (Devlin et al., 2019, section 3 and appendix A), forward beside backward:

    x = LN(E_tok[ids] + E_pos[0:T] + E_seg[segments])                    the input embedding
    MLM head at the chosen positions:
        u = LN(GELU(h W_t + b_t)),   logits = u E_tokᵀ + b_out            output tied to E_tok
    [CLS] head:
        c = tanh(h[:, 0] W_p + b_p),  logits = Dropout(c) W_c + b_c        pooler, classifier

Every op reads its own parameter subtree and its backward returns a gradient tree of the same
shape. The MLM
output layer reuses the token embedding matrix, so E_tok receives two gradients, one from the
input gather and one from the output product; the model adds them (models/bert.py).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..config.tree import Tree
from .activations import gelu_backward, gelu_forward, tanh_backward, tanh_forward
from .dropout import dropout_backward, dropout_forward
from .embedding import embedding_backward
from .layernorm import layernorm_backward, layernorm_forward
from .linear import linear_backward, linear_forward, matmul2d


# ---------------------------------------------------------------- input embedding

class BertEmbeddingCache(NamedTuple):
    ids: np.ndarray         # (B, T) the token ids, the rows of E_tok used
    segments: np.ndarray    # (B, T) the segment ids, the rows of E_seg used


def bert_embedding_forward(ids, segments, token, position, segment):
    """E_tok[ids] + E_pos[t] + E_seg[segments] for ids, segments (B, T): two gathers and a
    broadcast add of the first T rows of the learned position table (T ≤ its length). The
    LayerNorm that follows is the caller's (ops/layernorm.py). Returns (B, T, d) and the cache."""
    T = ids.shape[1]
    if T > position.shape[0]:
        raise ValueError(f"sequence length {T} exceeds the position table ({position.shape[0]} positions)")
    return token[ids] + position[:T] + segment[segments], BertEmbeddingCache(ids, segments)


def bert_embedding_backward(dx, cache, token_rows, position_rows, segment_rows):
    """Each table row was added to every position that selected it, so its gradient is the sum
    of dx there: scatter-adds over ids (token) and segment ids (segment), a sum over the batch
    for the position table (rows ≥ T were not used: 0). Returns dtoken, dposition, dsegment."""
    dpos = np.zeros((position_rows, dx.shape[-1]), dtype=dx.dtype)
    dpos[: cache.ids.shape[1]] = dx.sum(axis=0)
    return (embedding_backward(dx, cache.ids, token_rows), dpos,
            embedding_backward(dx, cache.segments, segment_rows))


# ---------------------------------------------------------------- picking the predicted positions

def gather_positions(h, positions):
    """h (B, T, d) → rows h[b, t] where positions[b, t] is True, (N, d) in row-major order
    (BERT computes the MLM head only at the chosen ~15 %, not at every position)."""
    return h[positions]


def gather_positions_backward(dy, positions, h_shape):
    """Each picked row goes back to its place; the rows not picked get zero."""
    dh = np.zeros(h_shape, dtype=dy.dtype)
    dh[positions] = dy
    return dh


# ---------------------------------------------------------------- masked-language-model head

class MLMHeadCache(NamedTuple):
    h: np.ndarray           # the head's input, (..., d)
    pre: np.ndarray         # h W_t + b_t, GELU's input
    norm: object            # LayerNormCache of LN(GELU(pre))
    u: np.ndarray           # LN(a): the tied output layer's input
    approximate: bool


def mlm_head_forward(h, p, token, eps, approximate=False):
    """logits = LN(GELU(h W_t + b_t)) E_tokᵀ + b_out over the last axis: (..., d) → (..., V).
    p is the head's tree: p.dense.{weight,bias}, p.norm.{gamma,beta}, p.bias; `token` is E_tok (V, d),
    the input embedding itself (tied weights: BERT's output layer has no matrix of its own)."""
    pre = linear_forward(h, p.dense.weight, p.dense.bias)[0]
    a = gelu_forward(pre, approximate)[0]
    u, norm = layernorm_forward(a, p.norm.gamma, p.norm.beta, eps)
    logits = matmul2d(u, token.T)
    logits += p.bias
    return logits, MLMHeadCache(h, pre, norm, u, approximate)


def mlm_head_backward(dlogits, cache, p, token):
    """With U the rows of u and G those of dlogits (N × V): logits = U E_tokᵀ + b, so
        dE_tok (the output use) = Gᵀ U  (V × d),   db_out = Σ_rows G,   du = G E_tok,
    then back through the LayerNorm, GELU and the dense layer. Returns dh, the head's gradient
    tree (shaped like p) and dtoken_out, the tied matrix's gradient from this use alone."""
    u2 = cache.u.reshape(-1, cache.u.shape[-1])
    g2 = dlogits.reshape(-1, dlogits.shape[-1])
    dtoken = np.matmul(g2.T, u2)
    dbias = g2.sum(axis=0)
    du = matmul2d(dlogits, token)
    da, dgamma, dbeta = layernorm_backward(du, cache.norm, p.norm.gamma)
    dpre = gelu_backward(da, cache.pre, cache.approximate)
    dh, dw, db = linear_backward(dpre, cache.h, p.dense.weight)
    return dh, Tree(dense=Tree(weight=dw, bias=db), norm=Tree(gamma=dgamma, beta=dbeta), bias=dbias), dtoken


# ---------------------------------------------------------------- [CLS] classification head

class ClassifierHeadCache(NamedTuple):
    h_shape: tuple          # the encoder output's shape (B, T, d)
    h_cls: np.ndarray       # h[:, 0], the pooler's input
    pooled: np.ndarray      # tanh(h_cls W_p + b_p)
    drop_mask: object       # dropout's scaled mask on the pooled output; None when off
    dropped: np.ndarray     # Dropout(pooled), the classifier's input


def classifier_head_forward(h, p, dropout=0.0, rng=None):
    """BERT's pooler and classifier: c = tanh(h[:, 0] W_p + b_p), logits = Dropout(c) W_c + b_c,
    reading only position 0, the [CLS] token. p is a tree with p.pooler.dense.{weight,bias} and
    p.classifier.{weight,bias} (the model's own: the head's two top-level parts); `dropout` > 0 drops pooled features with masks from `rng`
    (BertConfig.classifier_dropout; callers pass 0 outside training).
    Returns (B, num_classes) and the cache."""
    h_cls = h[:, 0]
    pooled = tanh_forward(linear_forward(h_cls, p.pooler.dense.weight, p.pooler.dense.bias)[0])[0]
    dropped, drop_mask = dropout_forward(pooled, dropout, rng, training=True)
    logits = linear_forward(dropped, p.classifier.weight, p.classifier.bias)[0]
    return logits, ClassifierHeadCache(h.shape, h_cls, pooled, drop_mask, dropped)


def classifier_head_backward(dlogits, cache, p):
    """The classifier's linear backward, dropout's (d pooled = d dropped · mask), then tanh's
    and the pooler's; only row 0 of each sequence reached the head, so dh is zero elsewhere.
    Returns dh (B, T, d) and the gradient tree Tree(pooler=…, classifier=…)."""
    ddropped, dwc, dbc = linear_backward(dlogits, cache.dropped, p.classifier.weight)
    dpre = tanh_backward(dropout_backward(ddropped, cache.drop_mask), cache.pooled)
    dh_cls, dwp, dbp = linear_backward(dpre, cache.h_cls, p.pooler.dense.weight)
    dh = np.zeros(cache.h_shape, dtype=dlogits.dtype)
    dh[:, 0] = dh_cls
    return dh, Tree(pooler=Tree(dense=Tree(weight=dwp, bias=dbp)), classifier=Tree(weight=dwc, bias=dbc))
