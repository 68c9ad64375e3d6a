"""Encoder and decoder layers as explicit residual blocks (paper, section 3.1).

Each sublayer f (attention or feed-forward) sits in a residual connection:
    post-LN (the paper):  y = LayerNorm(x + Dropout(f(x)))
    pre-LN (an option):   y = x + Dropout(f(LayerNorm(x)))
written as two halves around the call of f: `residual_in` gives what f reads, `residual_out`
adds f's output back. Every function takes `p`, the layer's parameters under local names
(`self_attn.wq.weight`, `norm1.gamma`, `ffn.linear1.weight`, …), and returns gradients under
the same names (the model adds `encoder.layers.{i}.`). `kernels` chooses the plain or the fast
implementation of attention, feed-forward and layer norm (models/kernels.py).
"""
from __future__ import annotations

from typing import NamedTuple

from ..ops.attention import KVCache
from ..ops.dropout import dropout_backward, dropout_forward
from .kernels import PLAIN


def sub(p, prefix):
    """The entries of `p` under `prefix.`, with the prefix stripped (the arrays themselves)."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in p.items() if k.startswith(prefix + ".")}


def add_prefixed(grads, prefix, sub_grads):
    grads.update({f"{prefix}.{k}": v for k, v in sub_grads.items()})


# ---------------------------------------------------------------- the residual connection

class ResidualCache(NamedTuple):
    norm_in: object          # pre-LN: the cache of LayerNorm(x); None in post-LN
    drop_mask: object        # dropout's scaled mask, None when dropout is off
    norm_out: object         # post-LN: the cache of LayerNorm(x + s); None in pre-LN


def residual_in(x, p, norm, cfg, kernels):
    """What the sublayer reads: LayerNorm(x) in pre-LN, x itself in post-LN. Returns it and the
    norm's cache (None in post-LN)."""
    if cfg.norm_first:
        return kernels.layernorm_forward(x, p[f"{norm}.gamma"], p[f"{norm}.beta"], cfg.layer_norm_eps)
    return x, None


def residual_out(x, s, norm_in, p, norm, cfg, rng, training, kernels):
    """Add the sublayer's output s back: y = x + Dropout(s) (pre-LN) or LayerNorm(x + Dropout(s))
    (post-LN). Returns y and the block's cache."""
    s, drop_mask = dropout_forward(s, cfg.dropout, rng, training)
    if cfg.norm_first:
        return x + s, ResidualCache(norm_in, drop_mask, None)
    y, norm_out = kernels.layernorm_forward(x + s, p[f"{norm}.gamma"], p[f"{norm}.beta"], cfg.layer_norm_eps)
    return y, ResidualCache(None, drop_mask, norm_out)


def residual_out_backward(dy, cache, p, norm, grads, kernels):
    """Back through the addition (and post-LN's norm): the sum z = x + s passes dz to both x (the
    skip path) and s. Returns (dx of the skip path, ds through dropout)."""
    if cache.norm_out is not None:
        dy, grads[f"{norm}.gamma"], grads[f"{norm}.beta"] = \
            kernels.layernorm_backward(dy, cache.norm_out, p[f"{norm}.gamma"])
    return dy, dropout_backward(dy, cache.drop_mask)


def residual_in_backward(dx_skip, dh, cache, p, norm, grads, kernels):
    """x reached the sublayer too (through pre-LN's norm): dx = dx_skip + dh (through the norm)."""
    if cache.norm_in is not None:
        dh, grads[f"{norm}.gamma"], grads[f"{norm}.beta"] = \
            kernels.layernorm_backward(dh, cache.norm_in, p[f"{norm}.gamma"])
    return dx_skip + dh


def ffn_block_backward(dy, ffn_cache, res, p, norm, grads, kernels):
    """Back through a feed-forward sublayer and its residual block (normalised by `norm`)."""
    dx, ds = residual_out_backward(dy, res, p, norm, grads, kernels)
    dh, g = kernels.feed_forward_backward(ds, ffn_cache, sub(p, "ffn"))
    add_prefixed(grads, "ffn", g)
    return residual_in_backward(dx, dh, res, p, norm, grads, kernels)


def attention_block_backward(dy, attn_cache, res, p, name, norm, grads, kernels):
    """Back through the attention sublayer `name` and its residual block. Returns dx and the
    gradient of the keys'/values' input (None for self-attention, whose keys read x)."""
    dx, ds = residual_out_backward(dy, res, p, norm, grads, kernels)
    dh, dkv, g = kernels.mha_backward(ds, attn_cache, sub(p, name))
    add_prefixed(grads, name, g)
    return residual_in_backward(dx, dh, res, p, norm, grads, kernels), dkv


# ---------------------------------------------------------------- encoder layer

