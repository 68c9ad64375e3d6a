"""The road to attention, NumPy side: float64 central finite differences of the simple RNN
(backpropagation through time), the book's time attention, Bahdanau attention and the whole
RNNRegressor, and clear errors for bad input.

Every check is gradcheck (ops/gradcheck.py) of f = Σ y·R for fixed random R, so the upstream
gradient is R: ‖num − ana‖ ≤ noise floor + 1e-7·‖num‖ per tensor, the noise floor being the
finite differences' own rounding for f's scale Σ|y·R| (see test_numpy_grads.py).
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import numpy_transformer as nt
from numpy_transformer.config import RNNConfig
from numpy_transformer.config.tree import flatten
from numpy_transformer.models import RNNRegressor, mse_loss
from numpy_transformer.ops.gradcheck import gradcheck

from grad_helpers import TOL, check_outputs as check, random_mask

SETTINGS = settings(max_examples=10, deadline=None)


def rnn_inputs(rng, B, T, D, H, scale=0.8):
    return (rng.standard_normal((B, T, D)), rng.standard_normal((B, H)),
            scale * rng.standard_normal((D, H)) / np.sqrt(D), scale * rng.standard_normal((H, H)) / np.sqrt(H),
            0.3 * rng.standard_normal(H))


# ---------------------------------------------------------------------------- simple RNN
@SETTINGS
@given(b=st.integers(1, 3), t=st.sampled_from([1, 2, 5, 12]), d=st.integers(1, 3), h=st.integers(1, 5),
       use_h0=st.booleans(), use_mask=st.booleans(), seed=st.integers(0, 99))
def test_simple_rnn_bptt(b, t, d, h, use_h0, use_mask, seed):
    rng = np.random.default_rng(seed)
    x, h0, W_x, W_h, bias = rnn_inputs(rng, b, t, d, h)
    h0 = h0 if use_h0 else None
    mask = random_mask(rng, b, t) if use_mask else None
    R = rng.standard_normal((b, t, h))
    out, cache = nt.simple_rnn_forward(x, h0, W_x, W_h, bias, mask)
    g = nt.simple_rnn_backward(R, cache)
    inputs = {"x": x, "W_x": W_x, "W_h": W_h, "b": bias}
    if use_h0:
        inputs["h0"] = h0
    check(lambda: (nt.simple_rnn_forward(x, h0, W_x, W_h, bias, mask)[0],), (R,), inputs, g)


def test_simple_rnn_loss_on_the_last_state_only_reaches_every_step():
    """A loss on h_T alone (zeros elsewhere in dh) still gives every x_t a gradient, through
    the recurrence: BPTT, not a per-step gradient."""
    rng = np.random.default_rng(3)
    x, h0, W_x, W_h, bias = rnn_inputs(rng, 2, 30, 2, 4)
    R = np.zeros((2, 30, 4))
    R[:, -1] = rng.standard_normal((2, 4))
    h, cache = nt.simple_rnn_forward(x, h0, W_x, W_h, bias)
    g = nt.simple_rnn_backward(R, cache)
    assert np.all(np.abs(g["x"][:, 0]) > 0) and np.abs(g["h0"]).sum() > 0
    check(lambda: (nt.simple_rnn_forward(x, h0, W_x, W_h, bias)[0],), (R,),
          {"x": x, "h0": h0, "W_h": W_h}, g)


def test_simple_rnn_matches_the_recurrence_and_the_mask_carries_the_state():
    rng = np.random.default_rng(0)
    x, h0, W_x, W_h, bias = rnn_inputs(rng, 2, 6, 3, 4)
    mask = np.array([[1, 1, 0, 1, 0, 0], [0, 1, 1, 1, 1, 1]], bool)
    h, _ = nt.simple_rnn_forward(x, h0, W_x, W_h, bias, mask)
    for i in range(2):
        prev = h0[i]
        for t in range(6):
            if mask[i, t]:
                prev = np.tanh(x[i, t] @ W_x + prev @ W_h + bias)
            np.testing.assert_allclose(h[i, t], prev, rtol=1e-13, atol=1e-15)
    h_nomask, _ = nt.simple_rnn_forward(x, None, W_x, W_h, bias)
    np.testing.assert_allclose(h_nomask[:, 0], np.tanh(x[:, 0] @ W_x + bias), rtol=1e-13)


def test_simple_rnn_dtypes_float32_default_float64_end_to_end():
    rng = np.random.default_rng(0)
    x, h0, W_x, W_h, bias = rnn_inputs(rng, 2, 4, 3, 5)
    for dt in (np.float32, np.float64):
        h, cache = nt.simple_rnn_forward(x.astype(dt), None, W_x.astype(dt), W_h.astype(dt), bias.astype(dt))
        g = nt.simple_rnn_backward(np.ones_like(h), cache)
        assert h.dtype == dt and all(v.dtype == dt for v in g.values()), (dt, {k: v.dtype for k, v in g.items()})
    assert RNNRegressor(RNNConfig()).forward(np.zeros((2, 12, 1))).dtype == np.float32


# ---------------------------------------------------------------------------- attention
@SETTINGS
@given(b=st.integers(1, 3), t=st.sampled_from([1, 3, 7]), d_s=st.integers(1, 4), d_h=st.integers(1, 4),
       d_a=st.integers(1, 5), use_mask=st.booleans(), with_dweights=st.booleans(), seed=st.integers(0, 99))
def test_bahdanau_attention(b, t, d_s, d_h, d_a, use_mask, with_dweights, seed):
    rng = np.random.default_rng(seed)
    s, h = rng.standard_normal((b, d_s)), rng.standard_normal((b, t, d_h))
    W_a, U_a, v_a = rng.standard_normal((d_s, d_a)), rng.standard_normal((d_h, d_a)), rng.standard_normal(d_a)
    mask = random_mask(rng, b, t) if use_mask else None
    Rc, Rw = rng.standard_normal((b, d_h)), rng.standard_normal((b, t)) if with_dweights else np.zeros((b, t))
    c, w, cache = nt.bahdanau_attention_forward(s, h, W_a, U_a, v_a, mask)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-13)
    if mask is not None:
        assert np.all(w[~mask] == 0)
    g = nt.bahdanau_attention_backward(Rc, cache, Rw if with_dweights else None)
    check(lambda: nt.bahdanau_attention_forward(s, h, W_a, U_a, v_a, mask)[:2], (Rc, Rw),
          {"s": s, "h": h, "W_a": W_a, "U_a": U_a, "v_a": v_a}, g)


def test_bahdanau_matches_its_definition():
    rng = np.random.default_rng(1)
    s, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 5, 4))
    W_a, U_a, v_a = rng.standard_normal((3, 6)), rng.standard_normal((4, 6)), rng.standard_normal(6)
    c, w, _ = nt.bahdanau_attention_forward(s, h, W_a, U_a, v_a)
    for i in range(2):
        e = np.array([v_a @ np.tanh(s[i] @ W_a + h[i, j] @ U_a) for j in range(5)])
        a = np.exp(e - e.max()) / np.exp(e - e.max()).sum()
        np.testing.assert_allclose(w[i], a, rtol=1e-13)
        np.testing.assert_allclose(c[i], a @ h[i], rtol=1e-13)


@SETTINGS
@given(b=st.integers(1, 3), t=st.sampled_from([1, 4, 9]), hd=st.integers(1, 5), use_mask=st.booleans(),
       seed=st.integers(0, 99))
def test_time_attention(b, t, hd, use_mask, seed):
    rng = np.random.default_rng(seed)
    h, W, bias = rng.standard_normal((b, t, hd)), rng.standard_normal((hd, 1)), rng.standard_normal((t, 1))
    mask = random_mask(rng, b, t) if use_mask else None
    Rc, Rw = rng.standard_normal((b, hd)), rng.standard_normal((b, t))
    c, w, cache = nt.time_attention_forward(h, W, bias, mask)
    ex = np.exp(np.tanh(h @ W[:, 0] + bias[:, 0])) * (1 if mask is None else mask)   # |e| ≤ 1: no overflow
    np.testing.assert_allclose(w, ex / ex.sum(axis=1, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(c, np.einsum("bt,btd->bd", w, h), rtol=1e-12, atol=1e-15)
    g = nt.time_attention_backward(Rc, cache, Rw)
    check(lambda: nt.time_attention_forward(h, W, bias, mask)[:2], (Rc, Rw), {"h": h, "W": W, "b": bias}, g)


# ---------------------------------------------------------------------------- whole model
@pytest.mark.parametrize("attention", ["none", "time", "bahdanau"])
@pytest.mark.parametrize("use_mask", [False, True])
def test_rnn_regressor_gradients(attention, use_mask):
    cfg = RNNConfig(input_dim=2, hidden=4, time_steps=6, attention=attention, d_a=3, output_dim=2,
                    dtype="float64")
    model = RNNRegressor(cfg, seed=2)
    rng = np.random.default_rng(5)
    params = flatten(model.params)                       # the tree's own arrays, by their names
    for k in params:                                     # non-zero biases: hide no layout mistake
        params[k] += 0.2 * rng.standard_normal(params[k].shape)
    x = rng.standard_normal((3, 6, 2))
    mask = random_mask(rng, 3, 6) if use_mask else None
    target = rng.standard_normal((3, 2))
    loss, dy = mse_loss(model.forward(x, mask), target)
    grads = flatten(model.backward(dy))                  # the gradient tree has the params' shape
    assert list(grads) == list(params)
    f = lambda: mse_loss(model.forward(x, mask), target)[0]   # noqa: E731
    gradcheck(f, params, grads, tol=TOL, f_scale=loss)


def test_state_dict_round_trip_and_strict_errors():
    cfg = RNNConfig(hidden=3, time_steps=5, attention="time", dtype="float64")
    a, b = RNNRegressor(cfg, seed=0), RNNRegressor(cfg, seed=1)
    b.load_state_dict(a.state_dict())
    x = np.random.default_rng(0).standard_normal((4, 5, 1))
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    bad = a.state_dict()
    bad["attention.b"] = np.zeros((6, 1))
    with pytest.raises(ValueError, match=r"attention.b: expected shape \(5, 1\)"):
        b.load_state_dict(bad)
    with pytest.raises(ValueError, match="missing keys.*attention.W"):
        b.load_state_dict({k: v for k, v in a.state_dict().items() if k != "attention.W"})
    nan = a.state_dict()
    nan_free_W_h00 = b.params.rnn.W_h[0, 0]              # the failed loads below change nothing
    nan["rnn.W_h"][0, 0] = np.nan
    with pytest.raises(ValueError, match="rnn.W_h: contains NaN"):
        b.load_state_dict(nan)
    b.load_state_dict({"dense.bias": np.ones(1)}, strict=False)
    assert b.params.dense.bias[0] == 1.0 and b.params.rnn.W_h[0, 0] == nan_free_W_h00


# ---------------------------------------------------------------------------- bad input
def test_bad_input_gets_a_clear_error():
    rng = np.random.default_rng(0)
    x, h0, W_x, W_h, b = rnn_inputs(rng, 2, 4, 3, 5)
    f = nt.simple_rnn_forward
    with pytest.raises(ValueError, match=r"x must be \(batch, time, features\)"):
        f(x[0], None, W_x, W_h, b)
    with pytest.raises(ValueError, match="x has D = 3 features"):
        f(x, None, W_x[:2], W_h, b)
    with pytest.raises(ValueError, match=r"h0 must be \(batch, H\)"):
        f(x, h0[:1], W_x, W_h, b)
    with pytest.raises(ValueError, match="no time steps"):
        f(x[:, :0], None, W_x, W_h, b)
    with pytest.raises(TypeError, match="share one float dtype"):
        f(x, None, W_x.astype(np.float32), W_h, b)
    with pytest.raises(TypeError, match="mask must be boolean"):
        f(x, None, W_x, W_h, b, np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"mask must have shape \(batch, time\)"):
        f(x, None, W_x, W_h, b, np.ones((2, 5), bool))
    W_nan = W_h.copy()
    W_nan[1, 2] = np.nan
    with pytest.raises(ValueError, match="W_h holds NaN or inf"):
        f(x, None, W_x, W_nan, b)
    _, cache = f(x, None, W_x, W_h, b)
    with pytest.raises(ValueError, match="dh must have the states' shape"):
        nt.simple_rnn_backward(np.zeros((2, 4, 4)), cache)

    s, hh = rng.standard_normal((2, 3)), rng.standard_normal((2, 4, 5))
    W_a, U_a, v_a = rng.standard_normal((3, 6)), rng.standard_normal((5, 6)), rng.standard_normal(6)
    g = nt.bahdanau_attention_forward
    with pytest.raises(ValueError, match="s must be"):
        g(s[0], hh, W_a, U_a, v_a)
    with pytest.raises(ValueError, match="s has batch 1 but h has batch 2"):
        g(s[:1], hh, W_a, U_a, v_a)
    with pytest.raises(ValueError, match=r"h has d_h = 5.*got W_a \(3, 6\), U_a \(4, 6\)"):
        g(s, hh, W_a, U_a[:4], v_a)
    full = np.ones((2, 4), bool)
    full[1] = False
    with pytest.raises(ValueError, match=r"mask row\(s\) \[1\] allow no position"):
        g(s, hh, W_a, U_a, v_a, full)
    with pytest.raises(ValueError, match="v_a holds NaN"):
        g(s, hh, W_a, U_a, np.full(6, np.nan))
    h_nan = hh.copy()
    h_nan[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="h holds NaN"):
        g(s, h_nan, W_a, U_a, v_a)

    t = nt.time_attention_forward
    with pytest.raises(ValueError, match=r"one bias per step"):
        t(hh, rng.standard_normal((5, 1)), rng.standard_normal((3, 1)))
    with pytest.raises(ValueError, match="allow no position"):
        t(hh, rng.standard_normal((5, 1)), rng.standard_normal((4, 1)), full)

    with pytest.raises(ValueError, match="attention must be one of"):
        RNNConfig(attention="luong")
    model = RNNRegressor(RNNConfig(time_steps=5, attention="time"))
    with pytest.raises(ValueError, match="time_steps = 5 steps, got 6"):
        model.forward(np.zeros((2, 6, 1)))
    with pytest.raises(ValueError, match=r"x must be \(batch, time, 1\)"):
        model.forward(np.zeros((2, 5, 2)))


def test_the_new_ops_are_exported_from_the_top_level():
    names = ("simple_rnn_forward", "simple_rnn_backward", "bahdanau_attention_forward",
             "bahdanau_attention_backward", "time_attention_forward", "time_attention_backward")
    for name in names:
        assert callable(getattr(nt, name)) and name in nt.__all__, name
