"""The recurrent models' parameter trees (issue 26): the tree is shaped like the model, the
gradient tree like the parameters, state_dict() keeps the dotted names and their order, and a
seed gives the very numbers it gave when the parameters were a flat dict (the reference below
is the flat initialisation of commit 3577ed5, kept verbatim)."""
import math

import numpy as np
import pytest

from numpy_transformer.config import RNNConfig, RNNTranslatorConfig, parameter_shapes, rnn_parameter_shapes
from numpy_transformer.config.tree import Tree, flatten, tree_map, unflatten
from numpy_transformer.models import RNNRegressor, RNNTranslator
from numpy_transformer.models.rnn import init_rnn_params, mse_loss
from numpy_transformer.models.rnn_translator import init_rnn_translator_params
from numpy_transformer.ops import Adam, masked_cross_entropy


# ---------------------------------------------------------------------------- the flat reference (3577ed5)
def flat_rnn_init(cfg, seed):
    rng = np.random.default_rng(seed)

    def glorot(shape, fan_in=None, fan_out=None):
        fan_in, fan_out = fan_in or shape[0], fan_out or shape[-1]
        lim = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-lim, lim, shape)

    H = cfg.hidden
    q, r = np.linalg.qr(rng.standard_normal((H, H)))
    p = {"rnn.W_x": glorot((cfg.input_dim, H)), "rnn.W_h": q * np.sign(np.diag(r)), "rnn.b": np.zeros(H)}
    if cfg.attention == "time":
        p["attention.W"] = 0.05 * rng.standard_normal((H, 1))
        p["attention.b"] = np.zeros((cfg.time_steps, 1))
    elif cfg.attention == "bahdanau":
        p["attention.W_a"] = glorot((H, cfg.d_a))
        p["attention.U_a"] = glorot((H, cfg.d_a))
        p["attention.v_a"] = glorot((cfg.d_a,), cfg.d_a, 1)
    p["dense.weight"] = glorot((H, cfg.output_dim))
    p["dense.bias"] = np.zeros(cfg.output_dim)
    return {k: v.astype(cfg.dtype) for k, v in p.items()}


def flat_translator_init(cfg, seed):
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in parameter_shapes(cfg).items():
        if name.endswith("embedding.weight"):
            w = rng.uniform(-0.05, 0.05, shape)
        elif name.endswith("recurrent_kernel"):
            q, r = np.linalg.qr(rng.standard_normal((shape[1], shape[0])))
            w = (q * np.sign(np.diag(r))).T
        elif name.endswith("bias"):
            w = np.zeros(shape)
        else:
            fan_in, fan_out = (shape[0], shape[1]) if len(shape) == 2 else (shape[0], 1)
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            w = rng.uniform(-limit, limit, shape)
        params[name] = w.astype(cfg.dtype)
    return params


def rnn_cfg(attention, dtype="float64"):
    return RNNConfig(input_dim=2, hidden=5, time_steps=7, attention=attention, d_a=4, output_dim=3, dtype=dtype)


def translator_cfg(score, dtype="float64"):
    return RNNTranslatorConfig(11, 13, embed_dim=6, hidden=5, score=score, dropout=0.0, max_len=8, dtype=dtype,
                               attention_units=4 if score == "concat" else None)


def assert_bit_identical(flat, ref):
    assert list(flat) == list(ref)                          # the names and their order
    for k in ref:
        assert flat[k].dtype == ref[k].dtype and flat[k].shape == ref[k].shape, k
        assert flat[k].tobytes() == ref[k].tobytes(), k


def structure(tree):
    return tree_map(lambda a: a.shape, tree)


# ---------------------------------------------------------------------------- initialisation
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("attention", ["none", "time", "bahdanau"])
def test_regressor_init_is_the_flat_init_bit_for_bit(attention, dtype):
    for seed in (0, 3):
        cfg = rnn_cfg(attention, dtype)
        assert_bit_identical(flatten(init_rnn_params(cfg, seed)), flat_rnn_init(cfg, seed))
        assert_bit_identical(RNNRegressor(cfg, seed).state_dict(), flat_rnn_init(cfg, seed))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("score", ["dot", "general", "concat"])
