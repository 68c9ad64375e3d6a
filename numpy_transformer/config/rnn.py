"""The road to attention (the book's chapters 6-9): a SimpleRNN, optionally followed by an
attention layer, then a Dense output. Shared by models/rnn.py and keras_transformer/rnn.py."""
from __future__ import annotations

import dataclasses
import numbers

from .base import _DTYPES, _ConfigMethods

RNN_ATTENTION = ("none", "time", "bahdanau")
RNN_ACTIVATIONS = ("tanh", "linear")


@dataclasses.dataclass(frozen=True)
class RNNConfig(_ConfigMethods):
    """SimpleRNN(hidden) → [attention] → Dense(output_dim, output_activation).

    attention: "none" (the Dense reads the last state h_T, the book's chapter 6-7 model),
    "time" (the book's chapter 9 layer: e = tanh(h W + b) over time, softmax, weighted sum of
    the states; it has one bias per step, so it is tied to `time_steps`) or "bahdanau"
    (additive attention with the last state as the query, attention size d_a).
    The book's models use tanh on the output too (its data are scaled to [0, 1])."""

    input_dim: int = 1
    hidden: int = 3
    time_steps: int = 12
    attention: str = "none"
    d_a: int = 8
    output_dim: int = 1
    output_activation: str = "tanh"
    dtype: str = "float32"
    kind = "rnn"

    def __post_init__(self):
        for name in ("input_dim", "hidden", "time_steps", "d_a", "output_dim"):
            v = getattr(self, name)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
                raise ValueError(f"RNNConfig.{name} must be an integer >= 1, got {v!r}")
        if self.attention not in RNN_ATTENTION:
            raise ValueError(f"RNNConfig.attention must be one of {RNN_ATTENTION}, got {self.attention!r}")
        if self.output_activation not in RNN_ACTIVATIONS:
            raise ValueError(f"RNNConfig.output_activation must be one of {RNN_ACTIVATIONS}, "
                             f"got {self.output_activation!r}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"RNNConfig.dtype must be one of {_DTYPES}, got {self.dtype!r}")



def rnn_parameter_shapes(cfg: RNNConfig) -> dict:
    """{name: shape} of an RNNConfig model, weights (in, out) as Keras stores them: the
    SimpleRNN's kernel / recurrent_kernel / bias are rnn.W_x / rnn.W_h / rnn.b."""
    D, H = cfg.input_dim, cfg.hidden
    shapes = {"rnn.W_x": (D, H), "rnn.W_h": (H, H), "rnn.b": (H,)}
    if cfg.attention == "time":
        shapes.update({"attention.W": (H, 1), "attention.b": (cfg.time_steps, 1)})
    elif cfg.attention == "bahdanau":
        shapes.update({"attention.W_a": (H, cfg.d_a), "attention.U_a": (H, cfg.d_a),
                       "attention.v_a": (cfg.d_a,)})
    shapes.update({"dense.weight": (H, cfg.output_dim), "dense.bias": (cfg.output_dim,)})
    return shapes
