"""The Vision Transformer (Dosovitskiy et al., 2021; the book's chapter 12): patches, a linear
patch embedding, a learned class token and position embedding, the translation Transformer's own
encoder layers (models/layers.py; pre-LN and GELU by default), a final LayerNorm and a linear
head on the class token. Forward and hand-written backward, state dicts under the shared names
(config.vit_parameter_shapes)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..config import ViTConfig, check_images, parameter_shapes
from ..ops.linear import linear_backward, linear_forward
from ..ops.patches import (add_position_embedding, add_position_embedding_backward, class_token_output,
                           class_token_output_backward, patch_embed_backward, patch_embed_forward,
                           prepend_class_token, prepend_class_token_backward)
from .layers import add_prefixed, sub
from .params import ParameterModel, init_parameters
from .stack import StackCache, encoder_stack_backward, encoder_stack_forward


def init_vit_params(cfg: ViTConfig, seed=0):
    """Glorot-uniform weights (Keras' Dense default) for the patch embedding, the attention and
    MLP projections and the head; zero biases; LayerNorm gamma=1, beta=0; class token and
    position embedding N(0, 0.02²) (ViT's reference code: small, so the patches' content and
    not the random offsets dominates at the start)."""
    return init_parameters(parameter_shapes(cfg), cfg.dtype, seed,
                           lambda name: 0.02 if name in ("class_token", "pos_embed") else None)


class ViTCache(NamedTuple):
    patch_embed: object      # PatchEmbedCache
    encoder: StackCache      # the encoder stack's (models/stack.py)
    h_shape: tuple           # the encoder output's shape (B, N + 1, d)
    h_cls: np.ndarray        # the class token's output, the head's input (B, d)


class VisionTransformer(ParameterModel):
    """ViT classifier. forward(images (B, H, W, C), training) → logits (B, num_classes);
    backward(dlogits) → grads with the keys and shapes of state_dict(). `kernels` "plain"
    (default) or "fast" picks the implementation of attention, MLP and LayerNorm, as in
    Transformer."""

    def __init__(self, cfg: ViTConfig, seed=0, kernels="plain"):
        self._setup(cfg, ViTConfig, init_vit_params, seed, kernels)

    # ------------------------------------------------------------------ forward
    def forward(self, images, training=False, rng=None):
        """Logits (B, num_classes). Images are checked (shape, channels, finite pixels) and cast
        to the config's dtype. With training=True dropout is on (after the embeddings and on
        every sublayer's output), its masks drawn from `rng` (default: the model's own)."""
        cfg, p, k = self.cfg, self.params, self.kernels
        images = check_images(images, cfg).astype(self.dtype, copy=False)
        if training and rng is None:
            rng = self.rng
        x, pe_cache = patch_embed_forward(images, p["patch_embed.weight"], p["patch_embed.bias"], cfg.patch_size)
        x = add_position_embedding(prepend_class_token(x, p["class_token"]), p["pos_embed"])
        # every patch attends to every patch: no mask
        x, encoder = encoder_stack_forward(x, sub(p, "encoder"), cfg, None, rng, training, k)
        h_cls = class_token_output(x)
        logits = linear_forward(h_cls, p["head.weight"], p["head.bias"])[0]
        self._cache = ViTCache(pe_cache, encoder, x.shape, h_cls)
        return logits

    __call__ = forward

    def attention_weights(self):
        """Softmax weights of every layer's self-attention in the last forward, (B, H, N+1, N+1)
        each, under `encoder.layers.{i}.self_attn`; row/column 0 is the class token."""
        if self._cache is None:
            raise RuntimeError("attention_weights() needs a forward() first")
        return {f"encoder.layers.{i}.self_attn": c.self_attn.weights
                for i, c in enumerate(self._cache.encoder.layers)}

    # ------------------------------------------------------------------ backward
    def backward(self, dlogits):
        """Gradients of a scalar loss w.r.t. every parameter, given dloss/dlogits of the last
        forward: the head, the class token's row, the final norm, the layers in reverse, the
        embeddings. Returns a dict with the keys and shapes of state_dict()."""
        if self._cache is None:
            raise RuntimeError("backward() needs a forward() first")
        c, cfg, p, k = self._cache, self.cfg, self.params, self.kernels
        dlogits = np.asarray(dlogits)
        if dlogits.shape != (c.h_cls.shape[0], cfg.num_classes):
            raise ValueError(f"dlogits has shape {dlogits.shape}, the last logits had "
                             f"{(c.h_cls.shape[0], cfg.num_classes)}")
        grads = {}
        dh_cls, grads["head.weight"], grads["head.bias"] = linear_backward(dlogits, c.h_cls, p["head.weight"])
        dx = class_token_output_backward(dh_cls, c.h_shape, self.dtype)
        dx, g = encoder_stack_backward(dx, c.encoder, sub(p, "encoder"), cfg, k)
        add_prefixed(grads, "encoder", g)
        dx, grads["pos_embed"] = add_position_embedding_backward(dx)
        dx, grads["class_token"] = prepend_class_token_backward(dx)
        _, grads["patch_embed.weight"], grads["patch_embed.bias"] = patch_embed_backward(
            dx, c.patch_embed, p["patch_embed.weight"], cfg.patch_size)
        return {name: grads[name] for name in self.params}  # the state_dict's order
