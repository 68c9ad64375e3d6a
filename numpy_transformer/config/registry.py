"""The model registry: the one table of model kinds. One line per kind gives its config class,
its parameter shapes, its NumPy model and its Keras twin, how messages name it, the command that
trains it, one line describing a config, and the size of its training step's largest GEMM (the
BLAS thread policy's measure, training/threads.py). Every config writes its `kind` into its dict,
so loaders and checkpoints (training/checkpoint.py), the command line and the applications ask
the registry instead of guessing a model from its type or the keys it happens to have.

The model classes are named, not imported (`"module:Class"`, resolved on first use): config/
sits below the models and below keras_transformer, so it can import neither."""
from __future__ import annotations

import dataclasses
import importlib
from typing import Callable

from .bert import BertConfig, bert_parameter_shapes
from .models import TransformerConfig, ViTConfig
from .rnn import RNNConfig, rnn_parameter_shapes
from .rnn_translator import RNNTranslatorConfig, rnn_translator_parameter_shapes
from .shapes import transformer_parameter_shapes, vit_parameter_shapes


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelKind:
    kind: str                 # the config's `kind`, written into every config dict and checkpoint
    title: str                # how messages name it
    command: str              # the command that trains it (for messages)
    config_class: type
    shapes: Callable          # cfg -> {parameter name: shape}, in the state dict's order
    numpy_model: str          # "module:Class" of the NumPy model
    keras_model: str          # "module:Class" of the Keras twin
    fast_kernels: bool        # the NumPy model takes kernels="fast" (models/kernels.py)
    describe: Callable        # cfg -> "d_model=128, heads=4, …": start-up lines and plot titles
    largest_gemm: Callable    # (cfg, batch_size) -> multiply-adds of a training step's largest GEMM

    def numpy_class(self):
        return _resolve(self.numpy_model)

    def keras_class(self):
        """The Keras twin's class (imports Keras: only for --backend keras and the tests)."""
        return _resolve(self.keras_model)

    def build(self, cfg, seed=0, fast=False):
        """The NumPy model of `cfg`, initialised from `seed`; `fast`: on the fast kernels where
        the model has them (the applications train on them; the plain ones are the default)."""
        kernels = {"kernels": "fast"} if fast and self.fast_kernels else {}
        return self.numpy_class()(cfg, seed=seed, **kernels)


def _resolve(name):
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


def _ln(c):
    return f"{'pre' if c.norm_first else 'post'}-LN"


