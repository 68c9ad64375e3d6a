"""The GRU op (ops/gru.py), NumPy side: float64 central finite differences of backpropagation
through time (T ∈ {1, 2, 5}, with and without a mask and h0; the single step used by
decoders), the recurrence against a direct per-row loop, and clear errors for bad input.
Every check is gradcheck of f = Σ y·R (grad_helpers.check_outputs): ‖num − ana‖ ≤ noise
floor + 1e-7·‖num‖ per tensor."""
import numpy as np
import pytest

import numpy_transformer as nt
from numpy_transformer.ops.gru import gru_step, gru_step_backward

from grad_helpers import check_outputs as check, random_mask


def gru_inputs(rng, B, T, D, H, scale=0.8):
    return (rng.standard_normal((B, T, D)), rng.standard_normal((B, H)),
            scale * rng.standard_normal((D, 3 * H)) / np.sqrt(D), scale * rng.standard_normal((H, 3 * H)) / np.sqrt(H),
            0.3 * rng.standard_normal((2, 3 * H)))


@pytest.mark.parametrize("T", [1, 2, 5])
@pytest.mark.parametrize("use_mask,use_h0", [(False, False), (True, False), (False, True), (True, True)])
def test_gru_bptt_against_finite_differences(T, use_mask, use_h0):
    rng = np.random.default_rng(10 * T + 2 * use_mask + use_h0)
    B, D, H = 3, 2, 4
    x, h0, W_x, W_h, b = gru_inputs(rng, B, T, D, H)
    h0 = h0 if use_h0 else None
    mask = random_mask(rng, B, T) if use_mask else None
    if use_mask and T > 1:
        mask[0, -1] = mask[1, 0] = False        # a masked last step and a masked first step
    R = rng.standard_normal((B, T, H))
    out, cache = nt.gru_forward(x, h0, W_x, W_h, b, mask)
    g = nt.gru_backward(R, cache)
    inputs = {"x": x, "W_x": W_x, "W_h": W_h, "b": b, **({"h0": h0} if use_h0 else {})}
    check(lambda: (nt.gru_forward(x, h0, W_x, W_h, b, mask)[0],), (R,), inputs, g)


def test_gru_loss_on_the_last_state_reaches_every_step():
    rng = np.random.default_rng(3)
    x, h0, W_x, W_h, b = gru_inputs(rng, 2, 12, 2, 3)
    R = np.zeros((2, 12, 3))
    R[:, -1] = rng.standard_normal((2, 3))
    _, cache = nt.gru_forward(x, h0, W_x, W_h, b)
    g = nt.gru_backward(R, cache)
    assert np.all(np.abs(g["x"][:, 0]) > 0) and np.abs(g["h0"]).sum() > 0
    check(lambda: (nt.gru_forward(x, h0, W_x, W_h, b)[0],), (R,), {"x": x, "h0": h0, "W_h": W_h, "b": b}, g)


def test_gru_step_against_finite_differences():
    rng = np.random.default_rng(5)
    B, H = 3, 4
    xw, h_prev = rng.standard_normal((B, 3 * H)), rng.standard_normal((B, H))
    W_h, b_h = rng.standard_normal((H, 3 * H)) / 2, rng.standard_normal(3 * H) / 3
    R = rng.standard_normal((B, H))
    _, c = gru_step(xw, h_prev, W_h, b_h)
    dxw, du, dh_prev = gru_step_backward(R, c, W_h.T)
    # u = h_prev W_h + b_h, so ∂/∂b_h = Σ_batch du and ∂/∂W_h = h_prevᵀ du
    check(lambda: (gru_step(xw, h_prev, W_h, b_h)[0],), (R,), {"xw": xw, "h_prev": h_prev, "W_h": W_h, "b_h": b_h},
          {"xw": dxw, "h_prev": dh_prev, "W_h": h_prev.T @ du, "b_h": du.sum(0)})


def test_gru_matches_the_keras_equations_and_the_mask_carries_the_state():
    rng = np.random.default_rng(0)
    x, h0, W_x, W_h, b = gru_inputs(rng, 2, 6, 3, 4)
    mask = np.array([[1, 1, 0, 1, 0, 0], [0, 1, 1, 1, 1, 1]], bool)
    h, _ = nt.gru_forward(x, h0, W_x, W_h, b, mask)
    sig = lambda a: 1 / (1 + np.exp(-a))   # noqa: E731
    H = 4
    for i in range(2):
        prev = h0[i]
        for t in range(6):
            if mask[i, t]:
                mx, mh = x[i, t] @ W_x + b[0], prev @ W_h + b[1]
                z, r = sig(mx[:H] + mh[:H]), sig(mx[H:2 * H] + mh[H:2 * H])
                hh = np.tanh(mx[2 * H:] + r * mh[2 * H:])
                prev = z * prev + (1 - z) * hh
            np.testing.assert_allclose(h[i, t], prev, rtol=1e-13, atol=1e-15)


def test_gru_dtypes_float32_default_float64_end_to_end():
    rng = np.random.default_rng(0)
    x, h0, W_x, W_h, b = gru_inputs(rng, 2, 4, 3, 5)
    for dt in (np.float32, np.float64):
        h, cache = nt.gru_forward(x.astype(dt), None, W_x.astype(dt), W_h.astype(dt), b.astype(dt))
        g = nt.gru_backward(np.ones_like(h), cache)
        assert h.dtype == dt and all(v.dtype == dt for v in g.values())


@pytest.mark.parametrize("change,msg", [
    (lambda a: {**a, "x": a["x"][0]}, "x must be (batch, time, features)"),
    (lambda a: {**a, "W_x": a["W_x"][:, :-1]}, "W_x (kernel) must be"),
    (lambda a: {**a, "W_h": a["W_h"][:, :-1]}, "must be (H, 3H)"),
    (lambda a: {**a, "b": a["b"][0]}, "b (bias) (2, 15)"),
    (lambda a: {**a, "h0": a["h0"][:1]}, "h0 must be (batch, H)"),
    (lambda a: {**a, "x": a["x"][:, :0]}, "no time steps"),
    (lambda a: {**a, "mask": np.ones((2, 4), int)}, "mask must be boolean"),
    (lambda a: {**a, "W_h": np.where(np.eye(5, 15) > 0, np.nan, a["W_h"])}, "W_h holds NaN or inf"),
    (lambda a: {**a, "b": a["b"].astype(np.float32)}, "must share one float dtype"),
])
def test_gru_bad_input_gets_a_clear_error(change, msg):
    rng = np.random.default_rng(0)
    x, h0, W_x, W_h, b = gru_inputs(rng, 2, 4, 3, 5)
    a = change({"x": x, "h0": h0, "W_x": W_x, "W_h": W_h, "b": b, "mask": None})
    with pytest.raises((ValueError, TypeError), match=msg.replace("(", r"\(").replace(")", r"\)")):
        nt.gru_forward(a["x"], a["h0"], a["W_x"], a["W_h"], a["b"], a["mask"])
