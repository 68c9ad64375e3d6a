"""Building blocks below the encoder/decoder layers: the sinusoidal position encoding, the
token + position embedding, the residual "add & norm" connection and the feed-forward net.

Every layer that owns parameters has `variable_map()`: its parameters' local names in the
shared naming scheme (numpy_transformer.config.parameter_shapes) -> its Keras variables.
That explicit map is what `state_dict`/`load_state_dict` use; nothing depends on the order
in which Keras creates variables.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from .backend import take_rows


def positional_encoding(seq_len, d_model, n=10000, dtype="float32"):
    """P[k, 2i] = sin(k / n^(2i/d)), P[k, 2i+1] = cos(k / n^(2i/d)) (paper, section 3.5), shape
    (seq_len, d_model), as a NumPy array. Computed in float64 and cast once, the same formula
    and the same order of operations as the NumPy reference, so both backends share the table
    bit for bit. (The book's PositionEmbeddingFixedWeights computes it the same way.)"""
    if seq_len < 0 or d_model < 1:
        raise ValueError(f"positional_encoding needs seq_len >= 0 and d_model >= 1, got {seq_len}, {d_model}")
    k = np.arange(seq_len, dtype=np.float64)[:, None]
    two_i = (np.arange(d_model) // 2 * 2).astype(np.float64)
    angle = k / np.power(float(n), two_i / d_model)
    table = np.where(np.arange(d_model) % 2 == 0, np.sin(angle), np.cos(angle))
    return table.astype(dtype)


@keras.saving.register_keras_serializable(package="keras_transformer")
class PositionEmbedding(keras.layers.Layer):
    """x = E[ids] · sqrt(d_model) + P[:T] (errata 3: the book's fixed-weight variant used the
    sinusoid table for the words too; here the word embedding E is trainable, scaled as in the
    paper, and the positions use the fixed sinusoids). Dropout is applied by the caller.
    E ~ N(0, 1/d_model) at init, so E·sqrt(d_model) has unit variance; its gradient is dense
    (see backend.take_rows)."""

    def __init__(self, vocab_size, max_len, d_model, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.max_len, self.d_model = int(vocab_size), int(max_len), int(d_model)
        self.pe_table = positional_encoding(self.max_len, self.d_model, dtype=self.compute_dtype)

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            shape=(self.vocab_size, self.d_model), name="embeddings",
            initializer=keras.initializers.RandomNormal(stddev=self.d_model ** -0.5))

    def call(self, ids, offset=None):
        """`offset`: the first position (a scalar tensor) when decoding one step at a time."""
        x = take_rows(self.embeddings.value, ids)
        x = x * math.sqrt(self.d_model)   # a Python float: exact in float64 (see attention.py)
        pe = ops.convert_to_tensor(self.pe_table, dtype=self.compute_dtype)
        if offset is None:
            return x + pe[: ops.shape(ids)[1]]
        return x + ops.take(pe, offset + ops.arange(ops.shape(ids)[1]), axis=0)

    def variable_map(self):
        return {"weight": self.embeddings}

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "max_len": self.max_len,
                "d_model": self.d_model}


@keras.saving.register_keras_serializable(package="keras_transformer")
class AddNormalization(keras.layers.Layer):
    """The residual connection around a sublayer f, in two halves so the sublayer can sit in
    between (the caller applies dropout to f's output):
        post-LN (paper, book; norm_first=False): y = LayerNorm(x + f(x))
            normalize_input(x) = x,        call(x, s) = LayerNorm(x + s)
        pre-LN (norm_first=True):                y = x + f(LayerNorm(x))
            normalize_input(x) = LayerNorm(x), call(x, s) = x + s
    LayerNorm: biased variance over the last axis, `epsilon` inside the square root."""

    def __init__(self, norm_first=False, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.norm_first, self.epsilon = bool(norm_first), float(epsilon)
        self.layer_norm = keras.layers.LayerNormalization(epsilon=self.epsilon, dtype=self.dtype_policy,
                                                          name="layer_norm")

    def build(self, input_shape):
        self.layer_norm.build(input_shape)

    def normalize_input(self, x):
        return self.layer_norm(x) if self.norm_first else x

    def call(self, x, sublayer_x):
        add = x + sublayer_x
        return add if self.norm_first else self.layer_norm(add)

    def variable_map(self):
        return {"gamma": self.layer_norm.gamma, "beta": self.layer_norm.beta}

    def get_config(self):
        return {**super().get_config(), "norm_first": self.norm_first, "epsilon": self.epsilon}


def gelu(x, approximate=False):
    """GELU written out with keras.ops: exact x·½(1 + erf(x/√2)), or the tanh approximation
    ½x(1 + tanh(√(2/π)(x + 0.044715x³))). Why not keras.ops.gelu: on TensorFlow its exact form
    is off by up to 5e-9 in float64 (measured against math.erf), which would blur the float64
    parity with the NumPy reference; ops.erf is exact to 2e-16. The constants are Python floats,
    which the backend converts straight to x's dtype (ops.cast(0.7071…, "float64") would go
    through float32 first: an error of 1.2e-8). keras.ops.gelu also defaults to the tanh form."""
    if approximate:
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))
        return 0.5 * x * (1.0 + ops.tanh(inner))
    return 0.5 * x * (1.0 + ops.erf(x * (1.0 / math.sqrt(2.0))))


@keras.saving.register_keras_serializable(package="keras_transformer")
class FeedForward(keras.layers.Layer):
    """FFN(x) = act(x W1 + b1) W2 + b2 (paper eq. 2), position-wise; no inner dropout. `activation`
    "relu" (the paper's max(0, ·)), "gelu" (exact, x·Φ(x) with erf) or "gelu_tanh" (the tanh
    approximation), the names of TransformerConfig/ViTConfig.activation."""

    ACTIVATIONS = ("relu", "gelu", "gelu_tanh")

    def __init__(self, d_ff, d_model, activation="relu", **kwargs):
        super().__init__(**kwargs)
        if activation not in self.ACTIVATIONS:
            raise ValueError(f"activation must be one of {self.ACTIVATIONS}, got {activation!r}")
        self.d_ff, self.d_model, self.activation_name = int(d_ff), int(d_model), activation
        self.fully_connected1 = keras.layers.Dense(self.d_ff, dtype=self.dtype_policy, name="linear1")
        self.fully_connected2 = keras.layers.Dense(self.d_model, dtype=self.dtype_policy, name="linear2")
        if activation == "relu":
            self.activation = keras.layers.ReLU(dtype=self.dtype_policy)
        else:
            approximate = activation == "gelu_tanh"
            self.activation = lambda x: gelu(x, approximate)

    def build(self, input_shape=None):
        self.fully_connected1.build((None, None, self.d_model))
        self.fully_connected2.build((None, None, self.d_ff))

    def call(self, x):
        return self.fully_connected2(self.activation(self.fully_connected1(x)))

    def variable_map(self):
        return {"linear1.weight": self.fully_connected1.kernel, "linear1.bias": self.fully_connected1.bias,
                "linear2.weight": self.fully_connected2.kernel, "linear2.bias": self.fully_connected2.bias}

    def get_config(self):
        return {**super().get_config(), "d_ff": self.d_ff, "d_model": self.d_model,
                "activation": self.activation_name}


def prefixed(prefix, mapping):
    """{k: v} -> {prefix.k: v}."""
    return {f"{prefix}.{k}": v for k, v in mapping.items()}
