"""Encoder and decoder layers and stacks (the book's chapters 15 and 16, corrected), all
built from one TransformerConfig; their get_config stores cfg.to_dict()."""
from __future__ import annotations

import keras

from numpy_transformer.config import BertConfig, TransformerConfig, ViTConfig, config_from_dict

from .attention import MultiHeadAttention
from .layers import AddNormalization, FeedForward, PositionEmbedding, prefixed


def resolve_config(cfg, kwargs, allowed=(TransformerConfig, ViTConfig, BertConfig)):
    """The TransformerConfig (or ViTConfig, BertConfig) behind a layer or model (a dict from get_config is
    accepted); a `dtype` in kwargs must agree with cfg.dtype and is replaced by it (variables
    and compute)."""
    if isinstance(cfg, dict):
        cfg = config_from_dict(cfg)
    if not isinstance(cfg, allowed):
        raise TypeError(f"cfg must be a {' or '.join(c.__name__ for c in allowed)}, got {type(cfg).__name__}")
    dtype = kwargs.pop("dtype", None)
    if dtype is not None and keras.dtype_policies.get(dtype).name != cfg.dtype:
        raise ValueError(f"dtype={dtype!r} disagrees with cfg.dtype={cfg.dtype!r}; set it in the config")
    kwargs["dtype"] = cfg.dtype
    return cfg


class ConfigLayer(keras.layers.Layer):
    """A layer described by a TransformerConfig (or, for the ViT's encoder layers, a ViTConfig):
    its dtype (variables and compute) is cfg.dtype, and its Keras config is
    {"cfg": cfg.to_dict(), name, trainable}."""

    def __init__(self, cfg, **kwargs):
        cfg = resolve_config(cfg, kwargs)
        super().__init__(**kwargs)
        self.cfg = cfg

    def _dropout(self, name):
        return keras.layers.Dropout(self.cfg.dropout, dtype=self.dtype_policy, name=name)

    def _mha(self, name, dropout=0.0):
        return MultiHeadAttention(self.cfg.num_heads, self.cfg.d_model, dropout, dtype=self.dtype_policy, name=name)

    def _add_norm(self, name):
        return AddNormalization(self.cfg.norm_first, self.cfg.layer_norm_eps, dtype=self.dtype_policy,
                                name=name)

    def _ffn(self):
        return FeedForward(self.cfg.d_ff, self.cfg.d_model, self.cfg.activation, dtype=self.dtype_policy,
                           name="ffn")

    def _final_norm(self):
        if not self.cfg.norm_first:
            return None
        return keras.layers.LayerNormalization(epsilon=self.cfg.layer_norm_eps, dtype=self.dtype_policy,
                                               name="final_norm")

    def get_config(self):
        base = super().get_config()
        base.pop("dtype", None)
        return {**base, "cfg": self.cfg.to_dict()}


def _build_all(d_model, *layers):
    for layer in layers:
        if layer is not None:
            layer.build((None, None, d_model))


@keras.saving.register_keras_serializable(package="keras_transformer")
class EncoderLayer(ConfigLayer):
    """x -> self-attention (add_norm1) -> feed-forward (add_norm2), dropout on each sublayer's
    output. call(x, padding_mask, training, return_attention_scores) with padding_mask the
    source key mask (B, 1, 1, S), True = may attend. `attention_dropout`: the rate on the
    attention weights in training (BERT's; the Transformer and the ViT have none)."""

    def __init__(self, cfg, attention_dropout=0.0, **kwargs):
        super().__init__(cfg, **kwargs)
        self.attention_dropout = float(attention_dropout)
        self.multihead_attention = self._mha("self_attn", self.attention_dropout)
        self.dropout1, self.add_norm1 = self._dropout("dropout1"), self._add_norm("norm1")
        self.feed_forward = self._ffn()
        self.dropout2, self.add_norm2 = self._dropout("dropout2"), self._add_norm("norm2")

    def build(self, input_shape=None):
        _build_all(self.cfg.d_model, self.multihead_attention, self.add_norm1, self.feed_forward,
                   self.add_norm2)

    def call(self, x, padding_mask=None, training=None, return_attention_scores=False):
        h = self.add_norm1.normalize_input(x)
        a, weights = self.multihead_attention(h, h, h, padding_mask, return_attention_scores=True,
                                              training=training)
        x = self.add_norm1(x, self.dropout1(a, training=training))
        f = self.feed_forward(self.add_norm2.normalize_input(x))
        x = self.add_norm2(x, self.dropout2(f, training=training))
        return (x, weights) if return_attention_scores else x

    def get_config(self):
        return {**super().get_config(), "attention_dropout": self.attention_dropout}

    def variable_map(self):
        return {**prefixed("self_attn", self.multihead_attention.variable_map()),
                **prefixed("norm1", self.add_norm1.variable_map()),
                **prefixed("ffn", self.feed_forward.variable_map()),
                **prefixed("norm2", self.add_norm2.variable_map())}


