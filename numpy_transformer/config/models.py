"""TransformerConfig and ViTConfig: the one description of a model, shared by every backend.

The NumPy reference, the Keras model, checkpoints and benchmarks all read the same
dataclass, so a config is written once (JSON via `to_dict`/`from_dict`, with its `kind`).
"""
from __future__ import annotations

import dataclasses

from .base import _check_common, _check_heads, _check_ints, _ConfigMethods

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
    kind = "transformer"

    def __post_init__(self):
        _check_ints(self, ("src_vocab_size", "tgt_vocab_size", "d_model", "num_heads", "d_ff",
                           "num_layers", "max_len", "pad_id"))
        _check_heads(self)
        if not 0 <= self.pad_id < min(self.src_vocab_size, self.tgt_vocab_size):
            raise ValueError(f"pad_id={self.pad_id} is outside the vocabularies "
                             f"({self.src_vocab_size}, {self.tgt_vocab_size})")
        _check_common(self)


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
    kind = "vit"

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
