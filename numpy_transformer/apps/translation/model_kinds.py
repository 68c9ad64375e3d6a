"""The translation models that `train --model` chooses between, one registry entry each, so the
training loop, checkpoints, translate and evaluate ask the entry instead of testing the model's
type everywhere: its config from the command line, its NumPy model, the options that belong to it
alone, how its run is described, and where its attention maps are."""
from __future__ import annotations

import dataclasses
from typing import Callable

from ...config import RNNTranslatorConfig, TransformerConfig
from ...cli.options import positive_int
from ...training.threads import largest_gemm


@dataclasses.dataclass(frozen=True)
class ModelKind:
    name: str                           # the --model value
    config_class: type
    options: dict                       # {argparse dest: (flag, config field)}: this model's own options
    config: Callable                    # (argparse namespace, src_vocab, tgt_vocab) -> config
    numpy_model: Callable               # (cfg, seed) -> the NumPy model
    describe: Callable                  # cfg -> "d_model=128, …" for the start-up line and plot titles
    largest_gemm: Callable              # (cfg, batch_size) -> multiply-adds (training/threads.py's thread policy)
    attention_layers: Callable          # cfg -> how many decoder layers have cross-attention maps
    attention_key: Callable             # layer -> the key in model.attention_weights()
    attention_title: Callable           # cfg -> what an attention map shows (None: the Transformer's layer/heads)


def _transformer_config(a, src_vocab, tgt_vocab):
    return TransformerConfig(src_vocab_size=src_vocab, tgt_vocab_size=tgt_vocab, d_model=a.d_model,
                             num_heads=a.heads, d_ff=a.d_ff, num_layers=a.layers, dropout=a.dropout,
                             max_len=a.max_len, norm_first=a.norm_first, dtype=a.dtype)


def _rnn_config(a, src_vocab, tgt_vocab):
    return RNNTranslatorConfig(src_vocab_size=src_vocab, tgt_vocab_size=tgt_vocab, embed_dim=a.embed_dim,
                               hidden=a.hidden, score=a.score, attention_units=a.attention_units,
                               dropout=a.dropout, max_len=a.max_len, dtype=a.dtype)


def _transformer(cfg, seed):
    from ...models import Transformer
    return Transformer(cfg, seed=seed, kernels="fast")


def _rnn(cfg, seed):
    from ...models import RNNTranslator
    return RNNTranslator(cfg, seed=seed)


TRANSFORMER = ModelKind(
    "transformer", TransformerConfig,
    {"d_model": ("--d-model", "d_model"), "heads": ("--heads", "num_heads"), "d_ff": ("--d-ff", "d_ff"),
     "layers": ("--layers", "num_layers"), "norm_first": ("--norm-first", "norm_first")},
    _transformer_config, _transformer,
    lambda c: (f"d_model={c.d_model}, heads={c.num_heads}, d_ff={c.d_ff}, {c.num_layers}+{c.num_layers} layers, "
               f"{'pre' if c.norm_first else 'post'}-LN"),
    lambda c, b: largest_gemm(c, b),
    lambda c: c.num_layers, lambda layer: f"decoder.layers.{layer}.cross_attn", lambda c: None)

RNN_ATTENTION = ModelKind(
    "rnn-attention", RNNTranslatorConfig,
    {"embed_dim": ("--embed-dim", "embed_dim"), "hidden": ("--hidden", "hidden"), "score": ("--score", "score"),
     "attention_units": ("--attention-units", "attention_units")},
    _rnn_config, _rnn,
    lambda c: (f"GRU encoder-decoder, embed {c.embed_dim}, hidden {c.hidden}, Luong {c.score} attention"
               + (f" ({c.d_a} units)" if c.score == "concat" else "") + ", input feeding"),
    # the output layer over every position, or the decoder GRU's per-step input projection
    lambda c, b: b * c.max_len * c.hidden * max(c.tgt_vocab_size, 3 * c.hidden),
    lambda c: 1, lambda layer: "decoder.attention",
    lambda c: f"Luong {c.score} attention (GRU decoder)")

KINDS = {k.name: k for k in (TRANSFORMER, RNN_ATTENTION)}


def kind_of(cfg) -> ModelKind:
    """The registry entry of a config (a checkpoint's, say)."""
    for k in KINDS.values():
        if isinstance(cfg, k.config_class):
            return k
    raise TypeError(f"not a translation model's config: {type(cfg).__name__}")


def other_options(kind):
    """{dest: (flag, the model it belongs to)} of the options of every other model."""
    return {dest: (flag, k.name) for k in KINDS.values() if k is not kind for dest, (flag, _) in k.options.items()}


def add_model_options(parser):
    """--model and every model's own options (their help says which model they belong to; the
    other model's are refused by cli_checks.check_model_options, not ignored)."""
    parser.add_argument("--model", choices=sorted(KINDS), default="transformer",
                        help="transformer, or rnn-attention: a GRU encoder-decoder with Luong attention and "
                             "input feeding (docs/rnn_attention.md)")
    parser.add_argument("--d-model", type=positive_int, default=128, help="transformer: model width")
    parser.add_argument("--heads", type=positive_int, default=4, help="transformer: attention heads (must divide --d-model)")
    parser.add_argument("--d-ff", type=positive_int, default=512, help="transformer: feed-forward inner width")
    parser.add_argument("--layers", type=positive_int, default=2, help="transformer: encoder layers = decoder layers")
    parser.add_argument("--norm-first", action="store_true", help="transformer: pre-LN layers instead of the paper's post-LN")
    parser.add_argument("--embed-dim", type=positive_int, default=128, help="rnn-attention: word embedding size")
    parser.add_argument("--hidden", type=positive_int, default=256,
                        help="rnn-attention: GRU state size = attentional state size")
    parser.add_argument("--score", choices=["general", "dot", "concat"], default="general",
                        help="rnn-attention: Luong's score h_t W_a h_s (general), h_t h_s (dot) or "
                             "v_a tanh([h_t; h_s] W_a) (concat)")
    parser.add_argument("--attention-units", type=positive_int, default=None,
                        help="rnn-attention with --score concat: the attention size; default: --hidden")
