"""Luong, Pham & Manning (2015) attention in Keras 3 (keras.ops only, any backend), the twin of
numpy_transformer/ops/luong.py with the same parameter names (W_a, v_a, W_p, v_p, W_c) and the
same conventions (see that module's docstring for the maths):

* LuongAttention(score, units=None): call(h_t, h_s, attention_mask=None) → (context, α), score
  "dot" | "general" | "concat" (units = d_a, concat only);
* LuongLocalAttention(score, D, alignment, units=None, predict_units=None): call(h_t, h_s,
  p_t=None, attention_mask=None) → (context, a_t); closed window |s − p_t| ≤ D cut at the
  sequence's ends, Gaussian σ = D/2 applied to the windowed softmax without renormalisation,
  p_t given ("monotonic") or T·sigmoid(v_pᵀ tanh(h_t W_p)) ("predictive");
* AttentionalHidden(units): call(c_t, h_t) → tanh([c_t; h_t] W_c).

Masks are boolean (B, T), True = may attend. The NumPy op raises for a row whose window holds no
allowed position; a Keras layer cannot (its values may be traced), so check p_t and the mask
before calling it (such a row would get NaN weights).
"""
from __future__ import annotations

import keras
from keras import ops

from .backend import check_backend_dtype
from .rnn import _masked_softmax

SCORES = ("dot", "general", "concat")


class _Checked(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        check_backend_dtype(self.dtype)       # float64 that would silently run in float32: an error
        self.supports_masking = True          # masks come as attention_mask, not propagated

    def compute_mask(self, *args, **kwargs):
        return None


@keras.saving.register_keras_serializable(package="keras_transformer")
class LuongAttention(_Checked):
    """Global attention: e_s = score(h_t, h̄_s), α = softmax(e) over the allowed positions,
    context = Σ_s α_s h̄_s."""

    def __init__(self, score, units=None, **kwargs):
        super().__init__(**kwargs)
        if score not in SCORES:
            raise ValueError(f"LuongAttention: unknown score {score!r}; expected one of {SCORES}")
        if score == "concat" and not units:
            raise ValueError("LuongAttention: the concat score needs units (d_a)")
        self.score, self.units = score, None if units is None else int(units)

    def build(self, h_t_shape, h_s_shape=None):
        d_t, d_s = h_t_shape[-1], (h_s_shape or h_t_shape)[-1]
        if self.score == "dot" and d_t != d_s:
            raise ValueError(f"LuongAttention: the dot score needs d_t = d_s, got {d_t} and {d_s}")
        if self.score == "general":
            self.W_a = self.add_weight(name="W_a", shape=(d_t, d_s), initializer="glorot_uniform")
        elif self.score == "concat":
            self.W_a = self.add_weight(name="W_a", shape=(d_t + d_s, self.units), initializer="glorot_uniform")
            self.v_a = self.add_weight(name="v_a", shape=(self.units,), initializer="glorot_uniform")

    def scores(self, h_t, h_s):
        if self.score == "concat":
            d_t = h_t.shape[-1]
            z = ops.tanh(ops.expand_dims(ops.matmul(h_t, self.W_a[:d_t]), 1) + ops.matmul(h_s, self.W_a[d_t:]))
            return ops.matmul(z, self.v_a)
        q = h_t if self.score == "dot" else ops.matmul(h_t, self.W_a)
        return ops.squeeze(ops.matmul(h_s, ops.expand_dims(q, -1)), -1)

    def call(self, h_t, h_s, attention_mask=None):
        alpha = _masked_softmax(self.scores(h_t, h_s), attention_mask)
        return ops.sum(h_s * ops.expand_dims(alpha, -1), axis=1), alpha

    def variable_map(self):
        return {k: getattr(self, k) for k in {"dot": (), "general": ("W_a",), "concat": ("W_a", "v_a")}[self.score]}

    def get_config(self):
        return {**super().get_config(), "score": self.score, "units": self.units}


@keras.saving.register_keras_serializable(package="keras_transformer")
class LuongLocalAttention(LuongAttention):
    """Local attention (eqs. 9–10): a_t(s) = align(h_t, h̄_s)·exp(−(s − p_t)²/(2σ²)) over the
    window |s − p_t| ≤ D, σ = D/2, no renormalisation."""

    def __init__(self, score, D, alignment, units=None, predict_units=None, **kwargs):
        super().__init__(score, units, **kwargs)
        if alignment not in ("monotonic", "predictive"):
            raise ValueError(f"LuongLocalAttention: unknown alignment {alignment!r}")
        if alignment == "predictive" and not predict_units:
            raise ValueError("LuongLocalAttention: predictive alignment needs predict_units (d_p)")
        self.D, self.alignment, self.predict_units = int(D), alignment, predict_units

    def build(self, h_t_shape, h_s_shape=None):
        super().build(h_t_shape, h_s_shape)
        if self.alignment == "predictive":
            self.W_p = self.add_weight(name="W_p", shape=(h_t_shape[-1], self.predict_units),
                                       initializer="glorot_uniform")
            self.v_p = self.add_weight(name="v_p", shape=(self.predict_units,), initializer="glorot_uniform")

    def call(self, h_t, h_s, p_t=None, attention_mask=None):
        T = h_s.shape[1]
        if self.alignment == "predictive":
            p_t = T * ops.sigmoid(ops.matmul(ops.tanh(ops.matmul(h_t, self.W_p)), self.v_p))
        elif p_t is None:
            raise ValueError("LuongLocalAttention: monotonic alignment needs p_t")
        p_t = ops.cast(p_t, self.compute_dtype)
        if len(p_t.shape) == 0:
            p_t = ops.broadcast_to(p_t, (ops.shape(h_t)[0],))
        dist = ops.expand_dims(ops.arange(T, dtype=self.compute_dtype), 0) - ops.expand_dims(p_t, 1)
        allowed = ops.abs(dist) <= self.D                  # a step in p_t: no gradient, as in NumPy
        if attention_mask is not None:
            allowed = ops.logical_and(allowed, ops.cast(attention_mask, "bool"))
        sigma = self.D / 2
        a = _masked_softmax(self.scores(h_t, h_s), allowed) * ops.exp(-dist * dist / (2 * sigma * sigma))
        return ops.sum(h_s * ops.expand_dims(a, -1), axis=1), a

    def variable_map(self):
        extra = {"W_p": self.W_p, "v_p": self.v_p} if self.alignment == "predictive" else {}
        return {**super().variable_map(), **extra}

    def get_config(self):
        return {**super().get_config(), "D": self.D, "alignment": self.alignment,
                "predict_units": self.predict_units}


@keras.saving.register_keras_serializable(package="keras_transformer")
class AttentionalHidden(_Checked):
    """h̃_t = tanh([c_t; h_t] W_c) (eq. 5), W_c (d_c + d_t, units), no bias (as in the paper)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)

    def build(self, c_t_shape, h_t_shape=None):
        d = c_t_shape[-1] + (h_t_shape or c_t_shape)[-1]
        self.W_c = self.add_weight(name="W_c", shape=(d, self.units), initializer="glorot_uniform")

    def call(self, c_t, h_t):
        return ops.tanh(ops.matmul(ops.concatenate([c_t, h_t], axis=-1), self.W_c))

    def get_config(self):
        return {**super().get_config(), "units": self.units}
