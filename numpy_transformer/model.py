"""The encoder-decoder Transformer: parameters, forward, hand-written backward, state dicts."""
from __future__ import annotations

import math

import numpy as np

from .attention import causal_mask, padding_mask
from .basic import dropout_backward, dropout_forward, linear_backward, linear_forward
from .config import TransformerConfig, check_state_dict, parameter_shapes
from .embedding import embed_backward, embed_forward, positional_encoding
from .layernorm import layernorm_backward, layernorm_forward
from .layers import (decoder_layer_backward, decoder_layer_forward, encoder_layer_backward,
                     encoder_layer_forward, sub)


def check_ids(ids, vocab_size, max_len, name="ids"):
    """Validate a (batch, seq_len) array of token ids; raise a clear TypeError/ValueError."""
    if not isinstance(ids, np.ndarray):
        ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array of token ids, got dtype {ids.dtype}")
    if ids.ndim != 2:
        raise ValueError(f"{name} must have shape (batch, seq_len), got {ids.shape}"
                         + (" (use ids[None] for a single sequence)" if ids.ndim == 1 else ""))
    if ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {ids.shape}")
    if ids.shape[1] > max_len:
        raise ValueError(f"{name} has length {ids.shape[1]} > max_len={max_len}")
    lo, hi = ids.min(), ids.max()
    if lo < 0 or hi >= vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{name} contains id {bad} outside the vocabulary [0, {vocab_size})")
    return ids


