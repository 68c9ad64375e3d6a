"""Luong attention, NumPy (ops/luong.py) vs Keras (keras_transformer/luong.py, keras.ops only)
with identical weights: global attention for every score, local attention with both alignments
(p_t's gradient included for the monotonic one), the attentional hidden state; with and without
masks, a loss on the context and on the weights. Outputs and every gradient (Keras by its
backend's autodiff with the same upstream gradient the NumPy backward gets; every installed
backend, see test_keras_backends.py — float64 cases skip where Keras cannot compute float64).

Tolerances (parity_report.py, the project's): forward float64 max |diff| ≤ 1e-10, float32 max
|diff| / max |ref| ≤ 1e-5; gradients ‖a − b‖ / max(‖a‖, ‖b‖) float64 ≤ 1e-9, float32 ≤ 1e-4.
"""
import numpy as np
import pytest

from requires import require

keras = require("keras")

import numpy_transformer as nt  # noqa: E402
from parity_report import check_forward, check_grad, parity_report  # noqa: E402,F401
from keras_grads import backend_dtype_guard, vjp  # noqa: E402,F401

from keras_transformer.luong import AttentionalHidden, LuongAttention, LuongLocalAttention  # noqa: E402

pytestmark = pytest.mark.usefixtures("parity_report")
DTYPES = ["float64", "float32"]
SCORES = ["dot", "general", "concat"]
B, T, D_MODEL, D_A, D_P = 3, 9, 4, 5, 3


def mask_for(rng):
    """Right padding on row 0, a hole on row 1, left padding on row 2 (every window keeps a position)."""
    m = np.ones((B, T), bool)
    m[0, 6:] = False
    m[1, 4] = False
    m[2, :1] = False
    return m


def load(layer, rng, dtype):
    """Random weights into the layer's variables; returns them as NumPy {name: array}."""
    weights = {}
    for k, v in layer.variable_map().items():
        weights[k] = (rng.standard_normal(tuple(v.shape)) / 2).astype(dtype)
        v.assign(weights[k])
    return weights


def inputs(rng, dtype):
    return (rng.standard_normal((B, D_MODEL)).astype(dtype), rng.standard_normal((B, T, D_MODEL)).astype(dtype),
            rng.standard_normal((B, D_MODEL)).astype(dtype), rng.standard_normal((B, T)).astype(dtype))


def compare(name, label, dtype, outs, kouts, g, gin, gvars, in_names):
    check_forward(f"{name} context", kouts[0], outs[0], dtype, label)
    check_forward(f"{name} weights", kouts[1], outs[1], dtype, label)
    for n, k in zip(in_names, gin):
        check_grad(f"{name} d{n}", k, g[n], dtype, label, group=f"{name} d(inputs)")
    for n, k in gvars.items():
        check_grad(f"{name} d{n}", k, g[n], dtype, label, group=f"{name} d(params)")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("use_mask", [False, pytest.param(True, marks=pytest.mark.per_backend)])
