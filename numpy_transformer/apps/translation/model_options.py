"""The options of the translation models that `train --model` chooses between: for each kind of
the model registry (config/registry.py: its config class, NumPy model, Keras twin, description and
largest GEMM) that `train` trains, the command-line options that belong to it alone and the config
field each one sets."""
from __future__ import annotations

from typing import NamedTuple

from ...cli.options import UsageError, positive_int
from ...config import KINDS


class Option(NamedTuple):
    """One of a model's own command-line options: its flag, the config field it sets, and the
    rest of argparse's add_argument (type, default, help, …)."""
    flag: str
    field: str
    argparse: dict


OPTIONS = {   # registry kind (the --model value) -> {argparse dest: Option}
    "transformer": {
        "d_model": Option("--d-model", "d_model", dict(type=positive_int, default=128, help="model width")),
        "heads": Option("--heads", "num_heads", dict(type=positive_int, default=4,
                                                      help="attention heads (must divide --d-model)")),
        "d_ff": Option("--d-ff", "d_ff", dict(type=positive_int, default=512, help="feed-forward inner width")),
        "layers": Option("--layers", "num_layers", dict(type=positive_int, default=2,
                                                        help="encoder layers = decoder layers")),
        "norm_first": Option("--norm-first", "norm_first", dict(action="store_true",
                                                                help="pre-LN layers instead of the paper's post-LN"))},
    "rnn-attention": {
        "embed_dim": Option("--embed-dim", "embed_dim", dict(type=positive_int, default=128,
                                                             help="word embedding size")),
        "hidden": Option("--hidden", "hidden", dict(type=positive_int, default=256,
                                                    help="GRU state size = attentional state size")),
        "score": Option("--score", "score", dict(choices=["general", "dot", "concat"], default="general",
                                                 help="Luong's score h_t W_a h_s (general), h_t h_s (dot) or "
                                                      "v_a tanh([h_t; h_s] W_a) (concat)")),
        "attention_units": Option("--attention-units", "attention_units", dict(
            type=positive_int, default=None, help="with --score concat: the attention size; default: --hidden"))},
}
MODELS = tuple(OPTIONS)     # the kinds `train` trains, `translate` and `evaluate` load


def model_config(a, src_vocab, tgt_vocab):
    """The config of the --model the options describe: the options every translation model has,
    and this model's own. Where they describe no valid model (heads that do not divide d_model,
    …) the config's reason is a UsageError: this is where the user's options become a model."""
    try:
        return KINDS[a.model].config_class(src_vocab_size=src_vocab, tgt_vocab_size=tgt_vocab, dropout=a.dropout,
                                           max_len=a.max_len, dtype=a.dtype,
                                           **{o.field: getattr(a, dest) for dest, o in OPTIONS[a.model].items()})
    except ValueError as e:
        raise UsageError(str(e)) from None


def other_options(kind):
    """{dest: (flag, the model it belongs to)} of the options of every other model than `kind`."""
    return {dest: (o.flag, k) for k, options in OPTIONS.items() if k != kind for dest, o in options.items()}


def add_model_options(parser):
    """--model and every model's own options (their help says which model they belong to; the
    other model's are refused by checks.check_model_options, not ignored)."""
    parser.add_argument("--model", choices=sorted(MODELS), default="transformer",
                        help="transformer, or rnn-attention: a GRU encoder-decoder with Luong attention and "
                             "input feeding (docs/rnn_attention.md)")
    for kind, options in OPTIONS.items():
        for dest, o in options.items():
            parser.add_argument(o.flag, dest=dest, **{**o.argparse, "help": f"{kind}: {o.argparse['help']}"})
