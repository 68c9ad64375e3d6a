"""The encoder and decoder layers (paper, section 3.1), forward beside backward, written out
line by line. Every sublayer f (attention or feed-forward) sits in a residual connection:

    post-LN (the paper):  x = LayerNorm(x + Dropout(f(x)))
    pre-LN (an option):   x = x + Dropout(f(LayerNorm(x)))

Each function takes the layer's own parameter tree `p` (p.self_attn.wq.weight, p.norm1.gamma,
p.ffn.linear1.weight, …) and each backward returns a gradient tree of the same shape, so the
models hand a layer `p.encoder.layers[i]` and get its gradients back whole. `kernels` is the
table of the plain or the fast implementations of attention, feed-forward and layer norm
(models/kernels.py); `k.mha_forward` is ops.attention.mha_forward itself on the plain kernels.
"""
from __future__ import annotations

from typing import NamedTuple

from ..config.tree import Tree
from ..ops.attention import KVCache
from ..ops.dropout import dropout_backward, dropout_forward
from .kernels import PLAIN


def layer_norm(x, p, cfg, kernels):
    """LayerNorm(x) with the norm's tree p (p.gamma, p.beta). Returns y and the cache."""
    return kernels.layernorm_forward(x, p.gamma, p.beta, cfg.layer_norm_eps)


def layer_norm_backward(dy, cache, p, kernels):
    """Returns dx and the norm's gradient tree (gamma, beta)."""
    dx, dgamma, dbeta = kernels.layernorm_backward(dy, cache, p.gamma)
    return dx, Tree(gamma=dgamma, beta=dbeta)


def final_norm(x, p, cfg, kernels):
    """The stack's end: pre-LN leaves the last residual sum un-normalised, so a stack ends with
    LayerNorm(x) (p.final_norm); post-LN's layers end in a norm already (cache None)."""
    if not cfg.norm_first:
        return x, None
    return layer_norm(x, p.final_norm, cfg, kernels)


def final_norm_backward(dx, cache, p, kernels):
    """Returns dx and the stack's final-norm gradients to splat into its gradient tree:
    {"final_norm": Tree(gamma, beta)} in pre-LN, {} in post-LN (which has no final norm)."""
    if cache is None:
        return dx, {}
    dx, g = layer_norm_backward(dx, cache, p.final_norm, kernels)
    return dx, {"final_norm": g}


# ---------------------------------------------------------------- encoder layer

class EncoderLayerCache(NamedTuple):
    ln1: object          # norm1's cache: of LayerNorm(x) in pre-LN, of LayerNorm(x + a) in post-LN
    self_attn: object    # the attention's cache (its .weights: the softmax weights)
    drop1: object        # dropout's scaled mask on the attention output a; None when off
    ln2: object          # norm2's cache
    ffn: object          # the feed-forward network's cache
    drop2: object        # dropout's mask on the feed-forward output f


def encoder_layer_forward(x, p, cfg, mask, rng=None, training=False, kernels=PLAIN, attention_dropout=0.0):
    """Self-attention, then the feed-forward network, each in its residual connection. `mask`
    is the keys' padding mask (None: every position attends to every one); `attention_dropout`
    the rate on the attention weights in training (BERT's; the Transformer and the ViT have
    none). Returns the layer's output and its cache."""
    k, heads, rate = kernels, cfg.num_heads, cfg.dropout
    attn_drop = attention_dropout if training else 0.0
    if cfg.norm_first:
        h, ln1 = layer_norm(x, p.norm1, cfg, k)
        a, attn = k.mha_forward(h, None, p.self_attn, heads, mask, None, attn_drop, rng)
        a, drop1 = dropout_forward(a, rate, rng, training)
        x = x + a
        h, ln2 = layer_norm(x, p.norm2, cfg, k)
        f, ffn = k.feed_forward_forward(h, p.ffn, cfg.activation)
        f, drop2 = dropout_forward(f, rate, rng, training)
        x = x + f
    else:
        a, attn = k.mha_forward(x, None, p.self_attn, heads, mask, None, attn_drop, rng)
        a, drop1 = dropout_forward(a, rate, rng, training)
        x, ln1 = layer_norm(x + a, p.norm1, cfg, k)
        f, ffn = k.feed_forward_forward(x, p.ffn, cfg.activation)
        f, drop2 = dropout_forward(f, rate, rng, training)
        x, ln2 = layer_norm(x + f, p.norm2, cfg, k)
    return x, EncoderLayerCache(ln1, attn, drop1, ln2, ffn, drop2)


def encoder_layer_backward(dx, c, p, cfg, kernels=PLAIN):
    """encoder_layer_forward in reverse, line by line. A residual sum x + s passes its gradient
    to both x (the skip path) and s; where x also fed the sublayer, the two gradients of x add.
    Returns dx and the layer's gradient tree."""
    k = kernels
    if cfg.norm_first:
        df = dropout_backward(dx, c.drop2)                     # x = x + f
        dh, ffn = k.feed_forward_backward(df, c.ffn, p.ffn)
        dh, norm2 = layer_norm_backward(dh, c.ln2, p.norm2, k)
        dx = dx + dh
        da = dropout_backward(dx, c.drop1)                     # x = x + a
        dh, _, self_attn = k.mha_backward(da, c.self_attn, p.self_attn)
        dh, norm1 = layer_norm_backward(dh, c.ln1, p.norm1, k)
        dx = dx + dh
    else:
        dx, norm2 = layer_norm_backward(dx, c.ln2, p.norm2, k)   # x = LN(x + f)
        df = dropout_backward(dx, c.drop2)
        dh, ffn = k.feed_forward_backward(df, c.ffn, p.ffn)
        dx = dx + dh
        dx, norm1 = layer_norm_backward(dx, c.ln1, p.norm1, k)   # x = LN(x + a)
        da = dropout_backward(dx, c.drop1)
        dh, _, self_attn = k.mha_backward(da, c.self_attn, p.self_attn)
        dx = dx + dh
    return dx, Tree(self_attn=self_attn, norm1=norm1, ffn=ffn, norm2=norm2)