def test_luong_global_vs_keras(dtype, score, use_mask):
    rng = np.random.default_rng(21)
    h_t, h_s, dc, dw = inputs(rng, dtype)
    mask = mask_for(rng) if use_mask else None
    layer = LuongAttention(score, units=D_A if score == "concat" else None, dtype=dtype)
    layer.build((B, D_MODEL), (B, T, D_MODEL))
    weights = load(layer, rng, dtype)
    c, w, cache = nt.luong_attention_forward(h_t, h_s, score, weights, mask)
    g = nt.luong_attention_backward(dc, cache, dw)
    kouts, gin, gvars = vjp(lambda a, b: layer(a, b, attention_mask=mask), [h_t, h_s], layer.variable_map(), [dc, dw])
    compare(f"Luong {score}", f"B{B}T{T}d{D_MODEL}{' mask' if use_mask else ''}", dtype, (c, w), kouts, g, gin,
            gvars, ("h_t", "h_s"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("alignment,use_mask", [
    ("monotonic", False), pytest.param("monotonic", True, marks=pytest.mark.per_backend),
    ("predictive", False), pytest.param("predictive", True, marks=pytest.mark.per_backend)])
def test_luong_local_vs_keras(dtype, score, alignment, use_mask):
    rng = np.random.default_rng(22)
    h_t, h_s, dc, dw = inputs(rng, dtype)
    mask = mask_for(rng) if use_mask else None
    Dw = 2
    layer = LuongLocalAttention(score, Dw, alignment, units=D_A if score == "concat" else None, predict_units=D_P,
                                dtype=dtype)
    layer.build((B, D_MODEL), (B, T, D_MODEL))
    weights = load(layer, rng, dtype)
    label = f"{alignment} D{Dw} B{B}T{T}d{D_MODEL}{' mask' if use_mask else ''}"
    if alignment == "monotonic":
        p_t = np.array([0.3, 4.6, 8.2], dtype)        # the window cut on the left, whole, cut on the right
        c, a, cache = nt.luong_local_attention_forward(h_t, h_s, score, weights, Dw, alignment, p_t, mask)
        g = nt.luong_local_attention_backward(dc, cache, dw)
        kouts, gin, gvars = vjp(lambda x, y, p: layer(x, y, p_t=p, attention_mask=mask), [h_t, h_s, p_t],
                                layer.variable_map(), [dc, dw])
        names = ("h_t", "h_s", "p_t")
    else:
        c, a, cache = nt.luong_local_attention_forward(h_t, h_s, score, weights, Dw, alignment, None, mask)
        # the window is a step function of p_t: both backends must see the same window, so the
        # predicted centres must not sit within rounding of an edge (|s − p_t| = D)
        edges = np.concatenate([np.arange(T) - Dw, np.arange(T) + Dw])
        assert np.min(np.abs(cache.p_t[:, None] - edges[None, :])) > 1e-3, cache.p_t
        g = nt.luong_local_attention_backward(dc, cache, dw)
        kouts, gin, gvars = vjp(lambda x, y: layer(x, y, attention_mask=mask), [h_t, h_s], layer.variable_map(),
                                [dc, dw])
        names = ("h_t", "h_s")
    assert set(gvars) | set(names) == set(g)
    compare(f"Luong local {score}", label, dtype, (c, a), kouts, g, gin, gvars, names)


@pytest.mark.per_backend
@pytest.mark.parametrize("dtype", DTYPES)
def test_attentional_hidden_vs_keras(dtype):
    rng = np.random.default_rng(23)
    c_t, h_t, dout = (rng.standard_normal((B, 5)).astype(dtype), rng.standard_normal((B, 4)).astype(dtype),
                      rng.standard_normal((B, 6)).astype(dtype))
    layer = AttentionalHidden(6, dtype=dtype)
    layer.build((B, 5), (B, 4))
    W_c = (rng.standard_normal((9, 6)) / 2).astype(dtype)
    layer.W_c.assign(W_c)
    out, cache = nt.attentional_hidden_forward(c_t, h_t, W_c)
    g = nt.attentional_hidden_backward(dout, cache)
    (ko,), (gc, gh), gvars = vjp(lambda a, b: (layer(a, b),), [c_t, h_t], {"W_c": layer.W_c}, [dout])
    check_forward("attentional hidden h̃_t", ko, out, dtype, "B3 dc5 dt4 out6")
    check_grad("attentional hidden dc_t", gc, g["c_t"], dtype, "B3 dc5 dt4 out6", group="attentional hidden d(all)")
    check_grad("attentional hidden dh_t", gh, g["h_t"], dtype, "B3 dc5 dt4 out6", group="attentional hidden d(all)")
    check_grad("attentional hidden dW_c", gvars["W_c"], g["W_c"], dtype, "B3 dc5 dt4 out6",
               group="attentional hidden d(all)")


def test_keras_layers_reject_bad_configuration():
    with pytest.raises(ValueError, match="unknown score 'additive'"):
        LuongAttention("additive")
    with pytest.raises(ValueError, match="concat score needs units"):
        LuongAttention("concat")
    with pytest.raises(ValueError, match="predictive alignment needs predict_units"):
        LuongLocalAttention("dot", 2, "predictive")
    with pytest.raises(ValueError, match="dot score needs d_t = d_s"):
        LuongAttention("dot").build((2, 3), (2, 5, 4))


def test_keras_layers_build_on_first_call_scalar_p_t_and_config_round_trip():
    """Built by their first call (no explicit build), a scalar p_t (the target step t) used for
    every row as in NumPy, and get_config / from_config giving the same layer."""
    dtype = "float32"
    rng = np.random.default_rng(24)
    h_t, h_s, _, _ = inputs(rng, dtype)
    layer = LuongLocalAttention("concat", 2, "predictive", units=D_A, predict_units=D_P, dtype=dtype)
    layer(h_t, h_s)
    assert [v.name for v in layer.weights] == ["W_a", "v_a", "W_p", "v_p"]
    twin = LuongLocalAttention.from_config(layer.get_config())
    twin(h_t, h_s)
    for v, w in zip(twin.weights, layer.weights):
        v.assign(w.numpy())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(twin(h_t, h_s)[1]),
                                  keras.ops.convert_to_numpy(layer(h_t, h_s)[1]))
    mono = LuongLocalAttention("dot", 2, "monotonic", dtype=dtype)
    c, a = mono(h_t, h_s, p_t=5)
    c_np, a_np, _ = nt.luong_local_attention_forward(h_t, h_s, "dot", {}, 2, "monotonic", 5)
    check_forward("Luong local dot context", c, c_np, dtype, "scalar p_t = 5")
    check_forward("Luong local dot weights", a, a_np, dtype, "scalar p_t = 5")
    assert np.all(keras.ops.convert_to_numpy(a)[:, [0, 1, 2, 8]] == 0)        # outside |s − 5| ≤ 2
