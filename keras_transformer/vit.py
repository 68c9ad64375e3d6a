"""VisionTransformerModel: the ViT (the book's chapter 12) in Keras 3, from the same ViTConfig as
the NumPy reference (numpy_transformer.models.vit) and with the same parameter names, so state
dicts pass between them. keras.ops / keras.layers only (no TensorFlow import): it runs on any
Keras backend. The encoder layers are the translation model's own EncoderLayer."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from numpy_transformer.config import ViTConfig, check_images

from .backend import check_backend_dtype
from .blocks import EncoderLayer, resolve_config
from .state import ConfigModel, checked_variable_map
from .layers import prefixed


def patchify(images, patch_size):
    """(B, H, W, C) → (B, N, P·P·C), patches row-major over the grid, pixels in (row, column,
    channel) order within a patch (tf.image.extract_patches' order), by reshape + transpose."""
    _, H, W, C = images.shape
    P = patch_size
    x = ops.reshape(images, (-1, H // P, P, W // P, P, C))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, (H // P) * (W // P), P * P * C))


def check_image_input(images, cfg):
    """NumPy input: every check of numpy_transformer.config.check_images (shape, channels, NaN).
    A backend tensor: its static shape only (its values may not be concrete)."""
    if isinstance(images, np.ndarray) or isinstance(images, (list, tuple)):
        return check_images(images, cfg)
    shape = tuple(1 if s is None else s for s in images.shape)
    check_images(np.zeros(shape, dtype=np.float32), cfg)   # the same messages for a wrong shape
    return images


@keras.saving.register_keras_serializable(package="keras_transformer")
class VisionTransformerModel(ConfigModel):
    """images (B, H, W, C) → logits (B, num_classes). Patch embedding (Dense over flattened
    patches), learned class token and position embedding, dropout, cfg.num_layers EncoderLayers
    (pre-LN and GELU by default), final LayerNorm (pre-LN), Dense head on the class token."""

    def __init__(self, cfg, **kwargs):
        cfg = resolve_config(cfg, kwargs, allowed=(ViTConfig,))
        check_backend_dtype(cfg.dtype)
        super().__init__(**kwargs)
        self.cfg = cfg
        self.patch_embed = keras.layers.Dense(cfg.d_model, dtype=self.dtype_policy, name="patch_embed")
        self.embed_dropout = keras.layers.Dropout(cfg.dropout, dtype=self.dtype_policy, name="dropout")
        self.encoder_layers = [EncoderLayer(cfg, name=f"layer_{i}") for i in range(cfg.num_layers)]
        self.final_norm = (keras.layers.LayerNormalization(epsilon=cfg.layer_norm_eps, dtype=self.dtype_policy,
                                                           name="final_norm") if cfg.norm_first else None)
        self.head = keras.layers.Dense(cfg.num_classes, dtype=self.dtype_policy, name="head")

    def build(self, input_shape=None):
        cfg, init = self.cfg, keras.initializers.RandomNormal(stddev=0.02)
        self.class_token = self.add_weight(shape=(cfg.d_model,), initializer=init, name="class_token")
        self.pos_embed = self.add_weight(shape=(cfg.seq_len, cfg.d_model), initializer=init, name="pos_embed")
        self.patch_embed.build((None, None, cfg.patch_dim))
        for layer in self.encoder_layers:
            layer.build((None, None, cfg.d_model))
        if self.final_norm is not None:
            self.final_norm.build((None, None, cfg.d_model))
        self.head.build((None, cfg.d_model))
        self.built = True

    def __call__(self, images, *args, **kwargs):
        # before Keras converts NumPy input to a tensor: the full check, NaN pixels included
        return super().__call__(check_image_input(images, self.cfg), *args, **kwargs)

    def call(self, images, training=None, return_attention_scores=False):
        cfg = self.cfg
        images = ops.cast(check_image_input(images, cfg), self.compute_dtype)   # static shape
        x = self.patch_embed(patchify(images, cfg.patch_size))
        cls = ops.broadcast_to(ops.reshape(self.class_token, (1, 1, cfg.d_model)),
                               (ops.shape(x)[0], 1, cfg.d_model))
        x = ops.concatenate([cls, x], axis=1) + self.pos_embed
        x = self.embed_dropout(x, training=training)
        weights = []
        for layer in self.encoder_layers:   # no mask: every position attends to every position
            x, w = layer(x, None, training=training, return_attention_scores=True)
            weights.append(w)
        if self.final_norm is not None:
            x = self.final_norm(x)
        logits = self.head(x[:, 0])
        return (logits, weights) if return_attention_scores else logits

    def attention_weights(self, images):
        """Every layer's self-attention weights (B, H, N+1, N+1), inference mode, as NumPy arrays
        under the reference's names encoder.layers.{i}.self_attn."""
        _, weights = self(images, training=False, return_attention_scores=True)
        return {f"encoder.layers.{i}.self_attn": ops.convert_to_numpy(w) for i, w in enumerate(weights)}

    # ------------------------------------------------------------------ state
    def variable_map(self):
        """{shared parameter name: Keras variable}, in parameter_shapes order (checked)."""
        if not self.built:
            self.build()
        vmap = {"patch_embed.weight": self.patch_embed.kernel, "patch_embed.bias": self.patch_embed.bias,
                "class_token": self.class_token, "pos_embed": self.pos_embed}
        for i, layer in enumerate(self.encoder_layers):
            vmap.update(prefixed(f"encoder.layers.{i}", layer.variable_map()))
        if self.final_norm is not None:
            vmap["encoder.final_norm.gamma"] = self.final_norm.gamma
            vmap["encoder.final_norm.beta"] = self.final_norm.beta
        vmap["head.weight"], vmap["head.bias"] = self.head.kernel, self.head.bias
        return checked_variable_map(self.cfg, vmap)
