"""The translation models that `train --model` chooses between, one registry entry each, so the
training loop, checkpoints, translate and evaluate ask the entry instead of testing the model's
type everywhere: its config from the command line, its NumPy model, the options that belong to it
alone, how its run is described, and where its attention maps are."""
from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

from ...config import RNNTranslatorConfig, TransformerConfig
from ...cli.options import positive_int
from ...training.threads import largest_gemm


class Option(NamedTuple):
    """One of a model's own command-line options: its flag, the config field it sets, and the
    rest of argparse's add_argument (type, default, help, …)."""
    flag: str
    field: str
    argparse: dict


@dataclasses.dataclass(frozen=True)
class ModelKind:
    name: str                           # the --model value
    config_class: type
    options: dict                       # {argparse dest: Option}: this model's own options
    numpy_model: Callable               # (cfg, seed) -> the NumPy model
    describe: Callable                  # cfg -> "d_model=128, …" for the start-up line and plot titles
    largest_gemm: Callable              # (cfg, batch_size) -> multiply-adds (training/threads.py's thread policy)
    attention_layers: Callable          # cfg -> how many decoder layers have cross-attention maps
    attention_key: Callable             # layer -> the key in model.attention_weights()
    attention_title: Callable           # cfg -> what an attention map shows (None: the Transformer's layer/heads)

    def config(self, a, src_vocab, tgt_vocab):
        """The config the parsed options describe: the options every translation model has, and
        this model's own."""
        return self.config_class(src_vocab_size=src_vocab, tgt_vocab_size=tgt_vocab, dropout=a.dropout,
                                 max_len=a.max_len, dtype=a.dtype,
                                 **{o.field: getattr(a, dest) for dest, o in self.options.items()})


def _transformer(cfg, seed):
    from ...models import Transformer
    return Transformer(cfg, seed=seed, kernels="fast")


def _rnn(cfg, seed):
    from ...models import RNNTranslator
    return RNNTranslator(cfg, seed=seed)


TRANSFORMER = ModelKind(
    "transformer", TransformerConfig,
    {"d_model": Option("--d-model", "d_model", dict(type=positive_int, default=128, help="model width")),
     "heads": Option("--heads", "num_heads", dict(type=positive_int, default=4,
                                                   help="attention heads (must divide --d-model)")),
     "d_ff": Option("--d-ff", "d_ff", dict(type=positive_int, default=512, help="feed-forward inner width")),
     "layers": Option("--layers", "num_layers", dict(type=positive_int, default=2,
                                                     help="encoder layers = decoder layers")),
     "norm_first": Option("--norm-first", "norm_first", dict(action="store_true",
                                                             help="pre-LN layers instead of the paper's post-LN"))},
    _transformer,
    lambda c: (f"d_model={c.d_model}, heads={c.num_heads}, d_ff={c.d_ff}, {c.num_layers}+{c.num_layers} layers, "
               f"{'pre' if c.norm_first else 'post'}-LN"),
    lambda c, b: largest_gemm(c, b),
    lambda c: c.num_layers, lambda layer: f"decoder.layers.{layer}.cross_attn", lambda c: None)

RNN_ATTENTION = ModelKind(
    "rnn-attention", RNNTranslatorConfig,
    {"embed_dim": Option("--embed-dim", "embed_dim", dict(type=positive_int, default=128, help="word embedding size")),
     "hidden": Option("--hidden", "hidden", dict(type=positive_int, default=256,
                                                 help="GRU state size = attentional state size")),
     "score": Option("--score", "score", dict(choices=["general", "dot", "concat"], default="general",
                                              help="Luong's score h_t W_a h_s (general), h_t h_s (dot) or "
                                                   "v_a tanh([h_t; h_s] W_a) (concat)")),
     "attention_units": Option("--attention-units", "attention_units", dict(
         type=positive_int, default=None, help="with --score concat: the attention size; default: --hidden"))},
    _rnn,
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
    return {dest: (flag, k.name) for k in KINDS.values() if k is not kind for dest, (flag, _, _) in k.options.items()}


def add_model_options(parser):
    """--model and every model's own options (their help says which model they belong to; the
    other model's are refused by checks.check_model_options, not ignored)."""
    parser.add_argument("--model", choices=sorted(KINDS), default="transformer",
                        help="transformer, or rnn-attention: a GRU encoder-decoder with Luong attention and "
                             "input feeding (docs/rnn_attention.md)")
    for kind in KINDS.values():
        for dest, o in kind.options.items():
            parser.add_argument(o.flag, dest=dest, **{**o.argparse, "help": f"{kind.name}: {o.argparse['help']}"})
