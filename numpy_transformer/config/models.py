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
        _check_ints(self, ("src_vocab_size", "tgt_vocab_size", "d_model", "num_heads", "d_ff",
                           "num_layers", "max_len", "pad_id"))
        _check_heads(self)
        if not 0 <= self.pad_id < min(self.src_vocab_size, self.tgt_vocab_size):
            raise ValueError(f"pad_id={self.pad_id} is outside the vocabularies "
                             f"({self.src_vocab_size}, {self.tgt_vocab_size})")
        _check_common(self)


def _check_ints(cfg, names, zero_ok=("pad_id",), optional=()):
    """Each field in `names` a Python/NumPy integer (not a bool), ≥ 1 (≥ 0 for `zero_ok`; None
    allowed for `optional`), stored back as int: the check every config starts with."""
    what = type(cfg).__name__
    for name in names:
        v = getattr(cfg, name)
        if v is None and name in optional:
            continue
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{what}.{name} must be an int, got {v!r}")
        low = 0 if name in zero_ok else 1
        if v < low:
            raise ValueError(f"{what}.{name} must be >= {low}, got {v}")
        object.__setattr__(cfg, name, int(v))


def _check_heads(cfg):
    if cfg.d_model % cfg.num_heads:
        raise ValueError(f"d_model={cfg.d_model} is not divisible by num_heads={cfg.num_heads}")


def _check_rates(cfg, names=("dropout",)):
    """Each dropout rate in `names` a real number in [0, 1), stored back as float."""
    for name in names:
        v = getattr(cfg, name)
        if not isinstance(v, numbers.Real) or not 0.0 <= v < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {v!r}")
        object.__setattr__(cfg, name, float(v))


def _check_common(cfg):
    """The checks every config shares (encoder-layer settings, dtype); normalises floats."""
    _check_rates(cfg)
    if not isinstance(cfg.layer_norm_eps, numbers.Real) or not cfg.layer_norm_eps > 0:
        raise ValueError(f"layer_norm_eps must be > 0, got {cfg.layer_norm_eps!r}")
    if not isinstance(cfg.norm_first, bool):
        raise TypeError(f"norm_first must be a bool, got {cfg.norm_first!r}")
    if cfg.dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}, got {cfg.dtype!r}")
    if cfg.activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {cfg.activation!r}")
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
        _check_ints(self, ("image_size", "channels", "patch_size", "num_classes", "d_model", "num_heads",
                           "d_ff", "num_layers"))
        if self.image_size % self.patch_size:
            raise ValueError(f"patch_size={self.patch_size} does not divide image_size={self.image_size}: "
                             f"the image would not be cut into whole patches")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        _check_heads(self)
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
    """A TransformerConfig or, when the dict describes images, a ViTConfig, with a Luong score
    an RNNTranslatorConfig, with segment types a BertConfig."""
    if "score" in d:
        from .rnn_translator import RNNTranslatorConfig
        return RNNTranslatorConfig.from_dict(d)
    if "type_vocab_size" in d:
        from .bert import BertConfig
        return BertConfig.from_dict(d)
    return (ViTConfig if "image_size" in d else TransformerConfig).from_dict(d)
