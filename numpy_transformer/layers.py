"""Position-wise feed-forward, the residual "add & norm" connection, encoder and decoder layers.

Every function takes `p`, a dict of this layer's parameters under local names
(`self_attn.wq.weight`, `norm1.gamma`, `ffn.linear1.weight`, ...), and returns gradients
under the same names. The model adds the `encoder.layers.{i}.` prefix.
"""
from __future__ import annotations

from .attention import mha_backward, mha_forward
from .basic import (dropout_backward, dropout_forward, linear_backward, linear_forward,
                    relu_backward, relu_forward)
from .layernorm import layernorm_backward, layernorm_forward


def sub(p, prefix):
    """The entries of `p` under `prefix.`, with the prefix stripped (views, not copies)."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in p.items() if k.startswith(prefix + ".")}


def feed_forward_forward(x, p):
    """FFN(x) = max(0, x W1 + b1) W2 + b2 (paper eq. 2), applied to each position alone."""
    h, x_cache = linear_forward(x, p["linear1.weight"], p["linear1.bias"])
    a, relu_cache = relu_forward(h, out=h)   # h is a fresh GEMM output, used nowhere else
    y, a_cache = linear_forward(a, p["linear2.weight"], p["linear2.bias"])
    return y, (x_cache, relu_cache, a_cache)


def feed_forward_backward(dy, cache, p):
    """Chain rule through linear2, ReLU, linear1. Returns dx and the grads."""
    x, relu_out, a = cache
    da, dw2, db2 = linear_backward(dy, a, p["linear2.weight"])
    dh = relu_backward(da, relu_out, out=da)   # da is ours: overwrite it
    dx, dw1, db1 = linear_backward(dh, x, p["linear1.weight"])
    return dx, {"linear1.weight": dw1, "linear1.bias": db1, "linear2.weight": dw2, "linear2.bias": db2}


def residual_forward(x, sublayer, gamma, beta, eps, norm_first, dropout, rng, training):
    """The residual connection around one sublayer f (attention or FFN):
    post-LN (paper):  y = LayerNorm(x + Dropout(f(x)))
    pre-LN:           y = x + Dropout(f(LayerNorm(x)))
    `sublayer(h)` returns (f(h), its cache). Returns y and the cache."""
    h, ln_in = (layernorm_forward(x, gamma, beta, eps) if norm_first else (x, None))
    s, s_cache = sublayer(h)
    s, drop_mask = dropout_forward(s, dropout, rng, training)
    if norm_first:
        return x + s, (ln_in, s_cache, drop_mask, None)
    y, ln_out = layernorm_forward(x + s, gamma, beta, eps)
    return y, (None, s_cache, drop_mask, ln_out)


def residual_backward(dy, cache, sublayer_backward, gamma):
    """The skip path passes dy straight to x; the other path goes back through dropout, f
    (`sublayer_backward(ds, cache) -> (dh, grads, extra)`) and, in pre-LN, the input norm.
    post-LN: dz = LN_backward(dy); dx = dz + df(dz).  pre-LN: dx = dy + LN_backward(df(dy)).
    Returns dx, the sublayer's grads, the norm's (dgamma, dbeta) and the sublayer's extra
    output (the gradient w.r.t. the encoder memory for cross-attention, else None)."""
    ln_in, s_cache, drop_mask, ln_out = cache
    if ln_out is not None:
        dy, dgamma, dbeta = layernorm_backward(dy, ln_out, gamma)
    dh, grads, extra = sublayer_backward(dropout_backward(dy, drop_mask), s_cache)
    if ln_in is not None:
        dh, dgamma, dbeta = layernorm_backward(dh, ln_in, gamma)
    return dy + dh, grads, (dgamma, dbeta), extra


def _norm(p, name):
    return p[f"{name}.gamma"], p[f"{name}.beta"]


def _self_attn(p, num_heads, mask):
    """(forward, backward) of the self-attention sublayer; backward → (dx, grads, None)."""
    attn = sub(p, "self_attn")

    def forward(h):
        return mha_forward(h, None, attn, num_heads, mask)

    def backward(ds, cache):
        dx, _, grads = mha_backward(ds, cache, attn)
        return dx, grads, None
    return forward, backward


def _cross_attn(p, num_heads, memory, mask):
    """(forward, backward) of cross-attention; backward → (dx, grads, dmemory)."""
    attn = sub(p, "cross_attn")

    def forward(h):
        return mha_forward(h, memory, attn, num_heads, mask)

    def backward(ds, cache):
        dx, dmemory, grads = mha_backward(ds, cache, attn)
        return dx, grads, dmemory
    return forward, backward


def _ffn(p):
    """(forward, backward) of the feed-forward sublayer; backward → (dx, grads, None)."""
    ffn = sub(p, "ffn")

    def forward(h):
        return feed_forward_forward(h, ffn)

    def backward(ds, cache):
        dx, grads = feed_forward_backward(ds, cache, ffn)
        return dx, grads, None
    return forward, backward


def _collect(grads, prefix, sub_grads, norm, dnorm):
    grads.update({f"{prefix}.{k}": v for k, v in sub_grads.items()})
    grads[f"{norm}.gamma"], grads[f"{norm}.beta"] = dnorm


def encoder_layer_forward(x, p, cfg, mask, rng=None, training=False):
    """x → self-attention sublayer (norm1) → feed-forward sublayer (norm2). `mask` is the
    source padding mask. Returns y and the cache."""
    caches = []
    for name, (fwd, _) in (("norm1", _self_attn(p, cfg.num_heads, mask)), ("norm2", _ffn(p))):
        x, c = residual_forward(x, fwd, *_norm(p, name), cfg.layer_norm_eps, cfg.norm_first,
                                cfg.dropout, rng, training)
        caches.append(c)
    return x, caches


def encoder_layer_backward(dy, cache, p, cfg):
    """The two sublayers in reverse. Returns dx and the layer's grads (local names)."""
    grads = {}
    steps = (("self_attn", "norm1", _self_attn(p, cfg.num_heads, None)[1]), ("ffn", "norm2", _ffn(p)[1]))
    for (prefix, norm, bwd), c in reversed(list(zip(steps, cache))):
        dy, g, dnorm, _ = residual_backward(dy, c, bwd, p[f"{norm}.gamma"])
        _collect(grads, prefix, g, norm, dnorm)
    return dy, grads


