"""The encoder stack and the decoder stack (paper, section 3.1), forward beside backward.

    x (the model's embedded input) → Dropout → N layers → LayerNorm (pre-LN only)

The Transformer's encoder, the ViT and BERT run the same encoder stack; each model keeps only
what is its own (the embedding before the stack, the head after it). `p` holds the stack's
parameters under local names (`layers.0.norm1.gamma`, `final_norm.gamma`, …: the model's
names with `encoder.` or `decoder.` stripped) and the gradients come back under the same names.
"""
from __future__ import annotations

from typing import NamedTuple

from ..ops.dropout import dropout_backward, dropout_forward
from .kernels import PLAIN
from .layers import (add_prefixed, decoder_layer_backward, decoder_layer_forward, encoder_layer_backward,
                     encoder_layer_forward, sub)


class StackCache(NamedTuple):
    drop_mask: object        # dropout on the embedded input; None when off
    layers: list             # one EncoderLayerCache / DecoderLayerCache per layer
    final_norm: object       # pre-LN: the stack's final LayerNorm; None in post-LN


def final_norm_forward(x, p, cfg, kernels):
    """Pre-LN leaves the last residual sum un-normalised, so the stack ends with a LayerNorm;
    post-LN's layers end in one already (None: no norm)."""
    if not cfg.norm_first:
        return x, None
    return kernels.layernorm_forward(x, p["final_norm.gamma"], p["final_norm.beta"], cfg.layer_norm_eps)


def final_norm_backward(dx, cache, p, grads, kernels):
    if cache is None:
        return dx
    dx, grads["final_norm.gamma"], grads["final_norm.beta"] = kernels.layernorm_backward(
        dx, cache, p["final_norm.gamma"])
    return dx


# ---------------------------------------------------------------- encoder stack

def encoder_stack_forward(x, p, cfg, mask, rng=None, training=False, kernels=PLAIN, attention_dropout=0.0):
    """x (B, T, d_model) → the stack's output (B, T, d_model) and its StackCache. `mask` is
    the keys' mask (padding; None: every position attends to every one), `attention_dropout`
    the rate on the attention weights in training (BERT's attention_probs_dropout_prob)."""
    x, drop_mask = dropout_forward(x, cfg.dropout, rng, training)
    layers = []
    for i in range(cfg.num_layers):
        x, c = encoder_layer_forward(x, sub(p, f"layers.{i}"), cfg, mask, rng, training, kernels,
                                     attention_dropout)
        layers.append(c)
    x, final = final_norm_forward(x, p, cfg, kernels)
    return x, StackCache(drop_mask, layers, final)


def encoder_stack_backward(dx, cache, p, cfg, kernels=PLAIN):
    """The final norm, the layers in reverse, the input dropout. Returns dx (w.r.t. the
    embedded input) and the grads under local names."""
    grads = {}
    dx = final_norm_backward(dx, cache.final_norm, p, grads, kernels)
    for i in reversed(range(cfg.num_layers)):
        dx, g = encoder_layer_backward(dx, cache.layers[i], sub(p, f"layers.{i}"), cfg, kernels)
        add_prefixed(grads, f"layers.{i}", g)
    return dropout_backward(dx, cache.drop_mask), grads


# ---------------------------------------------------------------- decoder stack

def decoder_stack_forward(y, memory, p, cfg, self_mask, cross_mask, rng=None, training=False,
                          kernels=PLAIN, kv=None, layer_params=None):
    """y (B, T, d_model), the embedded target prefix, and `memory`, the encoder's output →
    (B, T, d_model) and the StackCache. When decoding step by step, `kv` holds one LayerKV per
    layer and `layer_params` each layer's parameters, picked out once per decode (DecoderState)
    rather than at every step."""
    y, drop_mask = dropout_forward(y, cfg.dropout, rng, training)
    layers = []
    for i in range(cfg.num_layers):
        p_i = sub(p, f"layers.{i}") if layer_params is None else layer_params[i]
        y, c = decoder_layer_forward(y, memory, p_i, cfg, self_mask, cross_mask, rng, training, kernels,
                                     None if kv is None else kv[i])
        layers.append(c)
    y, final = final_norm_forward(y, p, cfg, kernels)
    return y, StackCache(drop_mask, layers, final)


def decoder_stack_backward(dy, cache, p, cfg, kernels=PLAIN):
    """As encoder_stack_backward; every layer's cross-attention read the encoder output, so
    dmemory is the sum of the layers' contributions. Returns dy, dmemory and the grads."""
    grads, dmemory = {}, None
    dy = final_norm_backward(dy, cache.final_norm, p, grads, kernels)
    for i in reversed(range(cfg.num_layers)):
        dy, dmem, g = decoder_layer_backward(dy, cache.layers[i], sub(p, f"layers.{i}"), cfg, kernels)
        add_prefixed(grads, f"layers.{i}", g)
        dmemory = dmem if dmemory is None else dmemory + dmem
    return dropout_backward(dy, cache.drop_mask), dmemory, grads