def test_translator_init_is_the_flat_init_bit_for_bit(score, dtype):
    for seed in (0, 7):
        cfg = translator_cfg(score, dtype)
        assert_bit_identical(flatten(init_rnn_translator_params(cfg, seed)), flat_translator_init(cfg, seed))
        assert_bit_identical(RNNTranslator(cfg, seed).state_dict(), flat_translator_init(cfg, seed))


# ---------------------------------------------------------------------------- the trees' shape
def test_regressor_tree_mirrors_the_model_and_its_gradients_too():
    model = RNNRegressor(rnn_cfg("bahdanau"), seed=1)
    p = model.params
    assert isinstance(p, Tree) and list(p) == ["rnn", "attention", "dense"]
    assert list(p.rnn) == ["W_x", "W_h", "b"] and list(p.attention) == ["W_a", "U_a", "v_a"]
    assert p.dense.weight is flatten(p)["dense.weight"]       # one set of arrays, two views
    assert "attention" not in RNNRegressor(rnn_cfg("none")).params
    assert structure(unflatten(model.state_dict())) == structure(p)
    assert list(model.state_dict()) == list(rnn_parameter_shapes(model.cfg))
    x = np.random.default_rng(0).standard_normal((4, 7, 2))
    _, dy = mse_loss(model.forward(x), np.zeros((4, 3)))
    g = model.backward(dy)
    assert isinstance(g, Tree) and structure(g) == structure(p)


@pytest.mark.parametrize("score", ["dot", "general", "concat"])
def test_translator_tree_mirrors_the_model_and_its_gradients_too(score):
    model = RNNTranslator(translator_cfg(score), seed=2)
    p = model.params
    assert list(p) == ["encoder", "decoder", "output"]
    assert list(p.encoder) == ["embedding", "gru"] and list(p.encoder.gru) == ["kernel", "recurrent_kernel", "bias"]
    want = ["embedding", "gru", "attentional"] if score == "dot" else ["embedding", "gru", "attention", "attentional"]
    assert list(p.decoder) == want
    assert p.decoder.gru.kernel.shape == (6 + 5, 15)          # rows [emb; h̃]
    assert p.decoder.attentional.W_c is flatten(p)["decoder.attentional.W_c"]
    assert structure(unflatten(model.state_dict())) == structure(p)
    assert list(model.state_dict()) == list(parameter_shapes(model.cfg))
    assert model.num_parameters() == sum(math.prod(s) for s in parameter_shapes(model.cfg).values())
    rng = np.random.default_rng(0)
    src, tgt = rng.integers(1, 11, (2, 5)), rng.integers(1, 13, (2, 4))
    _, dlogits = masked_cross_entropy(model.forward(src, tgt), np.roll(tgt, -1, 1), 0)
    g = model.backward(dlogits)
    assert isinstance(g.decoder.gru, Tree) and structure(g) == structure(p)


def test_state_dict_copies_and_a_failed_load_changes_nothing():
    model = RNNTranslator(translator_cfg("general"), seed=0)
    sd = model.state_dict()
    sd["output.bias"][0] = 42.0
    assert model.params.output.bias[0] != 42.0                # copies, not the tree's arrays
    before = model.state_dict()
    with pytest.raises(ValueError, match="missing keys"):
        model.load_state_dict({k: v for k, v in sd.items() if k != "decoder.attention.W_a"})
    assert_bit_identical(model.state_dict(), before)
    model.load_state_dict(sd)
    assert model.params.output.bias[0] == 42.0 and isinstance(model.params.decoder.attention, Tree)


def test_adam_on_the_flat_view_updates_the_tree_in_place():
    """What the training steps do (apps/rnn/train.py, apps/translation/train.py): Adam is given
    flatten(params) and flatten(grads); its state is keyed by the dotted names."""
    model = RNNRegressor(rnn_cfg("time"), seed=0)
    W_h = model.params.rnn.W_h
    before = W_h.copy()
    opt = Adam(1e-2)
    x = np.random.default_rng(1).standard_normal((3, 7, 2))
    _, dy = mse_loss(model.forward(x), np.ones((3, 3)))
    opt.step(flatten(model.params), flatten(model.backward(dy)))
    assert model.params.rnn.W_h is W_h and not np.array_equal(W_h, before)
    assert list(opt.m) == list(model.state_dict())
