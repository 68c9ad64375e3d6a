"""The BERT-style encoder (Devlin et al., 2019; the book's chapter 23): token + learned position +
segment embeddings with a LayerNorm, the translation Transformer's own encoder layers
(models/layers.py; post-LN as in BERT, pre-LN as an option, GELU feed-forward), and two heads:
the masked-language-model head, whose output layer is the token embedding itself (tied), and
the [CLS] head (pooler + classifier). Forward and hand-written backward; the parameters a tree
(params.encoder.layers[0].self_attn.wq.weight, params.mlm.dense.weight), state dicts under the
shared names (config.bert_parameter_shapes)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..config import BertConfig, check_bert_inputs, parameter_shapes
from ..config.tree import Tree, tree_map, unflatten
from ..ops.attention import padding_mask
from ..ops.dropout import dropout_backward, dropout_forward
from ..ops.bert import (bert_embedding_backward, bert_embedding_forward, classifier_head_backward,
                        classifier_head_forward, gather_positions, gather_positions_backward,
                        mlm_head_backward, mlm_head_forward)
from .layers import (encoder_layer_backward, encoder_layer_forward, final_norm, final_norm_backward, layer_norm,
                     layer_norm_backward)
from .params import ParameterModel, init_parameters

HEADS = ("mlm", "cls")


def init_bert_params(cfg: BertConfig, seed=0):
    """BERT's initialisation for the three embedding tables, N(0, 0.02²) (its
    initializer_range), so that their sum starts small and the LayerNorm sets the scale;
    Glorot-uniform weights (Keras' Dense default), zero biases, LayerNorm gamma=1/beta=0. The
    tree, drawn in the order of config.parameter_shapes."""
    return unflatten(init_parameters(parameter_shapes(cfg), cfg.dtype, seed,
                                     lambda name: 0.02 if name.startswith("embeddings.") and name.endswith(".weight")
                                     else None))


class BertCache(NamedTuple):
    embed: object            # BertEmbeddingCache (ids, segments)
    embed_norm: object       # the embedding LayerNorm's cache
    drop: object             # dropout's mask on the normalised embedding
    encoder: list            # one EncoderLayerCache per layer (models/layers.py)
    final_norm: object       # the encoder's final LayerNorm (pre-LN); None in post-LN
    h_shape: tuple           # the encoder output's shape (B, T, d)
    head: str                # "mlm" or "cls"
    positions: object        # the MLM head's boolean mask, or None (every position)
    head_cache: object       # MLMHeadCache or ClassifierHeadCache
    logits_shape: tuple


class BertEncoder(ParameterModel):
    """forward(ids, segments=None, head="mlm", positions=None, training=False, rng=None) → logits:
      head="mlm": (B, T, vocab) at every position, or (N, vocab) at the N positions where the
        boolean mask `positions` (B, T) is True, in row-major order (what pre-training needs);
      head="cls": (B, num_classes) from the [CLS] position.
    backward(dlogits) → the gradient tree, shaped like params (the head not used in
    the last forward gets zeros). Padding (cfg.pad_id) is masked out of every attention.
    With training=True dropout is on where BERT has it (BertConfig): the embedding, every
    sublayer's output, the attention weights and the pooled [CLS] output, its masks drawn from
    `rng` (default: the model's own). `kernels` "plain" (default) or "fast" as in Transformer."""

    def __init__(self, cfg: BertConfig, seed=0, kernels="plain"):
        self._setup(cfg, BertConfig, init_bert_params, seed, kernels)

    # ------------------------------------------------------------------ forward
    def forward(self, ids, segments=None, head="mlm", positions=None, training=False, rng=None):
        cfg, p, k = self.cfg, self.params, self.kernels
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        if positions is not None and head != "mlm":
            raise ValueError("positions selects the MLM head's outputs; the [CLS] head reads position 0 only")
        ids, segments, positions = check_bert_inputs(ids, segments, cfg, positions)
        if training and rng is None:
            rng = self.rng
        e = p.embeddings
        x, embed = bert_embedding_forward(ids, segments, e.token.weight, e.position.weight, e.segment.weight)
        x, embed_norm = layer_norm(x, e.norm, cfg, k)
        x, drop = dropout_forward(x, cfg.dropout, rng, training)
        mask = padding_mask(ids, cfg.pad_id)
        encoder = []
        for layer in p.encoder.layers:
            x, c = encoder_layer_forward(x, layer, cfg, mask, rng, training, k, cfg.attention_probs_dropout_prob)
            encoder.append(c)
        h, norm = final_norm(x, p.encoder, cfg, k)
        if head == "mlm":
            hm = h if positions is None else gather_positions(h, positions)
            logits, hc = mlm_head_forward(hm, p.mlm, e.token.weight, cfg.layer_norm_eps, cfg.activation == "gelu_tanh")
        else:
            logits, hc = classifier_head_forward(h, p, cfg.classifier_dropout if training else 0.0, rng)
        self._cache = BertCache(embed, embed_norm, drop, encoder, norm, h.shape, head, positions, hc, logits.shape)
        return logits

    __call__ = forward

    def attention_weights(self):
        """Softmax weights of every layer's self-attention in the last forward, (B, H, T, T)."""
        if self._cache is None:
            raise RuntimeError("attention_weights() needs a forward() first")
        return {f"encoder.layers.{i}.self_attn": c.self_attn.weights
                for i, c in enumerate(self._cache.encoder)}

    # ------------------------------------------------------------------ backward
    def backward(self, dlogits):
        """Gradients of a scalar loss w.r.t. every parameter, given dloss/dlogits of the last
        forward. The token embedding's gradient is the sum of its two uses: the input gather
        (a scatter-add) and, after an MLM forward, the tied output layer (dlogitsᵀ u). Returns
        the gradient tree, shaped like params."""
        if self._cache is None:
            raise RuntimeError("backward() needs a forward() first")
        c, cfg, p, k = self._cache, self.cfg, self.params, self.kernels
        dlogits = np.asarray(dlogits)
        if dlogits.shape != c.logits_shape:
            raise ValueError(f"dlogits has shape {dlogits.shape}, the last logits had {c.logits_shape}")
        grads = tree_map(np.zeros_like, p)   # the unused head's stay 0; assigning keeps p's order
        if c.head == "mlm":
            dh, grads.mlm, dtoken_out = mlm_head_backward(dlogits, c.head_cache, p.mlm, p.embeddings.token.weight)
            if c.positions is not None:
                dh = gather_positions_backward(dh, c.positions, c.h_shape)
        else:
            dh, g = classifier_head_backward(dlogits, c.head_cache, p)
            grads.update(g)                  # pooler, classifier
            dtoken_out = None
        dh, norm = final_norm_backward(dh, c.final_norm, p.encoder, k)
        encoder = [None] * cfg.num_layers
        for i in reversed(range(cfg.num_layers)):
            dh, encoder[i] = encoder_layer_backward(dh, c.encoder[i], p.encoder.layers[i], cfg, k)
        grads.encoder = Tree(layers=encoder, **norm)
        dh = dropout_backward(dh, c.drop)
        e = grads.embeddings
        dh, e.norm = layer_norm_backward(dh, c.embed_norm, p.embeddings.norm, k)
        dtoken_in, e.position.weight, e.segment.weight = bert_embedding_backward(
            dh, c.embed, cfg.vocab_size, cfg.max_len, cfg.type_vocab_size)
        # tied weights: one matrix, two uses, so the two gradients add
        e.token.weight = dtoken_in if dtoken_out is None else dtoken_in + dtoken_out
        return grads