def init_params(cfg: TransformerConfig, seed=0):
    """Glorot-uniform weights (Keras' Dense default), zero biases, LayerNorm gamma=1/beta=0,
    embeddings N(0, d_model^-1/2) so that after the sqrt(d_model) scale they have unit variance."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in parameter_shapes(cfg).items():
        if name.endswith("embedding.weight"):
            w = rng.normal(0.0, cfg.d_model ** -0.5, shape)
        elif name.endswith(".weight"):
            limit = math.sqrt(6.0 / (shape[0] + shape[1]))
            w = rng.uniform(-limit, limit, shape)
        elif name.endswith(".gamma"):
            w = np.ones(shape)
        else:
            w = np.zeros(shape)
        params[name] = w.astype(cfg.dtype)
    return params


class Transformer:
    """Encoder-decoder Transformer. `params` maps the shared names to arrays (weights (in, out)).

    forward(src_ids, tgt_ids) → logits (B, T_tgt, tgt_vocab); tgt_ids is the decoder input
    (`<start>`-prefixed). backward(dlogits) → grads with the keys and shapes of state_dict().
    """

    def __init__(self, cfg: TransformerConfig, seed=0):
        if not isinstance(cfg, TransformerConfig):
            raise TypeError(f"cfg must be a TransformerConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self.dtype = np.dtype(cfg.dtype)
        self.params = init_params(cfg, seed)
        self.pe = positional_encoding(cfg.max_len, cfg.d_model, dtype=self.dtype)
        self.rng = np.random.default_rng(seed + 1)  # dropout masks
        self._cache = None

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """A copy of every parameter under its shared name."""
        return {k: v.copy() for k, v in self.params.items()}

    def load_state_dict(self, state):
        """Strict load: every expected key present with its shape, no extras, all finite.
        Values are cast to the config's dtype; nothing is changed if a check fails."""
        check_state_dict(state, self.cfg)
        self.params = {k: np.array(state[k], dtype=self.dtype) for k in parameter_shapes(self.cfg)}

    def num_parameters(self):
        return sum(v.size for v in self.params.values())

    # ------------------------------------------------------------------ forward
    def encode(self, src_ids, rng=None, training=False):
        """Encoder stack: memory (B, S, d_model) and the cache its backward needs."""
        cfg, p = self.cfg, self.params
        src_mask = padding_mask(src_ids, cfg.pad_id)
        x, emb_cache = embed_forward(src_ids, p["encoder.embedding.weight"], self.pe)
        x, emb_drop = dropout_forward(x, cfg.dropout, rng, training)
        layer_caches = []
        for i in range(cfg.num_layers):
            x, c = encoder_layer_forward(x, sub(p, f"encoder.layers.{i}"), cfg, src_mask, rng, training)
            layer_caches.append(c)
        final = None
        if cfg.norm_first:
            x, final = layernorm_forward(x, p["encoder.final_norm.gamma"], p["encoder.final_norm.beta"],
                                         cfg.layer_norm_eps)
        return x, (emb_cache, emb_drop, layer_caches, final)

    def decode(self, tgt_ids, memory, src_mask, rng=None, training=False):
        """Decoder stack over the whole target prefix: hidden states (B, T, d_model) and cache."""
        cfg, p = self.cfg, self.params
        T = tgt_ids.shape[1]
        self_mask = causal_mask(T) & padding_mask(tgt_ids, cfg.pad_id)  # (B, 1, T, T)
        y, emb_cache = embed_forward(tgt_ids, p["decoder.embedding.weight"], self.pe)
        y, emb_drop = dropout_forward(y, cfg.dropout, rng, training)
        layer_caches = []
        for i in range(cfg.num_layers):
            y, c = decoder_layer_forward(y, memory, sub(p, f"decoder.layers.{i}"), cfg, self_mask,
                                         src_mask, rng, training)
            layer_caches.append(c)
        final = None
        if cfg.norm_first:
            y, final = layernorm_forward(y, p["decoder.final_norm.gamma"], p["decoder.final_norm.beta"],
                                         cfg.layer_norm_eps)
        return y, (emb_cache, emb_drop, layer_caches, final)

    def forward(self, src_ids, tgt_ids, training=False, rng=None):
        """Logits (B, T_tgt, tgt_vocab). With training=True dropout is on, drawing its masks
        from `rng` (default: the model's own generator); pass a fresh, identically seeded
        Generator to reproduce the masks exactly."""
        cfg = self.cfg
        src_ids = check_ids(src_ids, cfg.src_vocab_size, cfg.max_len, "src_ids")
        tgt_ids = check_ids(tgt_ids, cfg.tgt_vocab_size, cfg.max_len, "tgt_ids")
        if src_ids.shape[0] != tgt_ids.shape[0]:
            raise ValueError(f"batch sizes differ: src_ids {src_ids.shape}, tgt_ids {tgt_ids.shape}")
        if training and rng is None:
            rng = self.rng
        memory, enc_cache = self.encode(src_ids, rng, training)
        h, dec_cache = self.decode(tgt_ids, memory, padding_mask(src_ids, cfg.pad_id), rng, training)
        logits, h_cache = linear_forward(h, self.params["output.weight"], self.params["output.bias"])
        self._cache = (enc_cache, dec_cache, h_cache, logits.shape)
        return logits

    __call__ = forward

    def attention_weights(self):
        """Softmax weights of every attention block in the last forward, (B, H, Tq, Tk) each,
        under names like `encoder.layers.0.self_attn` and `decoder.layers.1.cross_attn`."""
        if self._cache is None:
            raise RuntimeError("attention_weights() needs a forward() first")
        enc_cache, dec_cache = self._cache[:2]
        out = {}
        for stack, cache, names in (("encoder", enc_cache, ("self_attn", "ffn")),
                                    ("decoder", dec_cache, ("self_attn", "cross_attn", "ffn"))):
            for i, layer_cache in enumerate(cache[2]):
                for name, sub_cache in zip(names, layer_cache):
                    if name != "ffn":  # residual cache → MHA cache → sdpa cache → p
                        out[f"{stack}.layers.{i}.{name}"] = sub_cache[1][3][3]
        return out

    # ------------------------------------------------------------------ backward
    def backward(self, dlogits):
        """Gradients of a scalar loss w.r.t. every parameter, given dloss/dlogits of the last
        forward. Returns a dict with the keys and shapes of state_dict()."""
        if self._cache is None:
            raise RuntimeError("backward() needs a forward() first")
        enc_cache, dec_cache, h_cache, logits_shape = self._cache
        dlogits = np.asarray(dlogits)
        if dlogits.shape != logits_shape:
            raise ValueError(f"dlogits has shape {dlogits.shape}, the last logits had {logits_shape}")
        cfg, p = self.cfg, self.params
        grads = {}
        dh, grads["output.weight"], grads["output.bias"] = linear_backward(dlogits, h_cache, p["output.weight"])

        # decoder, top to bottom; every layer's cross-attention adds to dmemory
        emb_cache, emb_drop, layer_caches, final = dec_cache
        if final is not None:
            dh, grads["decoder.final_norm.gamma"], grads["decoder.final_norm.beta"] = \
                layernorm_backward(dh, final, p["decoder.final_norm.gamma"])
        dmemory = 0
        for i in reversed(range(cfg.num_layers)):
            prefix = f"decoder.layers.{i}"
            dh, dmem_i, g = decoder_layer_backward(dh, layer_caches[i], sub(p, prefix), cfg)
            dmemory = dmemory + dmem_i
            grads.update({f"{prefix}.{k}": v for k, v in g.items()})
        dh = dropout_backward(dh, emb_drop)
        grads["decoder.embedding.weight"] = embed_backward(dh, emb_cache, cfg.tgt_vocab_size)

        emb_cache, emb_drop, layer_caches, final = enc_cache
        dx = dmemory
        if final is not None:
            dx, grads["encoder.final_norm.gamma"], grads["encoder.final_norm.beta"] = \
                layernorm_backward(dx, final, p["encoder.final_norm.gamma"])
        for i in reversed(range(cfg.num_layers)):
            prefix = f"encoder.layers.{i}"
            dx, g = encoder_layer_backward(dx, layer_caches[i], sub(p, prefix), cfg)
            grads.update({f"{prefix}.{k}": v for k, v in g.items()})
        dx = dropout_backward(dx, emb_drop)
        grads["encoder.embedding.weight"] = embed_backward(dx, emb_cache, cfg.src_vocab_size)
        return {k: grads[k] for k in p}  # the state_dict's order
