"""TransformerConfig: the one description of a model, shared by every backend.

The NumPy reference, the Keras model, checkpoints and benchmarks all read the same
dataclass, so a config is written once (JSON via `to_dict`/`from_dict`).
"""
from __future__ import annotations

import dataclasses
import json
import numbers

_DTYPES = ("float32", "float64")


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """Hyper-parameters of the encoder-decoder Transformer (Vaswani et al., 2017).

    d_k = d_v = d_model // num_heads is the width of one attention head; the paper and
    the book use d_model=512, num_heads=8 (so d_k=64), d_ff=2048, num_layers=6.
    `max_len` bounds both source and target lengths (size of the position-encoding
    table). `norm_first=False` is the paper's post-LN layer; `True` is pre-LN with a
    final LayerNorm after each stack.
    """

    src_vocab_size: int
    tgt_vocab_size: int
    d_model: int = 512
    num_heads: int = 8
    d_ff: int = 2048
    num_layers: int = 6
    dropout: float = 0.1
    max_len: int = 128
    pad_id: int = 0
    layer_norm_eps: float = 1e-6
    norm_first: bool = False
    dtype: str = "float32"

    def __post_init__(self):
        ints = ("src_vocab_size", "tgt_vocab_size", "d_model", "num_heads", "d_ff",
                "num_layers", "max_len", "pad_id")
        for name in ints:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"TransformerConfig.{name} must be an int, got {v!r}")
            object.__setattr__(self, name, int(v))
        for name in ints[:-1]:
            if getattr(self, name) < 1:
                raise ValueError(f"TransformerConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by num_heads={self.num_heads}")
        if not 0 <= self.pad_id < min(self.src_vocab_size, self.tgt_vocab_size):
            raise ValueError(f"pad_id={self.pad_id} is outside the vocabularies "
                             f"({self.src_vocab_size}, {self.tgt_vocab_size})")
        if not isinstance(self.dropout, numbers.Real) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.layer_norm_eps, numbers.Real) or not self.layer_norm_eps > 0:
            raise ValueError(f"layer_norm_eps must be > 0, got {self.layer_norm_eps!r}")
        if not isinstance(self.norm_first, bool):
            raise TypeError(f"norm_first must be a bool, got {self.norm_first!r}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {_DTYPES}, got {self.dtype!r}")
        object.__setattr__(self, "dropout", float(self.dropout))
        object.__setattr__(self, "layer_norm_eps", float(self.layer_norm_eps))

    @property
    def d_k(self) -> int:
        """Width of one head's query/key/value vectors."""
        return self.d_model // self.num_heads

    def replace(self, **changes) -> "TransformerConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TransformerConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown TransformerConfig keys: {sorted(unknown)}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, s: str) -> "TransformerConfig":
        return cls.from_dict(json.loads(s))


def parameter_shapes(cfg: TransformerConfig) -> dict:
    """Every parameter's name and shape, in a fixed order: the one naming scheme that all
    backends, checkpoints and tests share. Weights are stored (in, out): y = x @ W + b."""
    d, f = cfg.d_model, cfg.d_ff
    shapes = {}

    def attn(prefix):
        for w in ("wq", "wk", "wv", "wo"):
            shapes[f"{prefix}.{w}.weight"] = (d, d)
            shapes[f"{prefix}.{w}.bias"] = (d,)

    def norm(prefix):
        shapes[f"{prefix}.gamma"] = (d,)
        shapes[f"{prefix}.beta"] = (d,)

    def ffn(prefix):
        shapes[f"{prefix}.linear1.weight"] = (d, f)
        shapes[f"{prefix}.linear1.bias"] = (f,)
        shapes[f"{prefix}.linear2.weight"] = (f, d)
        shapes[f"{prefix}.linear2.bias"] = (d,)

    shapes["encoder.embedding.weight"] = (cfg.src_vocab_size, d)
    for i in range(cfg.num_layers):
        p = f"encoder.layers.{i}"
        attn(f"{p}.self_attn"); norm(f"{p}.norm1"); ffn(f"{p}.ffn"); norm(f"{p}.norm2")
    if cfg.norm_first:
        norm("encoder.final_norm")
    shapes["decoder.embedding.weight"] = (cfg.tgt_vocab_size, d)
    for i in range(cfg.num_layers):
        p = f"decoder.layers.{i}"
        attn(f"{p}.self_attn"); norm(f"{p}.norm1")
        attn(f"{p}.cross_attn"); norm(f"{p}.norm2")
        ffn(f"{p}.ffn"); norm(f"{p}.norm3")
    if cfg.norm_first:
        norm("decoder.final_norm")
    shapes["output.weight"] = (d, cfg.tgt_vocab_size)
    shapes["output.bias"] = (cfg.tgt_vocab_size,)
    return shapes


def check_state_dict(state: dict, cfg: TransformerConfig) -> None:
    """Strict check of a state dict against `cfg`: raises ValueError naming every missing,
    unexpected or mis-shaped key, and any tensor holding NaN/inf."""
    import numpy as np  # local: config stays importable as pure metadata

    expected = rnn_parameter_shapes(cfg) if isinstance(cfg, RNNConfig) else parameter_shapes(cfg)
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    problems = []
    if missing:
        problems.append(f"missing keys: {missing}")
    if extra:
        problems.append(f"unexpected keys: {extra}")
    for k, shape in expected.items():
        if k in state and tuple(np.shape(state[k])) != shape:
            problems.append(f"{k}: expected shape {shape}, got {tuple(np.shape(state[k]))}")
    if problems:
        raise ValueError("state dict does not match the config: " + "; ".join(problems))
    for k in expected:
        a = np.asarray(state[k])
        if not np.issubdtype(a.dtype, np.floating):
            raise TypeError(f"{k}: expected a floating-point array, got dtype {a.dtype}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{k}: contains NaN or inf")


def check_warmup(d_model, warmup_steps):
    """The warm-up schedule's arguments (both backends' WarmupSchedule): ints ≥ 1."""
    if d_model < 1 or warmup_steps < 1:
        raise ValueError(f"WarmupSchedule needs d_model >= 1 and warmup_steps >= 1, got {d_model}, {warmup_steps}")
    return int(d_model), int(warmup_steps)


def check_ids(ids, vocab_size, max_len, name="ids"):
    """Validate a (batch, seq_len) array of token ids against a vocabulary and max_len (both
    backends): raises a TypeError/ValueError naming the problem, returns the array."""
    import numpy as np  # local: config stays importable as pure metadata

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


# ---------------------------------------------------------------- recurrent models (issue 10)
# The road to attention (the book's chapters 6-9): a SimpleRNN, optionally followed by an
# attention layer, then a Dense output. Shared by models/rnn.py and keras_transformer/rnn.py.
RNN_ATTENTION = ("none", "time", "bahdanau")
RNN_ACTIVATIONS = ("tanh", "linear")


@dataclasses.dataclass(frozen=True)
class RNNConfig:
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

    def replace(self, **changes) -> "RNNConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


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