@keras.saving.register_keras_serializable(package="keras_transformer")
class DecoderLayer(ConfigLayer):
    """y -> masked self-attention (add_norm1) -> cross-attention over the encoder output
    (add_norm2; errata 2: the book reused add_norm1 here) -> feed-forward (add_norm3).
    call(x, encoder_output, lookahead_mask, padding_mask, training, return_attention_scores):
    lookahead_mask is the self-attention mask (causal AND target padding, (B, 1, T, T)),
    padding_mask the source key mask for cross-attention (B, 1, 1, S)."""

    def __init__(self, cfg, **kwargs):
        super().__init__(cfg, **kwargs)
        self.multihead_attention1 = self._mha("self_attn")
        self.dropout1, self.add_norm1 = self._dropout("dropout1"), self._add_norm("norm1")
        self.multihead_attention2 = self._mha("cross_attn")
        self.dropout2, self.add_norm2 = self._dropout("dropout2"), self._add_norm("norm2")
        self.feed_forward = self._ffn()
        self.dropout3, self.add_norm3 = self._dropout("dropout3"), self._add_norm("norm3")

    def build(self, input_shape=None):
        _build_all(self.cfg.d_model, self.multihead_attention1, self.add_norm1, self.multihead_attention2,
                   self.add_norm2, self.feed_forward, self.add_norm3)

    def call(self, x, encoder_output, lookahead_mask=None, padding_mask=None, training=None,
             return_attention_scores=False, cache=None):
        """cache: (self-attention KVCache, cross-attention KVCache) when decoding step by step."""
        self_cache, cross_cache = (None, None) if cache is None else cache
        h = self.add_norm1.normalize_input(x)
        a, w_self = self.multihead_attention1(h, h, h, lookahead_mask, return_attention_scores=True,
                                              cache=self_cache)
        x = self.add_norm1(x, self.dropout1(a, training=training))
        h = self.add_norm2.normalize_input(x)
        a, w_cross = self.multihead_attention2(h, encoder_output, encoder_output, padding_mask,
                                               return_attention_scores=True, cache=cross_cache)
        x = self.add_norm2(x, self.dropout2(a, training=training))
        f = self.feed_forward(self.add_norm3.normalize_input(x))
        x = self.add_norm3(x, self.dropout3(f, training=training))
        return (x, (w_self, w_cross)) if return_attention_scores else x

    def variable_map(self):
        return {**prefixed("self_attn", self.multihead_attention1.variable_map()),
                **prefixed("norm1", self.add_norm1.variable_map()),
                **prefixed("cross_attn", self.multihead_attention2.variable_map()),
                **prefixed("norm2", self.add_norm2.variable_map()),
                **prefixed("ffn", self.feed_forward.variable_map()),
                **prefixed("norm3", self.add_norm3.variable_map())}


class _Stack(ConfigLayer):
    """Shared parts of Encoder and Decoder: embedding, dropout, layers, optional final norm."""

    layer_class = None
    vocab_attr = None

    def __init__(self, cfg, **kwargs):
        super().__init__(cfg, **kwargs)
        cfg = self.cfg
        self.embedding = PositionEmbedding(getattr(cfg, self.vocab_attr), cfg.max_len, cfg.d_model,
                                           dtype=self.dtype_policy, name="embedding")
        self.dropout = self._dropout("dropout")
        self.layers = [self.layer_class(cfg, name=f"layer_{i}") for i in range(cfg.num_layers)]
        self.final_norm = self._final_norm()  # pre-LN only

    def build(self, input_shape=None):
        self.embedding.build((None, None))
        _build_all(self.cfg.d_model, *self.layers, self.final_norm)

    def _finish(self, x):
        return x if self.final_norm is None else self.final_norm(x)

    def variable_map(self):
        out = prefixed("embedding", self.embedding.variable_map())
        for i, layer in enumerate(self.layers):
            out.update(prefixed(f"layers.{i}", layer.variable_map()))
        if self.final_norm is not None:
            out["final_norm.gamma"], out["final_norm.beta"] = self.final_norm.gamma, self.final_norm.beta
        return out


@keras.saving.register_keras_serializable(package="keras_transformer")
class Encoder(_Stack):
    """Embedding + dropout -> num_layers EncoderLayers [-> final LayerNorm in pre-LN].
    call(input_sentence, padding_mask, training, return_attention_scores) -> (B, S, d_model)
    [and the list of each layer's self-attention weights]."""

    layer_class = EncoderLayer
    vocab_attr = "src_vocab_size"

    def call(self, input_sentence, padding_mask=None, training=None, return_attention_scores=False):
        x = self.dropout(self.embedding(input_sentence), training=training)
        weights = []
        for layer in self.layers:
            x, w = layer(x, padding_mask, training=training, return_attention_scores=True)
            weights.append(w)
        x = self._finish(x)
        return (x, weights) if return_attention_scores else x


@keras.saving.register_keras_serializable(package="keras_transformer")
class Decoder(_Stack):
    """Embedding + dropout -> num_layers DecoderLayers [-> final LayerNorm in pre-LN].
    call(output_target, encoder_output, lookahead_mask, padding_mask, training,
    return_attention_scores) -> (B, T, d_model) [and each layer's (self, cross) weights]."""

    layer_class = DecoderLayer
    vocab_attr = "tgt_vocab_size"

    def call(self, output_target, encoder_output, lookahead_mask=None, padding_mask=None, training=None,
             return_attention_scores=False, caches=None, offset=None):
        """caches: one (self, cross) KVCache pair per layer, and offset the position of
        output_target's first token, when decoding step by step (TransformerModel.decode_step)."""
        x = self.dropout(self.embedding(output_target, offset), training=training)
        weights = []
        for i, layer in enumerate(self.layers):
            x, w = layer(x, encoder_output, lookahead_mask, padding_mask, training=training,
                         return_attention_scores=True, cache=None if caches is None else caches[i])
            weights.append(w)
        x = self._finish(x)
        return (x, weights) if return_attention_scores else x
