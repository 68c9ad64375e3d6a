"""The model registry: one line per kind maps it to its config class, its parameter shapes and
its model classes (NumPy and Keras). Every config writes its `kind` into its dict, so loaders and
checkpoints ask the registry instead of guessing a model from the keys it happens to have.

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


@dataclasses.dataclass(frozen=True)
class ModelKind:
    kind: str                 # the config's `kind`, written into every config dict and checkpoint
    title: str                # how messages name it
    command: str              # the command that trains it (for messages)
    config_class: type
    shapes: Callable          # cfg -> {parameter name: shape}, in the state dict's order
    numpy_model: str          # "module:Class" of the NumPy model
    keras_model: str          # "module:Class" of the Keras twin

    def numpy_class(self):
        return _resolve(self.numpy_model)

    def keras_class(self):
        """The Keras twin's class (imports Keras: only for --backend keras and the tests)."""
        return _resolve(self.keras_model)


def _resolve(name):
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


KINDS = {k.kind: k for k in (
    ModelKind("transformer", "translation Transformer", "train", TransformerConfig, transformer_parameter_shapes,
              "numpy_transformer.models.transformer:Transformer", "keras_transformer.model:TransformerModel"),
    ModelKind("rnn-attention", "attentional RNN translator", "train --model rnn-attention",
              RNNTranslatorConfig, rnn_translator_parameter_shapes,
              "numpy_transformer.models.rnn_translator:RNNTranslator",
              "keras_transformer.rnn_translator:RNNTranslatorModel"),
    ModelKind("vit", "Vision Transformer", "vit", ViTConfig, vit_parameter_shapes,
              "numpy_transformer.models.vit:VisionTransformer", "keras_transformer.vit:VisionTransformerModel"),
    ModelKind("bert", "BERT encoder", "bert pretrain", BertConfig, bert_parameter_shapes,
              "numpy_transformer.models.bert:BertEncoder", "keras_transformer.bert:BertModel"),
    ModelKind("rnn", "SimpleRNN regressor", "sunspots", RNNConfig, rnn_parameter_shapes,
              "numpy_transformer.models.rnn:RNNRegressor", "keras_transformer.rnn:RNNRegressor"),
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
