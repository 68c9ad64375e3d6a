"""The Vision Transformer (Dosovitskiy et al., 2021; the book's chapter 12): patches, a linear
patch embedding, a learned class token and position embedding, the translation Transformer's own
encoder layers (models/layers.py; pre-LN and GELU by default), a final LayerNorm and a linear
head on the class token. Forward and hand-written backward; the parameters a tree
(params.encoder.layers[0].self_attn.wq.weight), state dicts under the shared names
(config.vit_parameter_shapes)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..config import ViTConfig, check_images, parameter_shapes
from ..config.tree import Tree, unflatten
from ..ops.dropout import dropout_backward, dropout_forward
from ..ops.linear import linear_backward, linear_forward
from ..ops.patches import (add_position_embedding, add_position_embedding_backward, class_token_output,
                           class_token_output_backward, patch_embed_backward, patch_embed_forward,
                           prepend_class_token, prepend_class_token_backward)
from .layers import encoder_layer_backward, encoder_layer_forward, final_norm, final_norm_backward
from .params import ParameterModel, init_parameters


def init_vit_params(cfg: ViTConfig, seed=0):
    """Glorot-uniform weights (Keras' Dense default) for the patch embedding, the attention and
    MLP projections and the head; zero biases; LayerNorm gamma=1, beta=0; class token and
    position embedding N(0, 0.02²) (ViT's reference code: small, so the patches' content and
    not the random offsets dominates at the start). The tree, drawn in the order of
    config.parameter_shapes."""
    return unflatten(init_parameters(parameter_shapes(cfg), cfg.dtype, seed,
                                     lambda name: 0.02 if name in ("class_token", "pos_embed") else None))


class ViTCache(NamedTuple):
    patch_embed: object      # PatchEmbedCache
    drop: object             # dropout's mask on the embedded sequence
    encoder: list            # one EncoderLayerCache per layer (models/layers.py)
    final_norm: object       # the encoder's final LayerNorm (pre-LN); None in post-LN
    h_shape: tuple           # the encoder output's shape (B, N + 1, d)
    h_cls: np.ndarray        # the class token's output, the head's input (B, d)


class VisionTransformer(ParameterModel):
    """ViT classifier. forward(images (B, H, W, C), training) → logits (B, num_classes);
    backward(dlogits) → the gradient tree, shaped like params. `kernels` "plain"
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
        x, pe_cache = patch_embed_forward(images, p.patch_embed.weight, p.patch_embed.bias, cfg.patch_size)
        x = add_position_embedding(prepend_class_token(x, p.class_token), p.pos_embed)
        x, drop = dropout_forward(x, cfg.dropout, rng, training)
        encoder = []
        for layer in p.encoder.layers:      # every patch attends to every patch: no mask
            x, c = encoder_layer_forward(x, layer, cfg, None, rng, training, k)
            encoder.append(c)
        x, norm = final_norm(x, p.encoder, cfg, k)
        h_cls = class_token_output(x)
        logits = linear_forward(h_cls, p.head.weight, p.head.bias)[0]
        self._cache = ViTCache(pe_cache, drop, encoder, norm, x.shape, h_cls)
        return logits

    __call__ = forward

    def attention_weights(self):
        """Softmax weights of every layer's self-attention in the last forward, (B, H, N+1, N+1)
        each, under `encoder.layers.{i}.self_attn`; row/column 0 is the class token."""
        if self._cache is None:
            raise RuntimeError("attention_weights() needs a forward() first")
        return {f"encoder.layers.{i}.self_attn": c.self_attn.weights
                for i, c in enumerate(self._cache.encoder)}

    # ------------------------------------------------------------------ backward
    def backward(self, dlogits):
        """Gradients of a scalar loss w.r.t. every parameter, given dloss/dlogits of the last
        forward: the head, the class token's row, the final norm, the layers in reverse, the
        embeddings. Returns the gradient tree, shaped like params."""
        if self._cache is None:
            raise RuntimeError("backward() needs a forward() first")
        c, cfg, p, k = self._cache, self.cfg, self.params, self.kernels
        dlogits = np.asarray(dlogits)
        if dlogits.shape != (c.h_cls.shape[0], cfg.num_classes):
            raise ValueError(f"dlogits has shape {dlogits.shape}, the last logits had "
                             f"{(c.h_cls.shape[0], cfg.num_classes)}")
        dh_cls, dw_head, db_head = linear_backward(dlogits, c.h_cls, p.head.weight)
        dx = class_token_output_backward(dh_cls, c.h_shape, self.dtype)
        dx, norm = final_norm_backward(dx, c.final_norm, p.encoder, k)
        encoder = [None] * cfg.num_layers
        for i in reversed(range(cfg.num_layers)):
            dx, encoder[i] = encoder_layer_backward(dx, c.encoder[i], p.encoder.layers[i], cfg, k)
        dx = dropout_backward(dx, c.drop)
        dx, dpos_embed = add_position_embedding_backward(dx)
        dx, dclass_token = prepend_class_token_backward(dx)
        _, dw_patch, db_patch = patch_embed_backward(dx, c.patch_embed, p.patch_embed.weight, cfg.patch_size)
        return Tree(patch_embed=Tree(weight=dw_patch, bias=db_patch), class_token=dclass_token,
                    pos_embed=dpos_embed, encoder=Tree(layers=encoder, **norm),
                    head=Tree(weight=dw_head, bias=db_head))
