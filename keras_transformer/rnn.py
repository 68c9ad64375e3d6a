"""The book's recurrent models (chapters 6-9) in Keras 3: keras.layers.SimpleRNN → [attention]
→ keras.layers.Dense, with the attention layers written in keras.ops (any backend). Same
config (numpy_transformer.config.RNNConfig) and parameter names as the NumPy reference
(numpy_transformer/models/rnn.py), exchanged through state_dict() / load_state_dict()."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from numpy_transformer.config import RNNConfig, check_state_dict, rnn_parameter_shapes

from .backend import check_backend_dtype


def _masked_softmax(e, mask):
    """softmax over the last axis; mask (B, T) boolean, True = may attend (masked scores are
    −inf, so their weight is exactly 0)."""
    if mask is not None:
        e = ops.where(ops.cast(mask, "bool"), e, ops.cast(float("-inf"), e.dtype))
    return ops.softmax(e, axis=-1)


@keras.saving.register_keras_serializable(package="keras_transformer")
class TimeAttention(keras.layers.Layer):
    """The book's attention layer (chapter 9): e = tanh(h W + b) with W (H, 1) and one bias per
    step b (T, 1), α = softmax(e) over time, context = Σ_t α_t h_t. call(h, attention_mask=None)
    returns (context, α)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True        # the mask is taken as attention_mask, not propagated

    def compute_mask(self, *args, **kwargs):
        return None

    def build(self, input_shape):
        _, T, H = input_shape
        self.W = self.add_weight(name="attention_weight", shape=(H, 1), initializer="random_normal")
        self.b = self.add_weight(name="attention_bias", shape=(T, 1), initializer="zeros")

    def call(self, h, attention_mask=None):
        e = ops.tanh(ops.squeeze(ops.matmul(h, self.W), -1) + ops.squeeze(self.b, -1))   # (B, T)
        alpha = _masked_softmax(e, attention_mask)
        return ops.sum(h * ops.expand_dims(alpha, -1), axis=1), alpha


@keras.saving.register_keras_serializable(package="keras_transformer")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention (Bahdanau et al., 2015): e_j = v_aᵀ tanh(s W_a + h_j U_a),
    α = softmax(e), context = Σ_j α_j h_j. call(s, h, attention_mask=None) → (context, α)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.supports_masking = True

    def compute_mask(self, *args, **kwargs):
        return None

    def build(self, s_shape, h_shape=None):
        d_s, d_h = s_shape[-1], (h_shape or s_shape)[-1]
        self.W_a = self.add_weight(name="W_a", shape=(d_s, self.units), initializer="glorot_uniform")
        self.U_a = self.add_weight(name="U_a", shape=(d_h, self.units), initializer="glorot_uniform")
        self.v_a = self.add_weight(name="v_a", shape=(self.units,), initializer="glorot_uniform")

    def call(self, s, h, attention_mask=None):
        z = ops.tanh(ops.expand_dims(ops.matmul(s, self.W_a), 1) + ops.matmul(h, self.U_a))
        alpha = _masked_softmax(ops.matmul(z, self.v_a), attention_mask)
        return ops.sum(h * ops.expand_dims(alpha, -1), axis=1), alpha

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class RNNRegressor(keras.Model):
    """SimpleRNN(hidden, return_sequences) → summary → Dense(output_dim, activation), the
    summary being h_T, the book's time-attention context or the Bahdanau context queried by
    h_T (see RNNConfig). call(x, step_mask=None): x (B, T, input_dim), step_mask (B, T)
    boolean (True = a real step; named so that Keras' own mask propagation stays out)."""

    def __init__(self, cfg: RNNConfig, **kwargs):
        check_backend_dtype(cfg.dtype)
        super().__init__(dtype=cfg.dtype, **kwargs)
        self.cfg = cfg
        self.rnn = keras.layers.SimpleRNN(cfg.hidden, return_sequences=True, dtype=cfg.dtype, name="rnn")
        self.attention = {"none": None, "time": TimeAttention(dtype=cfg.dtype, name="attention"),
                          "bahdanau": BahdanauAttention(cfg.d_a, dtype=cfg.dtype, name="attention")}[cfg.attention]
        self.dense = keras.layers.Dense(cfg.output_dim, activation=cfg.output_activation, dtype=cfg.dtype,
                                        name="dense")
        self.attention_weights = None
        self(np.zeros((1, cfg.time_steps, cfg.input_dim), cfg.dtype))       # build every variable

    def call(self, x, step_mask=None):
        h = self.rnn(x, mask=step_mask)
        if self.cfg.attention == "none":
            summary = h[:, -1]
        elif self.cfg.attention == "time":
            summary, self.attention_weights = self.attention(h, attention_mask=step_mask)
        else:
            summary, self.attention_weights = self.attention(h[:, -1], h, attention_mask=step_mask)
        return self.dense(summary)

    def variable_map(self):
        """{shared name: Keras variable}, in rnn_parameter_shapes order, shapes checked."""
        cell = self.rnn.cell
        vmap = {"rnn.W_x": cell.kernel, "rnn.W_h": cell.recurrent_kernel, "rnn.b": cell.bias,
                "dense.weight": self.dense.kernel, "dense.bias": self.dense.bias}
        if self.cfg.attention == "time":
            vmap.update({"attention.W": self.attention.W, "attention.b": self.attention.b})
        elif self.cfg.attention == "bahdanau":
            vmap.update({"attention.W_a": self.attention.W_a, "attention.U_a": self.attention.U_a,
                         "attention.v_a": self.attention.v_a})
        expected = rnn_parameter_shapes(self.cfg)
        if set(vmap) != set(expected) or any(tuple(vmap[k].shape) != s for k, s in expected.items()):
            raise RuntimeError(f"internal error: the variable map does not match rnn_parameter_shapes: "
                               f"{ {k: tuple(v.shape) for k, v in vmap.items()} } vs {expected}")
        return {k: vmap[k] for k in expected}

    def state_dict(self):
        return {k: np.array(v.numpy()) for k, v in self.variable_map().items()}

    def load_state_dict(self, state, strict=True):
        """Strict: exactly the expected keys and shapes, all finite, else a ValueError naming
        them, before anything is assigned. Non-strict: the known keys only (still checked)."""
        vmap = self.variable_map()
        if strict:
            check_state_dict(state, self.cfg)
        else:
            state = {k: v for k, v in state.items() if k in vmap}
            check_state_dict({**self.state_dict(), **state}, self.cfg)
        for k, v in state.items():
            vmap[k].assign(np.asarray(v, dtype=self.cfg.dtype))
