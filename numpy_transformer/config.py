"""TransformerConfig and ViTConfig: the one description of a model, shared by every backend.

The NumPy reference, the Keras model, checkpoints and benchmarks all read the same
dataclass, so a config is written once (JSON via `to_dict`/`from_dict`).
"""
from __future__ import annotations

import dataclasses
import json
import numbers

_DTYPES = ("float32", "float64")
ACTIVATIONS = ("relu", "gelu", "gelu_tanh")   # the feed-forward network's (ops/activations.py)


class _ConfigMethods:
    """d_k, replace and the dict/JSON round trip, shared by TransformerConfig and ViTConfig."""

    @property
    def d_k(self) -> int:
        """Width of one head's query/key/value vectors."""
        return self.d_model // self.num_heads

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, s: str):
        return cls.from_dict(json.loads(s))


@dataclasses.dataclass(frozen=True)
class TransformerConfig(_ConfigMethods):
    """Hyper-parameters of the encoder-decoder Transformer (Vaswani et al., 2017).

    d_k = d_v = d_model // num_heads is the width of one attention head; the paper and
    the book use d_model=512, num_heads=8 (so d_k=64), d_ff=2048, num_layers=6.
    `max_len` bounds both source and target lengths (size of the position-encoding
    table). `norm_first=False` is the paper's post-LN layer; `True` is pre-LN with a
    final LayerNorm after each stack. `activation` is the feed-forward network's: "relu" (the
    paper), "gelu" (exact erf form) or "gelu_tanh"; configs saved before it existed load as ReLU.
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
    activation: str = "relu"

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
        _check_common(self)


def _check_common(cfg):
    """The checks every config shares (encoder-layer settings, dtype); normalises floats."""
    if not isinstance(cfg.dropout, numbers.Real) or not 0.0 <= cfg.dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {cfg.dropout!r}")
    if not isinstance(cfg.layer_norm_eps, numbers.Real) or not cfg.layer_norm_eps > 0:
        raise ValueError(f"layer_norm_eps must be > 0, got {cfg.layer_norm_eps!r}")
    if not isinstance(cfg.norm_first, bool):
        raise TypeError(f"norm_first must be a bool, got {cfg.norm_first!r}")
    if cfg.dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}, got {cfg.dtype!r}")
    if cfg.activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {cfg.activation!r}")
    object.__setattr__(cfg, "dropout", float(cfg.dropout))
    object.__setattr__(cfg, "layer_norm_eps", float(cfg.layer_norm_eps))


@dataclasses.dataclass(frozen=True)
class ViTConfig(_ConfigMethods):
    """Hyper-parameters of the Vision Transformer (Dosovitskiy et al., 2021; the book's ch. 12).

    Images (B, image_size, image_size, channels) are cut into (image_size / patch_size)² square
    patches of patch_size² · channels pixels each, embedded linearly to d_model, a learned class
    token is put in front and learned position embeddings are added; a stack of encoder layers
    (the Transformer's own: pre-LN and GELU by default, as in ViT) and a final LayerNorm follow,
    and a linear head maps the class token's output to num_classes logits.
    """

    image_size: int
    channels: int
    patch_size: int
    num_classes: int
    d_model: int = 64
    num_heads: int = 4
    d_ff: int = 128
    num_layers: int = 2
    dropout: float = 0.1
    layer_norm_eps: float = 1e-6
    norm_first: bool = True
    dtype: str = "float32"
    activation: str = "gelu"

    def __post_init__(self):
        for name in ("image_size", "channels", "patch_size", "num_classes", "d_model", "num_heads",
                     "d_ff", "num_layers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"ViTConfig.{name} must be an int, got {v!r}")
            if v < 1:
                raise ValueError(f"ViTConfig.{name} must be >= 1, got {v}")
            object.__setattr__(self, name, int(v))
        if self.image_size % self.patch_size:
            raise ValueError(f"patch_size={self.patch_size} does not divide image_size={self.image_size}: "
                             f"the image would not be cut into whole patches")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by num_heads={self.num_heads}")
        _check_common(self)

    @property
    def num_patches(self) -> int:
        """N = (image_size / patch_size)²."""
        return (self.image_size // self.patch_size) ** 2

    @property
    def patch_dim(self) -> int:
        """Pixels per patch, patch_size² · channels: the patch embedding's input width."""
        return self.patch_size ** 2 * self.channels

    @property
    def seq_len(self) -> int:
        """The encoder's sequence: the class token and N patches."""
        return self.num_patches + 1


def config_from_dict(d: dict):
    """A TransformerConfig or, when the dict describes images, a ViTConfig."""
    return (ViTConfig if "image_size" in d else TransformerConfig).from_dict(d)


def _attn(shapes, prefix, d):
    for w in ("wq", "wk", "wv", "wo"):
        shapes[f"{prefix}.{w}.weight"] = (d, d)
        shapes[f"{prefix}.{w}.bias"] = (d,)


def _norm(shapes, prefix, d):
    shapes[f"{prefix}.gamma"] = shapes[f"{prefix}.beta"] = (d,)


def _ffn(shapes, prefix, d, f):
    shapes.update({f"{prefix}.linear1.weight": (d, f), f"{prefix}.linear1.bias": (f,),
                   f"{prefix}.linear2.weight": (f, d), f"{prefix}.linear2.bias": (d,)})


def _encoder_layers(shapes, cfg):
    d, f = cfg.d_model, cfg.d_ff
    for i in range(cfg.num_layers):
        p = f"encoder.layers.{i}"
        _attn(shapes, f"{p}.self_attn", d); _norm(shapes, f"{p}.norm1", d)
        _ffn(shapes, f"{p}.ffn", d, f); _norm(shapes, f"{p}.norm2", d)
    if cfg.norm_first:
        _norm(shapes, "encoder.final_norm", d)


def vit_parameter_shapes(cfg: ViTConfig) -> dict:
    """The ViT's parameters: patch embedding (patch_dim, d) + bias, class token (d,), position
    embedding (N + 1, d), encoder layers under the translation encoder's names, the final norm
    (pre-LN), the head (d, num_classes) + bias."""
    d = cfg.d_model
    shapes = {"patch_embed.weight": (cfg.patch_dim, d), "patch_embed.bias": (d,),
              "class_token": (d,), "pos_embed": (cfg.seq_len, d)}
    _encoder_layers(shapes, cfg)
    shapes["head.weight"] = (d, cfg.num_classes)
    shapes["head.bias"] = (cfg.num_classes,)
    return shapes


def parameter_shapes(cfg) -> dict:
    """Every parameter's name and shape, in a fixed order: the one naming scheme that all
    backends, checkpoints and tests share. Weights are stored (in, out): y = x @ W + b.
    A ViTConfig gives the Vision Transformer's (vit_parameter_shapes)."""
    if isinstance(cfg, ViTConfig):
        return vit_parameter_shapes(cfg)
    d, f = cfg.d_model, cfg.d_ff
    shapes = {"encoder.embedding.weight": (cfg.src_vocab_size, d)}
    _encoder_layers(shapes, cfg)
    shapes["decoder.embedding.weight"] = (cfg.tgt_vocab_size, d)
    for i in range(cfg.num_layers):
        p = f"decoder.layers.{i}"
        _attn(shapes, f"{p}.self_attn", d); _norm(shapes, f"{p}.norm1", d)
        _attn(shapes, f"{p}.cross_attn", d); _norm(shapes, f"{p}.norm2", d)
        _ffn(shapes, f"{p}.ffn", d, f); _norm(shapes, f"{p}.norm3", d)
    if cfg.norm_first:
        _norm(shapes, "decoder.final_norm", d)
    shapes["output.weight"] = (d, cfg.tgt_vocab_size)
    shapes["output.bias"] = (cfg.tgt_vocab_size,)
    return shapes


def check_state_dict(state: dict, cfg) -> None:
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


def check_images(images, cfg, name="images"):
    """Validate a batch of images for a ViTConfig (both backends): a real-valued array of shape
    (batch, image_size, image_size, channels), channels last, every pixel finite. Raises a
    TypeError/ValueError naming the problem; returns the array (not yet cast)."""
    import numpy as np  # local: config stays importable as pure metadata

    images = np.asarray(images)
    if not (np.issubdtype(images.dtype, np.floating) or np.issubdtype(images.dtype, np.integer)) \
            or images.dtype == np.bool_:
        raise TypeError(f"{name} must hold real pixel values, got dtype {images.dtype}")
    want = (cfg.image_size, cfg.image_size, cfg.channels)
    if images.ndim != 4:
        hint = " (a single image? use images[None])" if images.shape == want else (
            " (add the channel axis: images[..., None])" if images.ndim == 3 and cfg.channels == 1 else "")
        raise ValueError(f"{name} must have shape (batch, {want[0]}, {want[1]}, {want[2]}), got {images.shape}{hint}")
    if images.shape[1:3] != want[:2]:
        raise ValueError(f"{name} are {images.shape[1]}x{images.shape[2]} pixels, the model expects "
                         f"{want[0]}x{want[1]} (image_size={cfg.image_size})")
    if images.shape[3] != cfg.channels:
        raise ValueError(f"{name} have {images.shape[3]} channels, the model expects {cfg.channels} "
                         f"(channels last: (batch, height, width, channels))")
    if images.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch")
    if np.issubdtype(images.dtype, np.floating) and not np.all(np.isfinite(images)):
        bad = int(np.sum(~np.isfinite(images).all(axis=(1, 2, 3))))
        raise ValueError(f"{name} contain NaN or inf pixels ({bad} of {images.shape[0]} images)")
    return images


def check_labels(labels, num_classes, batch=None, name="labels"):
    """Class labels: a 1-D integer array with every value in [0, num_classes)."""
    import numpy as np  # local: config stays importable as pure metadata

    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{name} must be integer class ids, got dtype {labels.dtype}")
    if labels.ndim != 1 or (batch is not None and labels.shape[0] != batch):
        raise ValueError(f"{name} must have shape ({batch if batch is not None else 'batch'},), got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise ValueError(f"{name} contain class {bad} outside [0, {num_classes})")
    return labels


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
