"""Masks, scaled dot-product attention and multi-head attention (the book's chapter 13 and 14
classes, corrected).

Mask convention: boolean, **True = may attend** (as Keras' `attention_mask` and the NumPy
reference). The book builds the inverse (1 = masked) and adds -1e9 to the scores.
"""
from __future__ import annotations

import math

import keras
from keras import ops

_NEG = -1e9  # the book's "-inf": exp(-1e9 - max) is exactly 0 in float32 and float64


def padding_mask(ids, pad_id=0):
    """(B, T) ids -> (B, 1, 1, T) bool, True where the *key* is a real token. It broadcasts
    over heads and query positions (the book's `padding_mask`, inverted)."""
    return ops.not_equal(ids, pad_id)[:, None, None, :]


def lookahead_mask(seq_len):
    """(T, T) bool, True on and below the diagonal: query t sees keys 0..t (the book's
    `lookahead_mask`, inverted). `seq_len` may be a symbolic scalar inside a tf.function."""
    i = ops.arange(seq_len)
    return ops.greater_equal(i[:, None], i[None, :])


def decoder_self_mask(tgt_ids, pad_id=0):
    """(B, 1, T, T): causal AND target key padding (the decoder's self-attention mask)."""
    return ops.logical_and(lookahead_mask(ops.shape(tgt_ids)[1]), padding_mask(tgt_ids, pad_id))


class KVCache:
    """Keys and values (B, H, L, d_k) of one attention block between decoding steps, the Keras
    twin of numpy_transformer.ops.attention.KVCache in a form a compiled step can carry: fixed-size
    buffers (one shape for every position, so TensorFlow traces once and JAX compiles once) and no
    mutation of tensors (each step returns new ones; JAX arrays are immutable).

    Self-attention (`t` the position being decoded, a scalar tensor): the step writes its key and
    value into slot t (ops.where with a one-hot of the L slots: exact, and portable where dynamic
    slice updates are not) and attends over slots 0..t (`mask()`); earlier positions' keys and
    values never change under the causal mask, so nothing is recomputed.
    Cross-attention (`t=None`): keys and values of the encoder output, projected once per decode."""

    def __init__(self, k, v, t=None):
        self.k, self.v, self.t = k, v, t

    def update(self, k_new, v_new):
        """Store this position's k, v (B, H, 1, d_k) in slot t; return every slot's."""
        if self.t is not None:
            slot = ops.equal(ops.arange(ops.shape(self.k)[2]), self.t)[None, None, :, None]
            self.k = ops.where(slot, k_new, self.k)
            self.v = ops.where(slot, v_new, self.v)
        return self.k, self.v

    def mask(self):
        """(1, 1, 1, L) bool, True for the slots written so far (0..t)."""
        return ops.less_equal(ops.arange(ops.shape(self.k)[2]), self.t)[None, None, None, :]


