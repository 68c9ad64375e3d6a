"""The road to attention, NumPy vs Keras with identical weights: the simple RNN op against
stock keras.layers.SimpleRNN (several lengths, with and without a mask and an initial state),
the book's time attention and Bahdanau attention against their keras.ops layers
(keras_transformer/rnn.py), and the whole RNNRegressor of each kind. Outputs and every
gradient (Keras by its backend's autodiff with the same upstream gradient the NumPy backward
gets; every installed backend, see test_keras_backends.py).

Tolerances (parity_report.py, the project's): forward float64 max |diff| ≤ 1e-10, float32 max
|diff| / max |ref| ≤ 1e-5; gradients ‖a − b‖ / max(‖a‖, ‖b‖) float64 ≤ 1e-9, float32 ≤ 1e-4.
"""
import numpy as np
import pytest

from requires import require

keras = require("keras")

import numpy_transformer as nt  # noqa: E402
from numpy_transformer.config import RNNConfig  # noqa: E402
from numpy_transformer.config.tree import flatten  # noqa: E402
from numpy_transformer.models import RNNRegressor, mse_loss  # noqa: E402
from parity_report import check_forward, check_grad, parity_report  # noqa: E402,F401
from keras_grads import backend_dtype_guard, vjp  # noqa: E402,F401
from keras_transformer.backend import float64_supported  # noqa: E402

from keras_transformer.rnn import BahdanauAttention, RNNRegressor as KerasRNNRegressor, TimeAttention  # noqa: E402

pytestmark = pytest.mark.usefixtures("parity_report")
DTYPES = ["float64", "float32"]


def tape_grads(fn, inputs, variables, dys):
    """fn(*inputs) -> tuple of outputs; returns the outputs and d(Σ_i <y_i, dy_i>)/d(inputs),
    d/d(variables) as NumPy arrays (the Keras backend's own autodiff: keras_grads.vjp)."""
    return vjp(fn, inputs, variables, list(dys))


