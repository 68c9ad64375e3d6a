"""The model registry (numpy_transformer/config/registry.py): every config names its kind, the
registry maps kind → config → parameter shapes → NumPy and Keras model, and loaders ask it
instead of guessing from keys; checkpoints written before configs carried a kind still load."""
import json

import numpy as np
import pytest
from requires import require

from numpy_transformer.config import (KINDS, BertConfig, RNNConfig, RNNTranslatorConfig, TransformerConfig, ViTConfig,
                                      config_from_dict, kind_of, parameter_shapes)

CONFIGS = {
    "transformer": TransformerConfig(src_vocab_size=11, tgt_vocab_size=13, d_model=8, num_heads=2, d_ff=16,
                                     num_layers=1, max_len=6),
    "rnn-attention": RNNTranslatorConfig(src_vocab_size=11, tgt_vocab_size=13, embed_dim=4, hidden=6, max_len=6),
    "vit": ViTConfig(image_size=4, channels=1, patch_size=2, num_classes=3, d_model=8, num_heads=2, d_ff=16,
                     num_layers=1),
    "bert": BertConfig(vocab_size=20, d_model=8, num_heads=2, d_ff=16, num_layers=1, max_len=6),
    "rnn": RNNConfig(hidden=3, time_steps=4, attention="bahdanau"),
}


def test_the_registry_covers_every_config():
    assert set(CONFIGS) == set(KINDS)
    for name, cfg in CONFIGS.items():
        assert kind_of(cfg).kind == name == type(cfg).kind
        assert kind_of(cfg).config_class is type(cfg)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_config_dict_names_its_kind_and_round_trips(name):
    cfg = CONFIGS[name]
    d = cfg.to_dict()
    assert d["kind"] == name
    assert config_from_dict(json.loads(json.dumps(d))) == cfg
    assert type(cfg).from_dict(d) == cfg


@pytest.mark.parametrize("name", ["transformer", "rnn-attention", "vit", "bert"])
def test_a_dict_written_before_kinds_existed_still_loads(name):
    cfg = CONFIGS[name]
    old = {k: v for k, v in cfg.to_dict().items() if k != "kind"}
    assert config_from_dict(old) == cfg


def test_a_dict_of_another_kind_is_refused_by_name():
    d = CONFIGS["vit"].to_dict()
    with pytest.raises(ValueError, match="holds a 'vit' config, not a 'transformer' one"):
        TransformerConfig.from_dict(d)
    with pytest.raises(ValueError, match="unknown model kind 'gpt'"):
        config_from_dict({**d, "kind": "gpt"})


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_each_entry_builds_its_numpy_model_with_the_registered_shapes(name):
    cfg, entry = CONFIGS[name], KINDS[name]
    model = entry.numpy_class()(cfg, seed=0) if name != "rnn" else entry.numpy_class()(cfg)
    shapes = {k: tuple(np.shape(v)) for k, v in model.state_dict().items()}
    assert shapes == parameter_shapes(cfg)
    assert list(shapes) == list(parameter_shapes(cfg))       # the state dict's order


def test_each_entry_names_a_keras_twin_that_exists():
    require("keras")
    for name, entry in KINDS.items():
        cls = entry.keras_class()
        assert isinstance(cls, type), name
        assert cls.__module__.startswith("keras_transformer"), name


def _write(tmp_path, cfg_dict, cfg):
    from safetensors.numpy import save_file
    weights = KINDS[cfg.kind].numpy_class()(cfg, seed=0).state_dict()
    path = tmp_path / "checkpoint.safetensors"
    save_file({f"param.{k}": np.ascontiguousarray(v) for k, v in weights.items()}, str(path),
              metadata={"format": "numpy-transformer-checkpoint", "version": "1", "config": json.dumps(cfg_dict),
                        "meta": "{}"})
    return path


def test_checkpoints_name_the_model_they_hold(tmp_path):
    require("safetensors")
    from numpy_transformer.training.checkpoint import WrongModelError, load_checkpoint
    cfg = CONFIGS["vit"]
    path = _write(tmp_path, cfg.to_dict(), cfg)
    assert load_checkpoint(path, kinds=("vit",))["cfg"] == cfg
    with pytest.raises(WrongModelError, match=r"holds a Vision Transformer checkpoint \(`vit`\), not a translation "
                                              r"Transformer \(`train`\) or attentional RNN translator"):
        load_checkpoint(path, kinds=("transformer", "rnn-attention"))


def test_a_checkpoint_without_a_kind_still_loads(tmp_path):
    require("safetensors")
    from numpy_transformer.training.checkpoint import load_checkpoint
    cfg = CONFIGS["rnn-attention"]
    path = _write(tmp_path, {k: v for k, v in cfg.to_dict().items() if k != "kind"}, cfg)
    assert load_checkpoint(path, kinds=("transformer", "rnn-attention"))["cfg"] == cfg


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_each_entry_describes_its_config_and_sizes_its_largest_gemm(name):
    """The columns the applications read (training/run.py's start-up line and thread policy)."""
    cfg, entry = CONFIGS[name], KINDS[name]
    text = entry.describe(cfg)
    assert isinstance(text, str) and text and "\n" not in text
    assert entry.largest_gemm(cfg, 4) == 2 * entry.largest_gemm(cfg, 2) > 0        # linear in the batch


def test_the_largest_gemm_is_the_widest_matmul_of_a_step():
    """The Transformer's: batch x max_len rows through its widest weight (here the output layer,
    d_model x target vocabulary, as no feed-forward is wider)."""
    cfg = TransformerConfig(src_vocab_size=11, tgt_vocab_size=300, d_model=8, num_heads=2, d_ff=16, num_layers=1,
                            max_len=6)
    assert KINDS["transformer"].largest_gemm(cfg, 5) == 5 * 6 * 8 * 300
    assert KINDS["vit"].largest_gemm(CONFIGS["vit"], 5) == 5 * (4 + 1) * 8 * 24      # Q/K/V: 3 x d_model


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_build_gives_the_registered_model_fast_where_it_has_fast_kernels(name):
    from numpy_transformer.models.kernels import get_kernels
    cfg, entry = CONFIGS[name], KINDS[name]
    plain, fast = entry.build(cfg, seed=3), entry.build(cfg, seed=3, fast=True)
    assert type(plain) is type(fast) is entry.numpy_class()
    if entry.fast_kernels:
        assert plain.kernels is get_kernels("plain") and fast.kernels is get_kernels("fast")
    for k, v in plain.state_dict().items():           # one initialisation whatever the kernels
        np.testing.assert_array_equal(v, fast.state_dict()[k], err_msg=k)


def test_the_translation_models_are_registry_kinds_and_keras_picks_its_model_there():
    from numpy_transformer.apps.translation.model_options import MODELS, OPTIONS
    assert set(MODELS) <= set(KINDS) and all(KINDS[k].command.startswith("train") for k in MODELS)
    for kind, options in OPTIONS.items():         # each option sets a field of that kind's config
        fields = set(KINDS[kind].config_class.__dataclass_fields__)
        assert {o.field for o in options.values()} <= fields, kind
    require("keras")
    from numpy_transformer.apps.translation.train import TrainArgs, make_backend
    for name in ("transformer", "rnn-attention"):
        backend = make_backend("keras", CONFIGS[name], TrainArgs(seed=1))
        assert type(backend.model) is KINDS[name].keras_class()
        ref = KINDS[name].build(CONFIGS[name], seed=1).state_dict()     # the NumPy start, copied
        for k, v in backend.get_weights().items():
            np.testing.assert_array_equal(v, ref[k], err_msg=k)