def decoder_layer_forward(y, memory, p, cfg, self_mask, cross_mask, rng=None, training=False):
    """y → masked self-attention (norm1) → cross-attention over the encoder output `memory`
    (norm2; errata 2: the book reused add_norm1 here) → feed-forward (norm3)."""
    caches = []
    subs = (("norm1", _self_attn(p, cfg.num_heads, self_mask)),
            ("norm2", _cross_attn(p, cfg.num_heads, memory, cross_mask)), ("norm3", _ffn(p)))
    for name, (fwd, _) in subs:
        y, c = residual_forward(y, fwd, *_norm(p, name), cfg.layer_norm_eps, cfg.norm_first,
                                cfg.dropout, rng, training)
        caches.append(c)
    return y, caches


def decoder_layer_backward(dout, cache, p, cfg):
    """Reverse of decoder_layer_forward. Returns dy, dmemory (from cross-attention) and grads."""
    grads = {}
    steps = (("self_attn", "norm1", _self_attn(p, cfg.num_heads, None)[1]),
             ("cross_attn", "norm2", _cross_attn(p, cfg.num_heads, None, None)[1]),
             ("ffn", "norm3", _ffn(p)[1]))
    dmemory = None
    for (prefix, norm, bwd), c in reversed(list(zip(steps, cache))):
        dout, g, dnorm, extra = residual_backward(dout, c, bwd, p[f"{norm}.gamma"])
        _collect(grads, prefix, g, norm, dnorm)
        if extra is not None:
            dmemory = extra
    return dout, dmemory, grads