@keras.saving.register_keras_serializable(package="keras_transformer")
class DotProductAttention(keras.layers.Layer):
    """softmax(Q Kᵀ / sqrt(d_k)) V over the last two axes. Masked scores are replaced by -1e9
    before the softmax, which gives them exactly zero weight in every row with at least one
    allowed key; the weights are then multiplied by the mask, so a row with no allowed key
    gets all-zero weights (as in the NumPy reference) instead of a uniform row. That product
    changes nothing anywhere else (x·1 = x, and the masked weights are already 0).
    `dropout` > 0: in training, dropout on the weights before they weigh V (BERT's
    attention_probs_dropout_prob); the weights returned are those before dropout."""

    def __init__(self, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(dropout)
        self.dropout = keras.layers.Dropout(self.rate, dtype=self.dtype_policy, name="dropout") if self.rate else None

    def get_config(self):
        return {**super().get_config(), "dropout": self.rate}

    def call(self, queries, keys, values, attention_mask=None, return_attention_scores=False, training=None):
        # a Python float: converted straight to the scores' dtype (ops.cast of a Python float to
        # float64 goes through float32, 6e-8 off in float64 logits when 1/sqrt(d_k) is inexact)
        scale = 1.0 / math.sqrt(queries.shape[-1])
        scores = ops.matmul(queries, ops.swapaxes(keys, -1, -2)) * scale
        if attention_mask is not None:
            attention_mask = ops.cast(attention_mask, "bool")
            scores = ops.where(attention_mask, scores, ops.cast(_NEG, scores.dtype))
        weights = ops.softmax(scores, axis=-1)
        if attention_mask is not None:
            weights = weights * ops.cast(attention_mask, weights.dtype)
        dropped = weights if self.dropout is None else self.dropout(weights, training=training)
        out = ops.matmul(dropped, values)
        return (out, weights) if return_attention_scores else out


@keras.saving.register_keras_serializable(package="keras_transformer")
class MultiHeadAttention(keras.layers.Layer):
    """MultiHead(Q, K, V) = Concat(head_1..head_h) W_o + b_o with head_i = Attention(Q W_q^i,
    K W_k^i, V W_v^i). Errata 1: the per-head projections sit side by side in one Dense of
    width num_heads·d_k (= d_model) and the scale is 1/sqrt(d_k), d_k = d_model // num_heads.

    call(queries, keys, values, attention_mask=None, return_attention_scores=False, cache=None,
    training=None) -> (B, Tq, d_model) [and the weights (B, H, Tq, Tk)]. `dropout`: on the
    attention weights in training (DotProductAttention)."""

    def __init__(self, num_heads, d_model, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.num_heads, self.d_model = int(num_heads), int(d_model)
        self.d_k = self.d_model // self.num_heads
        self.attention = DotProductAttention(dropout, dtype=self.dtype_policy, name="attention")
        self.W_q = keras.layers.Dense(self.d_model, dtype=self.dtype_policy, name="W_q")
        self.W_k = keras.layers.Dense(self.d_model, dtype=self.dtype_policy, name="W_k")
        self.W_v = keras.layers.Dense(self.d_model, dtype=self.dtype_policy, name="W_v")
        self.W_o = keras.layers.Dense(self.d_model, dtype=self.dtype_policy, name="W_o")

    def build(self, input_shape=None):
        for dense in (self.W_q, self.W_k, self.W_v, self.W_o):
            dense.build((None, None, self.d_model))

    def reshape_tensor(self, x, heads_first):
        """(B, T, H·d_k) <-> (B, H, T, d_k): split into heads or concatenate them back."""
        if heads_first:
            B, T = ops.shape(x)[0], ops.shape(x)[1]
            return ops.transpose(ops.reshape(x, (B, T, self.num_heads, self.d_k)), (0, 2, 1, 3))
        x = ops.transpose(x, (0, 2, 1, 3))
        B, T = ops.shape(x)[0], ops.shape(x)[1]
        return ops.reshape(x, (B, T, self.d_model))

    def project_kv(self, keys, values):
        """The keys' and values' projections, split into heads: (B, H, T, d_k) each."""
        return self.reshape_tensor(self.W_k(keys), True), self.reshape_tensor(self.W_v(values), True)

    def call(self, queries, keys, values, attention_mask=None, return_attention_scores=False, cache=None,
             training=None):
        """With a KVCache (step-by-step decoding): self-attention stores the new position's keys
        and values and attends over every stored one; cross-attention uses the cache's projected
        encoder output (keys and values are then ignored)."""
        q = self.reshape_tensor(self.W_q(queries), True)
        if cache is None:
            k, v = self.project_kv(keys, values)
        elif cache.t is None:
            k, v = cache.k, cache.v
        else:
            k, v = cache.update(*self.project_kv(keys, values))
            attention_mask = cache.mask()
        o, weights = self.attention(q, k, v, attention_mask, return_attention_scores=True, training=training)
        out = self.W_o(self.reshape_tensor(o, False))
        return (out, weights) if return_attention_scores else out

    def variable_map(self):
        """Shared local names (NumPy reference) -> this layer's Keras variables."""
        out = {}
        for name, dense in (("wq", self.W_q), ("wk", self.W_k), ("wv", self.W_v), ("wo", self.W_o)):
            out[f"{name}.weight"], out[f"{name}.bias"] = dense.kernel, dense.bias
        return out

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "d_model": self.d_model,
                "dropout": self.attention.rate}
