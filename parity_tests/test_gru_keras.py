"""The GRU op (ops/gru.py) against stock keras.layers.GRU (reset_after=True, Keras' default)
with identical weights copied as they are (kernel, recurrent_kernel, bias (2, 3H)): every state
and every gradient (Keras by its backend's autodiff with the same upstream gradient), T = 1, 2,
5 and 9, with and without a mask and h0, float64 and float32, on every installed backend
(test_keras_backends.py). Tolerances are the project's (parity_report.py): forward float64
max |diff| ≤ 1e-10, float32 max |diff| / max |ref| ≤ 1e-5; gradients ‖a − b‖ / max(‖a‖, ‖b‖)
float64 ≤ 1e-9, float32 ≤ 1e-4 (float32 rounding over a few dozen operations per step)."""
import numpy as np
import pytest

from requires import require

keras = require("keras")

import numpy_transformer as nt  # noqa: E402
from parity_report import check_forward, check_grad, parity_report  # noqa: E402,F401
from keras_grads import backend_dtype_guard, vjp  # noqa: E402,F401

pytestmark = pytest.mark.usefixtures("parity_report")


def mask_for(B, T):
    """Right padding on row 0, a hole in the middle of row 1, left padding on row 2."""
    m = np.ones((B, T), bool)
    if T > 1:
        m[0, T // 2 + 1:] = False
        m[1, T // 2] = False
        m[2, :1] = False
    return m


def keras_gru(H, weights, dtype, **kw):
    layer = keras.layers.GRU(H, dtype=dtype, **kw)
    layer.build((None, None, weights[0].shape[0]))
    for var, v in zip((layer.cell.kernel, layer.cell.recurrent_kernel, layer.cell.bias), weights):
        var.assign(v)
    return layer


@pytest.mark.parametrize("dtype", ["float64", "float32"])
# every mask/h0 combination at T = 5, and T = 1, 2, 9 with some (each case compiles anew on JAX)
@pytest.mark.parametrize("T,use_mask,use_h0", [pytest.param(5, False, False, marks=pytest.mark.per_backend),
                                               (5, True, False), (5, False, True),
                                               pytest.param(5, True, True, marks=pytest.mark.per_backend),
                                               (1, False, False), (1, True, True), (2, True, False), (9, True, True)])
def test_gru_vs_keras_gru(dtype, T, use_mask, use_h0):
    B, D, H = 3, 4, 5
    rng = np.random.default_rng(T)
    x = rng.standard_normal((B, T, D)).astype(dtype)
    h0 = rng.standard_normal((B, H)).astype(dtype) if use_h0 else None
    W_x = (rng.standard_normal((D, 3 * H)) / np.sqrt(D)).astype(dtype)
    W_h = (rng.standard_normal((H, 3 * H)) / np.sqrt(H)).astype(dtype)
    b = (0.3 * rng.standard_normal((2, 3 * H))).astype(dtype)
    mask = mask_for(B, T) if use_mask else None
    dh = rng.standard_normal((B, T, H)).astype(dtype)
    layer = keras_gru(H, (W_x, W_h, b), dtype, return_sequences=True)
    variables = {"W_x": layer.cell.kernel, "W_h": layer.cell.recurrent_kernel, "b": layer.cell.bias}

    # as for SimpleRNN (test_rnn_keras.py): Keras' *output* before a row's first real step is
    # zeros on TensorFlow and PyTorch (it repeats the previous output, which starts at 0), the
    # op returns the state h0 there; those entries are compared as zeros and get no upstream
    # gradient. JAX outputs the carried state, as the op does.
    lead = (np.cumsum(mask, axis=1) == 0) if use_mask and keras.backend.backend() != "jax" else np.zeros((B, T), bool)
    dh[lead] = 0
    h, cache = nt.gru_forward(x, h0, W_x, W_h, b, mask)
    g = nt.gru_backward(dh, cache)
    inputs = [x] + ([h0] if use_h0 else [])

    def run(xk, *h0k):
        return (layer(xk, initial_state=list(h0k) or None, mask=mask),)

    (y,), gin, gvars = vjp(run, inputs, variables, [dh])
    label = f"B{B}T{T}D{D}H{H}{' mask' if use_mask else ''}{' h0' if use_h0 else ''}"
    check_forward("GRU states", y, np.where(lead[:, :, None], 0, h), dtype, label)
    _, state = keras_gru(H, (W_x, W_h, b), dtype, return_state=True)(x, initial_state=None if h0 is None else [h0],
                                                                         mask=mask)
    check_forward("GRU last state", state, h[:, -1], dtype, label, group="GRU states")
    check_grad("GRU dx", gin[0], g["x"], dtype, label, group="GRU d(x, h0)")
    if use_h0:
        check_grad("GRU dh0", gin[1], g["h0"], dtype, label, group="GRU d(x, h0)")
    for k in variables:
        check_grad(f"GRU d{k}", gvars[k], g[k], dtype, label, group="GRU d(W_x, W_h, b)")
