"""Token embeddings (gather / scatter-add) and the sinusoidal position encoding."""
from __future__ import annotations

import math

import numpy as np


def positional_encoding(seq_len, d_model, n=10000, dtype=np.float32):
    """P[k, 2i] = sin(k / n^(2i/d)), P[k, 2i+1] = cos(k / n^(2i/d)) (paper, section 3.5).
    Shape (seq_len, d_model); an odd d_model just ends on a sine column. Computed in float64
    and cast once, so float32 and float64 models see the same table up to rounding."""
    if seq_len < 0 or d_model < 1:
        raise ValueError(f"positional_encoding needs seq_len >= 0 and d_model >= 1, got {seq_len}, {d_model}")
    k = np.arange(seq_len, dtype=np.float64)[:, None]
    two_i = (np.arange(d_model) // 2 * 2).astype(np.float64)
    angle = k / np.power(float(n), two_i / d_model)
    P = np.where(np.arange(d_model) % 2 == 0, np.sin(angle), np.cos(angle))
    return P.astype(dtype)


def embedding_forward(ids, weight):
    """y[b, t] = W[ids[b, t]]: a gather of rows. The cache is the ids."""
    return weight[ids], ids


def embedding_backward(dy, ids, vocab_size):
    """Each row W[v] was copied to every position holding id v, so dW[v] = Σ_{(b,t): ids=v} dy[b,t]:
    a scatter-add (np.add.at accumulates repeated ids, which plain fancy assignment would not)."""
    dW = np.zeros((vocab_size, dy.shape[-1]), dtype=dy.dtype)
    np.add.at(dW, ids.reshape(-1), dy.reshape(-1, dy.shape[-1]))
    return dW


def embed_forward(ids, weight, pe, offset=0):
    """x = W[ids] · sqrt(d_model) + P[offset : offset + T] (errata 3: trainable embeddings,
    scaled, plus the fixed sinusoids; `offset` is the first position, > 0 when decoding one
    step at a time). Dropout is applied by the caller. Returns x and the cache (ids)."""
    d_model = weight.shape[1]
    e, _ = embedding_forward(ids, weight)
    x = e * weight.dtype.type(math.sqrt(d_model))
    x += pe[offset: offset + ids.shape[-1]]
    return x, ids


def embed_backward(dx, ids, vocab_size):
    """P is a constant and the scale is linear: dW = scatter_add(ids, dx · sqrt(d_model))."""
    scale = dx.dtype.type(math.sqrt(dx.shape[-1]))
    return embedding_backward(dx * scale, ids, vocab_size)
