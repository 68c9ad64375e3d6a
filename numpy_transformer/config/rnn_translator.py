"""RNNTranslatorConfig: the attentional RNN encoder–decoder (Luong et al., 2015, with GRUs),
shared by models/rnn_translator.py and keras_transformer/rnn_translator.py, and its parameter
names and shapes."""
from __future__ import annotations

import dataclasses
import numbers

from .base import _check_ints, _ConfigMethods, _DTYPES

LUONG_SCORES = ("dot", "general", "concat")


@dataclasses.dataclass(frozen=True)
class RNNTranslatorConfig(_ConfigMethods):
    """Source embedding (embed_dim) → GRU encoder (hidden) → GRU decoder with Luong global
    attention and input feeding → attentional state h̃_t = tanh([c_t; h_t] W_c) (hidden) →
    output layer over the target vocabulary.

    The decoder starts from the encoder's last (unpadded) state; its input at step t is
    [emb(y_{t−1}); h̃_{t−1}] (h̃_0 = 0), so it has embed_dim + hidden inputs. `score`: "general"
    (h_tᵀ W_a h̄_s, a learned bilinear form, the default), "dot" (h_tᵀ h̄_s, no parameters) or
    "concat" (v_aᵀ tanh([h_t; h̄_s] W_a), attention size `attention_units`, default = hidden).
    `dropout` applies to both embeddings and to h̃_t before the output layer. `max_len` bounds source and target lengths (as in TransformerConfig)."""

    src_vocab_size: int
    tgt_vocab_size: int
    embed_dim: int = 128
    hidden: int = 256
    score: str = "general"
    attention_units: int | None = None
    dropout: float = 0.1
    max_len: int = 128
    pad_id: int = 0
    dtype: str = "float32"
    kind = "rnn-attention"

    def __post_init__(self):
        _check_ints(self, ("src_vocab_size", "tgt_vocab_size", "embed_dim", "hidden", "max_len", "pad_id",
                           "attention_units"), optional=("attention_units",))
        if self.score not in LUONG_SCORES:
            raise ValueError(f"RNNTranslatorConfig.score must be one of {LUONG_SCORES}, got {self.score!r}")
        if self.attention_units is not None and self.score != "concat":
            raise ValueError(f"attention_units={self.attention_units} applies to the concat score only "
                             f"(score={self.score!r})")
        if not 0 <= self.pad_id < min(self.src_vocab_size, self.tgt_vocab_size):
            raise ValueError(f"pad_id={self.pad_id} is outside the vocabularies "
                             f"({self.src_vocab_size}, {self.tgt_vocab_size})")
        if not isinstance(self.dropout, numbers.Real) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {_DTYPES}, got {self.dtype!r}")
        object.__setattr__(self, "dropout", float(self.dropout))

    @property
    def d_a(self) -> int:
        """The concat score's attention size."""
        return self.hidden if self.attention_units is None else self.attention_units


def rnn_translator_parameter_shapes(cfg: RNNTranslatorConfig) -> dict:
    """{name: shape}, weights (in, out); the GRUs' in Keras' layout (kernel (in, 3H),
    recurrent_kernel (H, 3H), bias (2, 3H), gates z, r, n)."""
    E, H = cfg.embed_dim, cfg.hidden
    shapes = {"encoder.embedding.weight": (cfg.src_vocab_size, E),
              "encoder.gru.kernel": (E, 3 * H), "encoder.gru.recurrent_kernel": (H, 3 * H),
              "encoder.gru.bias": (2, 3 * H),
              "decoder.embedding.weight": (cfg.tgt_vocab_size, E),
              "decoder.gru.kernel": (E + H, 3 * H), "decoder.gru.recurrent_kernel": (H, 3 * H),
              "decoder.gru.bias": (2, 3 * H)}
    if cfg.score == "general":
        shapes["decoder.attention.W_a"] = (H, H)
    elif cfg.score == "concat":
        shapes.update({"decoder.attention.W_a": (2 * H, cfg.d_a), "decoder.attention.v_a": (cfg.d_a,)})
    shapes.update({"decoder.attentional.W_c": (2 * H, H),
                   "output.weight": (H, cfg.tgt_vocab_size), "output.bias": (cfg.tgt_vocab_size,)})
    return shapes


def schedule_width(cfg) -> int:
    """The d_model of the warm-up schedule lr = d^−0.5·min(step^−0.5, step·warmup^−1.5) (both
    backends): the Transformer's d_model, the RNN translator's hidden size."""
    return cfg.hidden if isinstance(cfg, RNNTranslatorConfig) else cfg.d_model