# ---------------------------------------------------------------- decoder layer

class DecoderLayerCache(NamedTuple):
    ln1: object
    self_attn: object
    drop1: object
    ln2: object
    cross_attn: object
    drop2: object
    ln3: object
    ffn: object
    drop3: object


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
    """Masked self-attention (norm1), cross-attention over the encoder output `memory` (norm2;
    errata 2: the book reused add_norm1 here), the feed-forward network (norm3). With `kv` (a
    LayerKV), y holds only the newest positions and self-attention attends over the cached ones
    too (self_mask None: every cached position is earlier, so allowed). Returns y and the cache."""
    k, heads, rate = kernels, cfg.num_heads, cfg.dropout
    kv_self, kv_cross = (None, None) if kv is None else kv
    if cfg.norm_first:
        h, ln1 = layer_norm(y, p.norm1, cfg, k)
        a, self_attn = k.mha_forward(h, None, p.self_attn, heads, self_mask, kv_self)
        a, drop1 = dropout_forward(a, rate, rng, training)
        y = y + a
        h, ln2 = layer_norm(y, p.norm2, cfg, k)
        s, cross_attn = k.mha_forward(h, memory, p.cross_attn, heads, cross_mask, kv_cross)
        s, drop2 = dropout_forward(s, rate, rng, training)
        y = y + s
        h, ln3 = layer_norm(y, p.norm3, cfg, k)
        f, ffn = k.feed_forward_forward(h, p.ffn, cfg.activation)
        f, drop3 = dropout_forward(f, rate, rng, training)
        y = y + f
    else:
        a, self_attn = k.mha_forward(y, None, p.self_attn, heads, self_mask, kv_self)
        a, drop1 = dropout_forward(a, rate, rng, training)
        y, ln1 = layer_norm(y + a, p.norm1, cfg, k)
        s, cross_attn = k.mha_forward(y, memory, p.cross_attn, heads, cross_mask, kv_cross)
        s, drop2 = dropout_forward(s, rate, rng, training)
        y, ln2 = layer_norm(y + s, p.norm2, cfg, k)
        f, ffn = k.feed_forward_forward(y, p.ffn, cfg.activation)
        f, drop3 = dropout_forward(f, rate, rng, training)
        y, ln3 = layer_norm(y + f, p.norm3, cfg, k)
    return y, DecoderLayerCache(ln1, self_attn, drop1, ln2, cross_attn, drop2, ln3, ffn, drop3)


def decoder_layer_backward(dy, c, p, cfg, kernels=PLAIN):
    """decoder_layer_forward in reverse, line by line. Returns dy, dmemory (the cross-attention's
    gradient of the encoder output) and the layer's gradient tree."""
    k = kernels
    if cfg.norm_first:
        df = dropout_backward(dy, c.drop3)                     # y = y + f
        dh, ffn = k.feed_forward_backward(df, c.ffn, p.ffn)
        dh, norm3 = layer_norm_backward(dh, c.ln3, p.norm3, k)
        dy = dy + dh
        ds = dropout_backward(dy, c.drop2)                     # y = y + s
        dh, dmemory, cross_attn = k.mha_backward(ds, c.cross_attn, p.cross_attn)
        dh, norm2 = layer_norm_backward(dh, c.ln2, p.norm2, k)
        dy = dy + dh
        da = dropout_backward(dy, c.drop1)                     # y = y + a
        dh, _, self_attn = k.mha_backward(da, c.self_attn, p.self_attn)
        dh, norm1 = layer_norm_backward(dh, c.ln1, p.norm1, k)
        dy = dy + dh
    else:
        dy, norm3 = layer_norm_backward(dy, c.ln3, p.norm3, k)   # y = LN(y + f)
        df = dropout_backward(dy, c.drop3)
        dh, ffn = k.feed_forward_backward(df, c.ffn, p.ffn)
        dy = dy + dh
        dy, norm2 = layer_norm_backward(dy, c.ln2, p.norm2, k)   # y = LN(y + s)
        ds = dropout_backward(dy, c.drop2)
        dh, dmemory, cross_attn = k.mha_backward(ds, c.cross_attn, p.cross_attn)
        dy = dy + dh
        dy, norm1 = layer_norm_backward(dy, c.ln1, p.norm1, k)   # y = LN(y + a)
        da = dropout_backward(dy, c.drop1)
        dh, _, self_attn = k.mha_backward(da, c.self_attn, p.self_attn)
        dy = dy + dh
    return dy, dmemory, Tree(self_attn=self_attn, norm1=norm1, cross_attn=cross_attn, norm2=norm2,
                             ffn=ffn, norm3=norm3)
