"""BertConfig: the BERT-style encoder (Devlin et al., 2019; the book's chapter 23), shared by the
NumPy model, the Keras twin, checkpoints and the command line, and its parameter names/shapes."""
from __future__ import annotations

import dataclasses

from .base import _check_common, _check_heads, _check_ints, _check_rates, _ConfigMethods
from .shapes import _encoder_layers, _norm


@dataclasses.dataclass(frozen=True)
class BertConfig(_ConfigMethods):
    """Hyper-parameters of the encoder-only model.

    Input: token ids (B, T) with T ≤ max_len and segment ids (B, T) in [0, type_vocab_size).
    Embedding: token + learned position + segment embeddings, LayerNorm, dropout (BERT's
    embedding block). Encoder: num_layers of the translation Transformer's encoder layers
    (post-LN as in BERT; `norm_first=True` is pre-LN with a final LayerNorm), GELU feed-forward.
    Heads: the masked-language-model head (dense + GELU + LayerNorm, then the token embedding
    transposed, tied, with its own bias: logits over vocab_size) and the [CLS] head (pooler:
    dense + tanh on position 0, then a classifier to num_classes logits). BERT-base is
    d_model 768, 12 heads, d_ff 3072, 12 layers, max_len 512, vocabulary 30,522; the defaults
    here are sized for a 2-core CPU. `layer_norm_eps` 1e-12 is BERT's.

    Dropout in training, BERT's three places, each 0.1 by default as in BERT: `dropout`
    (BERT's hidden_dropout_prob) after the embedding and on every sublayer's output;
    `attention_probs_dropout_prob` on the attention weights, softmax(Q Kᵀ / sqrt(d_k)), before
    they weigh V; `classifier_dropout` on the pooled [CLS] output before the classifier (named
    as in Hugging Face's BertForSequenceClassification; Google's BERT applies 0.1 there, its
    hidden dropout). Configs saved before the last two existed load with BERT's 0.1."""

    vocab_size: int
    d_model: int = 128
    num_heads: int = 4
    d_ff: int = 512
    num_layers: int = 2
    max_len: int = 64
    type_vocab_size: int = 2
    num_classes: int = 2
    dropout: float = 0.1
    pad_id: int = 0
    layer_norm_eps: float = 1e-12
    norm_first: bool = False
    dtype: str = "float32"
    activation: str = "gelu"
    attention_probs_dropout_prob: float = 0.1
    classifier_dropout: float = 0.1
    kind = "bert"

    def __post_init__(self):
        _check_ints(self, ("vocab_size", "d_model", "num_heads", "d_ff", "num_layers", "max_len",
                           "type_vocab_size", "num_classes", "pad_id"))
        _check_heads(self)
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id={self.pad_id} is outside the vocabulary [0, {self.vocab_size})")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        _check_common(self)
        _check_rates(self, ("attention_probs_dropout_prob", "classifier_dropout"))


def bert_parameter_shapes(cfg: BertConfig) -> dict:
    """The encoder's parameters: the three embedding tables and the embedding LayerNorm, the
    encoder layers under the translation encoder's names (and the final norm in pre-LN), the MLM
    head (dense, norm, output bias; its output weight is embeddings.token.weight, tied), the
    pooler and the classifier."""
    d = cfg.d_model
    shapes = {"embeddings.token.weight": (cfg.vocab_size, d), "embeddings.position.weight": (cfg.max_len, d),
              "embeddings.segment.weight": (cfg.type_vocab_size, d)}
    _norm(shapes, "embeddings.norm", d)
    _encoder_layers(shapes, cfg)
    shapes.update({"mlm.dense.weight": (d, d), "mlm.dense.bias": (d,)})
    _norm(shapes, "mlm.norm", d)
    shapes["mlm.bias"] = (cfg.vocab_size,)
    shapes.update({"pooler.dense.weight": (d, d), "pooler.dense.bias": (d,),
                   "classifier.weight": (d, cfg.num_classes), "classifier.bias": (cfg.num_classes,)})
    return shapes


def check_bert_inputs(ids, segments, cfg: BertConfig, positions=None):
    """Token ids (B, T) against the vocabulary and max_len (config.check_ids), segment ids of the
    same shape in [0, type_vocab_size) (None: all 0), and, when given, `positions`, a boolean
    (B, T) mask of the positions the MLM head predicts, with at least one True. Both backends
    call it; returns (ids, segments, positions) as NumPy arrays."""
    import numpy as np  # local: config stays importable as pure metadata

    from .checks import check_ids
    ids = check_ids(ids, cfg.vocab_size, cfg.max_len, "ids")
    if segments is None:
        segments = np.zeros(ids.shape, dtype=np.int64)
    segments = np.asarray(segments)
    if not np.issubdtype(segments.dtype, np.integer):
        raise TypeError(f"segments must be integer segment ids, got dtype {segments.dtype}")
    if segments.shape != ids.shape:
        raise ValueError(f"segments have shape {segments.shape}, ids {ids.shape}: one segment id per token")
    if segments.min() < 0 or segments.max() >= cfg.type_vocab_size:
        bad = segments.min() if segments.min() < 0 else segments.max()
        raise ValueError(f"segments contain id {bad} outside [0, {cfg.type_vocab_size})")
    if positions is not None:
        positions = np.asarray(positions)
        if positions.dtype != np.bool_ or positions.shape != ids.shape:
            raise ValueError(f"positions must be a boolean mask of the ids' shape {ids.shape}, got "
                             f"{positions.dtype} {positions.shape}")
        if not positions.any():
            raise ValueError("positions selects no token: the MLM head has nothing to predict")
    return ids, segments, positions