# the largest GEMMs: rows (the batch's positions) through the widest weight matrix of a step
KINDS = {k.kind: k for k in (
    ModelKind(kind="transformer", title="translation Transformer", command="train",
              config_class=TransformerConfig, shapes=transformer_parameter_shapes,
              numpy_model="numpy_transformer.models.transformer:Transformer",
              keras_model="keras_transformer.model:TransformerModel", fast_kernels=True,
              describe=lambda c: (f"d_model={c.d_model}, heads={c.num_heads}, d_ff={c.d_ff}, "
                                  f"{c.num_layers}+{c.num_layers} layers, {_ln(c)}"),
              # the feed-forward (d_model × d_ff), the output layer (× target vocabulary) or Q/K/V
              largest_gemm=lambda c, b: b * c.max_len * c.d_model * max(c.d_ff, c.tgt_vocab_size, 3 * c.d_model)),
    ModelKind(kind="rnn-attention", title="attentional RNN translator", command="train --model rnn-attention",
              config_class=RNNTranslatorConfig, shapes=rnn_translator_parameter_shapes,
              numpy_model="numpy_transformer.models.rnn_translator:RNNTranslator",
              keras_model="keras_transformer.rnn_translator:RNNTranslatorModel", fast_kernels=False,
              describe=lambda c: (f"GRU encoder-decoder, embed {c.embed_dim}, hidden {c.hidden}, Luong {c.score} "
                                  f"attention" + (f" ({c.d_a} units)" if c.score == "concat" else "")
                                  + ", input feeding"),
              # the output layer over every position, or the decoder GRU's per-step input projection
              largest_gemm=lambda c, b: b * c.max_len * c.hidden * max(c.tgt_vocab_size, 3 * c.hidden)),
    ModelKind(kind="vit", title="Vision Transformer", command="vit", config_class=ViTConfig,
              shapes=vit_parameter_shapes, numpy_model="numpy_transformer.models.vit:VisionTransformer",
              keras_model="keras_transformer.vit:VisionTransformerModel", fast_kernels=True,
              describe=lambda c: (f"{c.num_patches} patches of {c.patch_size}x{c.patch_size}, d_model={c.d_model}, "
                                  f"heads={c.num_heads}, d_ff={c.d_ff}, {c.num_layers} layers, {_ln(c)}, "
                                  f"{c.activation}"),
              # the patches and the class token through the MLP, the Q/K/V projection or the head
              largest_gemm=lambda c, b: b * (c.num_patches + 1) * c.d_model * max(c.d_ff, 3 * c.d_model,
                                                                                 c.num_classes)),
    ModelKind(kind="bert", title="BERT encoder", command="bert pretrain", config_class=BertConfig,
              shapes=bert_parameter_shapes, numpy_model="numpy_transformer.models.bert:BertEncoder",
              keras_model="keras_transformer.bert:BertModel", fast_kernels=True,
              describe=lambda c: (f"vocab {c.vocab_size}, d_model={c.d_model}, heads={c.num_heads}, d_ff={c.d_ff}, "
                                  f"{c.num_layers} layers, {_ln(c)}"),
              # the FFN of ~8-token sequences (the sentence pairs' typical length, not max_len)
              largest_gemm=lambda c, b: b * 8 * c.d_model * c.d_ff),
    ModelKind(kind="rnn", title="SimpleRNN regressor", command="sunspots", config_class=RNNConfig,
              shapes=rnn_parameter_shapes, numpy_model="numpy_transformer.models.rnn:RNNRegressor",
              keras_model="keras_transformer.rnn:RNNRegressor", fast_kernels=False,
              describe=lambda c: f"SimpleRNN, {c.hidden} units, {c.time_steps} steps",
              # a step's recurrent GEMM: the batch through [x_t; h] (hidden + 1) × hidden
              largest_gemm=lambda c, b: b * (c.hidden + 1) * c.hidden),
)}


def kind_of(cfg) -> ModelKind:
    """The registry entry of a config object."""
    kind = KINDS.get(getattr(type(cfg), "kind", None))
    if kind is None or not isinstance(cfg, kind.config_class):
        raise TypeError(f"not a model config: {type(cfg).__name__}")
    return kind


def _legacy_kind(d: dict) -> str:
    """The kind of a config dict written before configs carried one (checkpoints of earlier
    versions): the one place that reads it from the fields a kind alone has."""
    for field, kind in (("score", "rnn-attention"), ("type_vocab_size", "bert"), ("image_size", "vit"),
                        ("src_vocab_size", "transformer")):
        if field in d:
            return kind
    raise ValueError(f"a config without a 'kind' and without the fields of any model: {sorted(d)}")


def kind_of_dict(d: dict) -> ModelKind:
    """The registry entry of a config dict: the kind it names."""
    if not isinstance(d, dict):
        raise TypeError(f"a config dict is expected, got {type(d).__name__}")
    kind = d["kind"] if "kind" in d else _legacy_kind(d)
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    return KINDS[kind]


def config_from_dict(d: dict):
    """The config a dict from `cfg.to_dict()` describes, of the kind it names."""
    return kind_of_dict(d).config_class.from_dict(d)


def parameter_shapes(cfg) -> dict:
    """Every parameter's name and shape, in a fixed order, for any registered config."""
    return kind_of(cfg).shapes(cfg)


def check_state_dict(state: dict, cfg) -> None:
    """Strict check of a state dict against `cfg`: raises ValueError naming every missing,
    unexpected or mis-shaped key, and any tensor holding NaN/inf."""
    import numpy as np  # local: config stays importable as pure metadata

    expected = parameter_shapes(cfg)
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    problems = []
    if missing:
        problems.append(f"missing keys: {missing}")
    if extra:
        problems.append(f"unexpected keys: {extra}")
    for k, shape in expected.items():
        if k in state and tuple(np.shape(state[k])) != shape:
            problems.append(f"{k}: expected shape {shape}, got {tuple(np.shape(state[k]))}")
    if problems:
        raise ValueError("state dict does not match the config: " + "; ".join(problems))
    for k in expected:
        a = np.asarray(state[k])
        if not np.issubdtype(a.dtype, np.floating):
            raise TypeError(f"{k}: expected a floating-point array, got dtype {a.dtype}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{k}: contains NaN or inf")
