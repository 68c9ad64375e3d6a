"""BertModel: the BERT-style encoder (the book's chapter 23) in Keras 3, from the same BertConfig as
the NumPy reference (numpy_transformer.models.bert) and with the same parameter names, so state
dicts pass between them. keras.ops / keras.layers only: it runs on any Keras backend. The encoder
layers are the translation model's own EncoderLayer; the MLM head's output layer is the token
embedding matrix, transposed (tied weights: autodiff adds the gradients of its two uses)."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from numpy_transformer.config import BertConfig, check_bert_inputs

from .attention import padding_mask
from .backend import check_backend_dtype, is_concrete, take_rows
from .blocks import EncoderLayer, resolve_config
from .layers import gelu, prefixed
from .state import ConfigModel, checked_variable_map

HEADS = ("mlm", "cls")


def check_inputs(ids, segments, cfg):
    """Concrete input gets every check of numpy_transformer.config.check_bert_inputs (ids in
    the vocabulary, length, segment ids); symbolic tensors (inside a compiled step) pass."""
    if is_concrete(ids) and (segments is None or is_concrete(segments)):
        seg = None if segments is None else np.asarray(ops.convert_to_numpy(segments))
        ids_np, seg_np, _ = check_bert_inputs(np.asarray(ops.convert_to_numpy(ids)), seg, cfg)
        return ids_np.astype("int32"), seg_np.astype("int32")
    return ids, (ops.zeros_like(ids) if segments is None else segments)


@keras.saving.register_keras_serializable(package="keras_transformer")
class BertModel(ConfigModel):
    """model([ids, segments], training) → logits of `head`: "mlm" (B, T, vocab) at every position,
    or "cls" (B, num_classes) from position 0 ([CLS]). One model object per head for Keras'
    compile/fit (pre-training, fine-tuning); every variable exists in both. In training,
    dropout where BERT has it: the embedding and sublayer outputs (cfg.dropout), the attention
    weights (cfg.attention_probs_dropout_prob) and the pooled output (cfg.classifier_dropout)."""

    def __init__(self, cfg, head="mlm", **kwargs):
        cfg = resolve_config(cfg, kwargs, allowed=(BertConfig,))
        check_backend_dtype(cfg.dtype)
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        super().__init__(**kwargs)
        self.cfg, self.head = cfg, head
        dp, eps = self.dtype_policy, cfg.layer_norm_eps
        self.embed_norm = keras.layers.LayerNormalization(epsilon=eps, dtype=dp, name="embed_norm")
        self.embed_dropout = keras.layers.Dropout(cfg.dropout, dtype=dp, name="dropout")
        self.encoder_layers = [EncoderLayer(cfg, cfg.attention_probs_dropout_prob, name=f"layer_{i}")
                               for i in range(cfg.num_layers)]
        self.final_norm = (keras.layers.LayerNormalization(epsilon=eps, dtype=dp, name="final_norm")
                           if cfg.norm_first else None)
        self.mlm_dense = keras.layers.Dense(cfg.d_model, dtype=dp, name="mlm_dense")
        self.mlm_norm = keras.layers.LayerNormalization(epsilon=eps, dtype=dp, name="mlm_norm")
        self.pooler = keras.layers.Dense(cfg.d_model, dtype=dp, name="pooler")
        self.pooler_dropout = keras.layers.Dropout(cfg.classifier_dropout, dtype=dp, name="pooler_dropout")
        self.classifier = keras.layers.Dense(cfg.num_classes, dtype=dp, name="classifier")

    def build(self, input_shape=None):
        cfg, d = self.cfg, self.cfg.d_model
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.token_embeddings = self.add_weight(shape=(cfg.vocab_size, d), initializer=init, name="token")
        self.position_embeddings = self.add_weight(shape=(cfg.max_len, d), initializer=init, name="position")
        self.segment_embeddings = self.add_weight(shape=(cfg.type_vocab_size, d), initializer=init, name="segment")
        self.mlm_bias = self.add_weight(shape=(cfg.vocab_size,), initializer="zeros", name="mlm_bias")
        for layer in (self.embed_norm, *self.encoder_layers, self.final_norm, self.mlm_dense, self.mlm_norm):
            if layer is not None:
                layer.build((None, None, d))
        self.pooler.build((None, d))
        self.classifier.build((None, d))
        self.built = True

    # ------------------------------------------------------------------ forward
    def encode(self, ids, segments, training=None):
        """The encoder output (B, T, d_model): LN(token + position + segment), dropout, layers."""
        T = ops.shape(ids)[1]
        x = take_rows(self.token_embeddings.value, ids) + self.position_embeddings.value[:T] \
            + take_rows(self.segment_embeddings.value, segments)
        x = self.embed_dropout(self.embed_norm(x), training=training)
        mask = padding_mask(ids, self.cfg.pad_id)
        for layer in self.encoder_layers:
            x = layer(x, mask, training=training)
        return x if self.final_norm is None else self.final_norm(x)

    def mlm_logits(self, h):
        """LN(GELU(h W + b)) E_tokᵀ + b_out: the output layer is the token embedding (tied)."""
        u = self.mlm_norm(gelu(self.mlm_dense(h), self.cfg.activation == "gelu_tanh"))
        return ops.matmul(u, ops.transpose(self.token_embeddings.value)) + self.mlm_bias.value

    def cls_logits(self, h, training=None):
        """classifier(Dropout(tanh(pooler(h[:, 0]))))."""
        return self.classifier(self.pooler_dropout(ops.tanh(self.pooler(h[:, 0])), training=training))

    def logits(self, ids, segments=None, head=None, training=None):
        ids, segments = check_inputs(ids, segments, self.cfg)
        h = self.encode(ids, segments, training)
        return self.mlm_logits(h) if (head or self.head) == "mlm" else self.cls_logits(h, training)

    def call(self, inputs, training=None):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError("BertModel expects inputs [ids, segments]")
        return self.logits(*inputs, training=training)

    def get_config(self):
        return {**super().get_config(), "head": self.head}

    # ------------------------------------------------------------------ state
    def variable_map(self):
        """{shared parameter name: Keras variable}, in parameter_shapes order (checked)."""
        if not self.built:
            self.build()
        vmap = {"embeddings.token.weight": self.token_embeddings,
                "embeddings.position.weight": self.position_embeddings,
                "embeddings.segment.weight": self.segment_embeddings,
                "embeddings.norm.gamma": self.embed_norm.gamma, "embeddings.norm.beta": self.embed_norm.beta}
        for i, layer in enumerate(self.encoder_layers):
            vmap.update(prefixed(f"encoder.layers.{i}", layer.variable_map()))
        if self.final_norm is not None:
            vmap["encoder.final_norm.gamma"], vmap["encoder.final_norm.beta"] = self.final_norm.gamma, self.final_norm.beta
        vmap.update({"mlm.dense.weight": self.mlm_dense.kernel, "mlm.dense.bias": self.mlm_dense.bias,
                     "mlm.norm.gamma": self.mlm_norm.gamma, "mlm.norm.beta": self.mlm_norm.beta,
                     "mlm.bias": self.mlm_bias,
                     "pooler.dense.weight": self.pooler.kernel, "pooler.dense.bias": self.pooler.bias,
                     "classifier.weight": self.classifier.kernel, "classifier.bias": self.classifier.bias})
        return checked_variable_map(self.cfg, vmap)