def mask_for(B, T, rng):
    """Right padding on row 0, a hole in the middle of row 1, left padding on row 2."""
    m = np.ones((B, T), bool)
    if T > 1:
        m[0, T // 2 + 1:] = False
        m[1, T // 2] = False
        m[2, :1] = False
    return m


# ---------------------------------------------------------------------------- SimpleRNN
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T", [1, pytest.param(7, marks=pytest.mark.per_backend), 25])
@pytest.mark.parametrize("use_mask,use_h0", [(False, False), (True, False), (False, True), (True, True)])
def test_simple_rnn_vs_keras_simple_rnn(dtype, T, use_mask, use_h0):
    B, D, H = 3, 4, 5
    rng = np.random.default_rng(T)
    x = rng.standard_normal((B, T, D)).astype(dtype)
    h0 = rng.standard_normal((B, H)).astype(dtype) if use_h0 else None
    W_x = (rng.standard_normal((D, H)) / np.sqrt(D)).astype(dtype)
    W_h = (rng.standard_normal((H, H)) / np.sqrt(H)).astype(dtype)
    b = (0.3 * rng.standard_normal(H)).astype(dtype)
    mask = mask_for(B, T, rng) if use_mask else None
    dh = rng.standard_normal((B, T, H)).astype(dtype)

    layer = keras.layers.SimpleRNN(H, return_sequences=True, dtype=dtype)
    layer.build((B, T, D))
    cell = layer.cell
    variables = {"W_x": cell.kernel, "W_h": cell.recurrent_kernel, "b": cell.bias}
    for k, v in (("W_x", W_x), ("W_h", W_h), ("b", b)):
        variables[k].assign(v)

    # Keras' one difference, on TensorFlow and PyTorch: its *output* before a row's first real
    # step is zeros (the masked output repeats the previous output, which starts at 0) while
    # its *state* is h0; the op returns the states, h_t = h0 there. Those entries are compared
    # as zeros and get no upstream gradient (in Keras they do not depend on anything); the
    # state itself is compared through return_state below. Keras on JAX outputs the carried
    # state there, h0, exactly what the op returns, so nothing is zeroed on that backend.
    zero_lead = use_mask and keras.backend.backend() != "jax"
    lead = (np.cumsum(mask, axis=1) == 0) if zero_lead else np.zeros((B, T), bool)
    dh[lead] = 0
    h, cache = nt.simple_rnn_forward(x, h0, W_x, W_h, b, mask)
    g = nt.simple_rnn_backward(dh, cache)
    inputs = [x] + ([h0] if use_h0 else [])

    def run(xk, *h0k):
        return (layer(xk, initial_state=list(h0k) or None, mask=mask),)

    (y,), gin, gvars = tape_grads(run, inputs, variables, [dh])
    label = f"B{B}T{T}D{D}H{H}{' mask' if use_mask else ''}{' h0' if use_h0 else ''}"
    check_forward("SimpleRNN states", y, np.where(lead[:, :, None], 0, h), dtype, label)
    last = keras.layers.SimpleRNN(H, return_state=True, dtype=dtype)
    last.build((B, T, D))
    for var, v in zip((last.cell.kernel, last.cell.recurrent_kernel, last.cell.bias), (W_x, W_h, b)):
        var.assign(v)
    _, state = last(x, initial_state=None if h0 is None else [h0], mask=mask)
    check_forward("SimpleRNN last state", state, h[:, -1], dtype, label, group="SimpleRNN states")
    check_grad("SimpleRNN dx", gin[0], g["x"], dtype, label, group="SimpleRNN d(x, h0)")
    if use_h0:
        check_grad("SimpleRNN dh0", gin[1], g["h0"], dtype, label, group="SimpleRNN d(x, h0)")
    for k in variables:
        check_grad(f"SimpleRNN d{k}", gvars[k], g[k], dtype, label, group="SimpleRNN d(W_x, W_h, b)")


# ---------------------------------------------------------------------------- attention layers
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("use_mask", [False, True])
def test_bahdanau_vs_keras(dtype, use_mask):
    B, T, d_s, d_h, d_a = 3, 6, 4, 5, 7
    rng = np.random.default_rng(11)
    s, h = rng.standard_normal((B, d_s)).astype(dtype), rng.standard_normal((B, T, d_h)).astype(dtype)
    mask = mask_for(B, T, rng) if use_mask else None
    dc, dw = rng.standard_normal((B, d_h)).astype(dtype), rng.standard_normal((B, T)).astype(dtype)
    layer = BahdanauAttention(d_a, dtype=dtype)
    layer.build((B, d_s), (B, T, d_h))
    variables = {"W_a": layer.W_a, "U_a": layer.U_a, "v_a": layer.v_a}
    weights = {k: (rng.standard_normal(tuple(v.shape)) / 2).astype(dtype) for k, v in variables.items()}
    for k, v in variables.items():
        v.assign(weights[k])
    c, w, cache = nt.bahdanau_attention_forward(s, h, weights["W_a"], weights["U_a"], weights["v_a"], mask)
    g = nt.bahdanau_attention_backward(dc, cache, dw)
    (ck, wk), (gs, gh), gvars = tape_grads(lambda a, b: layer(a, b, attention_mask=mask), [s, h], variables, [dc, dw])
    label = f"B{B}T{T}ds{d_s}dh{d_h}da{d_a}{' mask' if use_mask else ''}"
    check_forward("Bahdanau context", ck, c, dtype, label)
    check_forward("Bahdanau weights", wk, w, dtype, label)
    check_grad("Bahdanau ds", gs, g["s"], dtype, label, group="Bahdanau d(s, h)")
    check_grad("Bahdanau dh", gh, g["h"], dtype, label, group="Bahdanau d(s, h)")
    for k in variables:
        check_grad(f"Bahdanau d{k}", gvars[k], g[k], dtype, label, group="Bahdanau d(W_a, U_a, v_a)")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("use_mask", [False, True])
def test_time_attention_vs_keras(dtype, use_mask):
    B, T, H = 3, 8, 4
    rng = np.random.default_rng(12)
    h = rng.standard_normal((B, T, H)).astype(dtype)
    mask = mask_for(B, T, rng) if use_mask else None
    dc, dw = rng.standard_normal((B, H)).astype(dtype), rng.standard_normal((B, T)).astype(dtype)
    layer = TimeAttention(dtype=dtype)
    layer.build((B, T, H))
    W, b = rng.standard_normal((H, 1)).astype(dtype), rng.standard_normal((T, 1)).astype(dtype)
    layer.W.assign(W)
    layer.b.assign(b)
    c, w, cache = nt.time_attention_forward(h, W, b, mask)
    g = nt.time_attention_backward(dc, cache, dw)
    (ck, wk), (gh,), gvars = tape_grads(lambda a: layer(a, attention_mask=mask), [h],
                                        {"W": layer.W, "b": layer.b}, [dc, dw])
    label = f"B{B}T{T}H{H}{' mask' if use_mask else ''}"
    check_forward("time attention context", ck, c, dtype, label)
    check_forward("time attention weights", wk, w, dtype, label)
    check_grad("time attention dh", gh, g["h"], dtype, label)
    for k in ("W", "b"):
        check_grad(f"time attention d{k}", gvars[k], g[k], dtype, label, group="time attention d(W, b)")


# ---------------------------------------------------------------------------- whole models
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("attention", ["none", "time", "bahdanau"])
@pytest.mark.parametrize("use_mask", [False, pytest.param(True, marks=pytest.mark.per_backend)])
def test_rnn_regressor_vs_keras(dtype, attention, use_mask):
    cfg = RNNConfig(input_dim=2, hidden=6, time_steps=9, attention=attention, d_a=5, output_dim=2, dtype=dtype)
    model = RNNRegressor(cfg, seed=4)
    rng = np.random.default_rng(8)
    # non-zero biases, so no layout mistake hides
    model.load_state_dict({k: v + 0.2 * rng.standard_normal(v.shape) for k, v in model.state_dict().items()})
    keras_model = KerasRNNRegressor(cfg)
    keras_model.load_state_dict(model.state_dict())
    x = rng.standard_normal((4, 9, 2)).astype(dtype)
    target = rng.standard_normal((4, 2)).astype(dtype)
    mask = np.concatenate([mask_for(3, 9, rng), np.ones((1, 9), bool)]) if use_mask else None
    y = model.forward(x, mask)
    _, dy = mse_loss(y, target)
    grads = flatten(model.backward(dy))
    (yk,), _, kgrads = tape_grads(lambda a: (keras_model(a, step_mask=mask),), [x], keras_model.variable_map(), [dy])
    label = f"{attention} H6T9{' mask' if use_mask else ''}"
    check_forward("RNNRegressor output", yk, y, dtype, label)
    if attention != "none":
        keras_model(x, step_mask=mask)   # eagerly: weights kept from inside autodiff may be traced values
        check_forward("RNNRegressor attention weights", keras_model.attention_weights, model.attention_weights,
                      dtype, label)
    for k in grads:
        check_grad(f"RNNRegressor d{k}", kgrads[k], grads[k], dtype, label, group="RNNRegressor d(every param)")


@pytest.mark.per_backend
def test_keras_state_dict_round_trip_and_strict_errors():
    cfg = RNNConfig(hidden=3, time_steps=5, attention="bahdanau", d_a=4,
                    dtype="float64" if float64_supported() else "float32")
    npm, km = RNNRegressor(cfg, seed=3), KerasRNNRegressor(cfg)
    km.load_state_dict(npm.state_dict())
    for k, v in km.state_dict().items():
        np.testing.assert_array_equal(v, npm.state_dict()[k])
    bad = npm.state_dict()
    bad["attention.U_a"] = np.zeros((3, 5))
    with pytest.raises(ValueError, match=r"attention.U_a: expected shape \(3, 4\)"):
        km.load_state_dict(bad)
    bad = {**npm.state_dict(), "extra": np.zeros(1)}
    with pytest.raises(ValueError, match="unexpected keys: \\['extra'\\]"):
        km.load_state_dict(bad)
    nan = npm.state_dict()
    nan["dense.weight"][0, 0] = np.nan
    with pytest.raises(ValueError, match="dense.weight: contains NaN"):
        km.load_state_dict(nan)
    np.testing.assert_array_equal(km.state_dict()["dense.weight"], npm.params.dense.weight)  # untouched