class EncoderLayerCache(NamedTuple):
    self_attn: object
    res1: ResidualCache
    ffn: object
    res2: ResidualCache


def encoder_layer_forward(x, p, cfg, mask, rng=None, training=False, kernels=PLAIN, attention_dropout=0.0):
    """x → self-attention sublayer (norm1) → feed-forward sublayer (norm2). `mask` is the
    source padding mask; `attention_dropout` the rate on the attention weights in training
    (BERT's; the Transformer and the ViT have none). Returns y and the cache."""
    h, ln = residual_in(x, p, "norm1", cfg, kernels)
    s, attn = kernels.mha_forward(h, None, sub(p, "self_attn"), cfg.num_heads, mask, None,
                                  attention_dropout if training else 0.0, rng)
    x, res1 = residual_out(x, s, ln, p, "norm1", cfg, rng, training, kernels)

    h, ln = residual_in(x, p, "norm2", cfg, kernels)
    s, ffn = kernels.feed_forward_forward(h, sub(p, "ffn"), cfg.activation)
    x, res2 = residual_out(x, s, ln, p, "norm2", cfg, rng, training, kernels)
    return x, EncoderLayerCache(attn, res1, ffn, res2)


def encoder_layer_backward(dy, cache, p, cfg, kernels=PLAIN):
    """The two sublayers in reverse. Returns dx and the layer's grads (local names)."""
    grads = {}
    dy = ffn_block_backward(dy, cache.ffn, cache.res2, p, "norm2", grads, kernels)
    dx, _ = attention_block_backward(dy, cache.self_attn, cache.res1, p, "self_attn", "norm1", grads, kernels)
    return dx, grads


# ---------------------------------------------------------------- decoder layer

class DecoderLayerCache(NamedTuple):
    self_attn: object
    res1: ResidualCache
    cross_attn: object
    res2: ResidualCache
    ffn: object
    res3: ResidualCache


class LayerKV(NamedTuple):
    """One decoder layer's key/value caches for step-by-step decoding."""
    self_attn: KVCache      # grows by one position per step
    cross_attn: KVCache     # the encoder output's keys/values, computed on the first step

    @classmethod
    def empty(cls, batch, cfg, max_len, dtype, kernels=PLAIN):
        """Empty caches of the type `kernels.mha_forward` decodes with."""
        shape = (batch, cfg.num_heads, max_len, cfg.d_k, dtype)
        return cls(kernels.kv_cache(*shape), kernels.kv_cache(*shape, fixed=True))

    def reorder(self, index):
        self.self_attn.reorder(index)
        self.cross_attn.reorder(index)


def decoder_layer_forward(y, memory, p, cfg, self_mask, cross_mask, rng=None, training=False,
                          kernels=PLAIN, kv=None):
    """y → masked self-attention (norm1) → cross-attention over the encoder output `memory`
    (norm2; errata 2: the book reused add_norm1 here) → feed-forward (norm3).
    With `kv` (a LayerKV), y holds only the newest positions: self-attention attends over the
    cached ones too (self_mask None: every cached position is earlier, so allowed)."""
    h, ln = residual_in(y, p, "norm1", cfg, kernels)
    s, self_attn = kernels.mha_forward(h, None, sub(p, "self_attn"), cfg.num_heads, self_mask,
                                       None if kv is None else kv.self_attn)
    y, res1 = residual_out(y, s, ln, p, "norm1", cfg, rng, training, kernels)

    h, ln = residual_in(y, p, "norm2", cfg, kernels)
    s, cross_attn = kernels.mha_forward(h, memory, sub(p, "cross_attn"), cfg.num_heads, cross_mask,
                                        None if kv is None else kv.cross_attn)
    y, res2 = residual_out(y, s, ln, p, "norm2", cfg, rng, training, kernels)

    h, ln = residual_in(y, p, "norm3", cfg, kernels)
    s, ffn = kernels.feed_forward_forward(h, sub(p, "ffn"), cfg.activation)
    y, res3 = residual_out(y, s, ln, p, "norm3", cfg, rng, training, kernels)
    return y, DecoderLayerCache(self_attn, res1, cross_attn, res2, ffn, res3)


def decoder_layer_backward(dout, cache, p, cfg, kernels=PLAIN):
    """Reverse of decoder_layer_forward. Returns dy, dmemory (from cross-attention) and grads."""
    grads = {}
    dout = ffn_block_backward(dout, cache.ffn, cache.res3, p, "norm3", grads, kernels)
    dout, dmemory = attention_block_backward(dout, cache.cross_attn, cache.res2, p, "cross_attn", "norm2",
                                             grads, kernels)
    dy, _ = attention_block_backward(dout, cache.self_attn, cache.res1, p, "self_attn", "norm1", grads, kernels)
    return dy, dmemory, grads
