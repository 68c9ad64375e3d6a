"""Every NumPy backward against central finite differences in float64 (relative error ≤ 1e-7).

Each op is checked through the scalar f = Σ y·R for a fixed random R, so dy = R. Shapes come
from hypothesis; inputs are float64 so that differences with h = 1e-6 are accurate to ~1e-10.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from numpy_transformer import gradcheck
from numpy_transformer.attention import (causal_mask, mha_backward, mha_forward, sdpa_backward,
                                         sdpa_forward, softmax_backward, softmax_forward)
from numpy_transformer.basic import (dropout_backward, dropout_forward, linear_backward,
                                     linear_forward, relu_backward, relu_forward)
from numpy_transformer.embedding import (embed_backward, embed_forward, embedding_backward,
                                         embedding_forward, positional_encoding)
from numpy_transformer.layernorm import layernorm_backward, layernorm_forward
from numpy_transformer.layers import (decoder_layer_backward, decoder_layer_forward,
                                      encoder_layer_backward, encoder_layer_forward,
                                      feed_forward_backward, feed_forward_forward, sub)
from numpy_transformer.config import TransformerConfig
from numpy_transformer.model import init_params

TOL = 1e-7
SETTINGS = settings(max_examples=12, deadline=None)
dims = st.integers(1, 5)


def _r(rng, *shape):
    return rng.standard_normal(shape)


def _loss(y, R):
    return float(np.sum(y * R))


@SETTINGS
@given(b=dims, t=dims, din=dims, dout=dims, seed=st.integers(0, 99))
def test_linear(b, t, din, dout, seed):
    rng = np.random.default_rng(seed)
    x, W, bias, R = _r(rng, b, t, din), _r(rng, din, dout), _r(rng, dout), _r(rng, b, t, dout)
    dx, dW, db = linear_backward(R, linear_forward(x, W, bias)[1], W)
    f = lambda: _loss(linear_forward(x, W, bias)[0], R)
    gradcheck(f, {"x": x, "W": W, "b": bias}, {"x": dx, "W": dW, "b": db}, tol=TOL)


@SETTINGS
@given(n=st.integers(1, 30), seed=st.integers(0, 99))
def test_relu(n, seed):
    rng = np.random.default_rng(seed)
    x = _r(rng, n)
    x += np.sign(x) * 1e-3  # keep every input ≥ 1e-3 from the kink, where FD would straddle it
    R = _r(rng, n)
    dx = relu_backward(R, relu_forward(x)[1])
    gradcheck(lambda: _loss(relu_forward(x)[0], R), {"x": x}, {"x": dx}, tol=TOL)


@SETTINGS
@given(b=dims, t=dims, p=st.sampled_from([0.0, 0.1, 0.5]), seed=st.integers(0, 99))
def test_dropout_fixed_mask(b, t, p, seed):
    rng = np.random.default_rng(seed)
    x, R = _r(rng, b, t, 4), _r(rng, b, t, 4)
    run = lambda: dropout_forward(x, p, np.random.default_rng(seed), True)
    dx = dropout_backward(R, run()[1])
    gradcheck(lambda: _loss(run()[0], R), {"x": x}, {"x": dx}, tol=TOL)


def test_dropout_statistics_and_eval_identity():
    x = np.ones((200, 500), dtype=np.float32)
    y, mask = dropout_forward(x, 0.1, np.random.default_rng(0), True)
    assert y.dtype == np.float32
    kept = (mask > 0).mean()
    assert abs(kept - 0.9) < 0.005             # 1e5 Bernoulli draws: std of the mean ≈ 0.001
    assert np.allclose(y[mask > 0], 1 / 0.9)   # inverted scaling keeps E[y] = x
    y_eval, m_eval = dropout_forward(x, 0.1, None, False)
    assert y_eval is x and m_eval is None


@SETTINGS
@given(b=dims, t=dims, n=st.integers(3, 8), seed=st.integers(0, 99))
def test_layernorm(b, t, n, seed):
    # n ≥ 3: with 2 features xhat = ±(1 − O(eps)) whatever x is, so dx is O(eps) ≈ 1e-6 and
    # below the finite-difference noise: a relative check would test the noise.
    rng = np.random.default_rng(seed)
    x, g, be, R = _r(rng, b, t, n) * 3 + 1, _r(rng, n), _r(rng, n), _r(rng, b, t, n)
    dx, dg, db = layernorm_backward(R, layernorm_forward(x, g, be, 1e-6)[1], g)
    f = lambda: _loss(layernorm_forward(x, g, be, 1e-6)[0], R)
    gradcheck(f, {"x": x, "gamma": g, "beta": be}, {"x": dx, "gamma": dg, "beta": db}, tol=TOL)


@SETTINGS
@given(b=dims, t=dims, v=st.integers(1, 6), seed=st.integers(0, 99))
def test_softmax_masked(b, t, v, seed):
    rng = np.random.default_rng(seed)
    x, R = _r(rng, b, t, v), _r(rng, b, t, v)
    mask = rng.random((b, t, v)) > 0.3
    mask[0, 0] = False  # one fully masked row: must give zeros, not NaN
    p = softmax_forward(x, mask)
    assert np.all(np.isfinite(p)) and np.all(p[~mask] == 0)
    assert np.allclose(p.sum(-1)[mask.any(-1)], 1.0)
    dx = softmax_backward(R, p)
    gradcheck(lambda: _loss(softmax_forward(x, mask), R), {"x": x}, {"x": dx}, tol=TOL)


@SETTINGS
@given(b=dims, tq=dims, tk=dims, dk=dims, dv=dims, masked=st.booleans(), seed=st.integers(0, 99))
def test_scaled_dot_product_attention(b, tq, tk, dk, dv, masked, seed):
    rng = np.random.default_rng(seed)
    q, k, v, R = _r(rng, b, tq, dk), _r(rng, b, tk, dk), _r(rng, b, tk, dv), _r(rng, b, tq, dv)
    mask = None
    if masked:
        mask = rng.random((b, 1, tk)) > 0.4
        mask[..., 0] = True  # at least one key per row
    dq, dk_, dv_ = sdpa_backward(R, sdpa_forward(q, k, v, mask)[1])
    # Central differences with h = 1e-6 on an O(1) loss carry ~1e-10 absolute round-off, so a
    # gradient of norm below ~1e-3 cannot be checked to 1e-7 *relative* error (some draws, e.g.
    # a single query over two nearly equal keys, give |dK| ~ 1e-5; the same draws fail with the
    # original code). Such ill-conditioned draws are skipped, not checked at a looser tolerance.
    assume(all(n == 0 or n > 1e-2 for n in map(np.linalg.norm, (dq, dk_, dv_))))   # 0: e.g. one key
    f = lambda: _loss(sdpa_forward(q, k, v, mask)[0], R)
    gradcheck(f, {"q": q, "k": k, "v": v}, {"q": dq, "k": dk_, "v": dv_}, tol=TOL)


def _mha_params(rng, d):
    return {f"{w}.{n}": _r(rng, d, d) / np.sqrt(d) if n == "weight" else _r(rng, d) * 0.1
            for w in ("wq", "wk", "wv", "wo") for n in ("weight", "bias")}


@SETTINGS
@given(b=dims, tq=dims, tk=dims, heads=st.sampled_from([1, 2, 3]), dk=st.integers(1, 3),
       cross=st.booleans(), seed=st.integers(0, 99))
def test_multi_head_attention(b, tq, tk, heads, dk, cross, seed):
    rng = np.random.default_rng(seed)
    d = heads * dk
    p = _mha_params(rng, d)
    xq, xkv = _r(rng, b, tq, d), (_r(rng, b, tk, d) if cross else None)
    T = tk if cross else tq
    mask = rng.random((b, 1, 1, T)) > 0.3
    mask[..., 0] = True
    if not cross:
        mask = mask & causal_mask(tq)
    R = _r(rng, b, tq, d)
    dxq, dxkv, grads = mha_backward(R, mha_forward(xq, xkv, p, heads, mask)[1], p)
    f = lambda: _loss(mha_forward(xq, xkv, p, heads, mask)[0], R)
    inputs = {"xq": xq, **p}
    analytic = {"xq": dxq, **grads}
    if cross:
        inputs["xkv"], analytic["xkv"] = xkv, dxkv
    # b_k adds the same q·b_k to every score of a row and softmax is shift invariant, so its
    # gradient is exactly zero: check it absolutely (FD noise ≈ 1e-10 · |f|), not relatively.
    bk = inputs.pop("wk.bias")
    assert np.max(np.abs(grads["wk.bias"])) < 1e-12 * max(1.0, abs(f()))
    gradcheck(f, inputs, analytic, tol=TOL)
    assert bk is p["wk.bias"]


@SETTINGS
@given(b=dims, t=dims, d=st.integers(1, 4), ff=st.integers(1, 6), seed=st.integers(0, 99))
def test_feed_forward(b, t, d, ff, seed):
    rng = np.random.default_rng(seed)
    p = {"linear1.weight": _r(rng, d, ff), "linear1.bias": _r(rng, ff),
         "linear2.weight": _r(rng, ff, d), "linear2.bias": _r(rng, d)}
    x, R = _r(rng, b, t, d), _r(rng, b, t, d)
    dx, grads = feed_forward_backward(R, feed_forward_forward(x, p)[1], p)
    f = lambda: _loss(feed_forward_forward(x, p)[0], R)
    gradcheck(f, {"x": x, **p}, {"x": dx, **grads}, tol=TOL)


@SETTINGS
@given(b=dims, t=dims, v=st.integers(2, 7), seed=st.integers(0, 99))
def test_embedding_gather_scatter(b, t, v, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, v, (b, t))
    W, R = _r(rng, v, 6), _r(rng, b, t, 6)
    pe = positional_encoding(t, 6, dtype=np.float64)
    dW = embedding_backward(R, embedding_forward(ids, W)[1], v)
    gradcheck(lambda: _loss(embedding_forward(ids, W)[0], R), {"W": W}, {"W": dW}, tol=TOL)
    dW = embed_backward(R, embed_forward(ids, W, pe)[1], v)
    gradcheck(lambda: _loss(embed_forward(ids, W, pe)[0], R), {"W": W}, {"W": dW}, tol=TOL)


def _layer_setup(norm_first, seed, prefix):
    cfg = TransformerConfig(src_vocab_size=5, tgt_vocab_size=5, d_model=6, num_heads=2, d_ff=10,
                            num_layers=1, dropout=0.2, norm_first=norm_first, dtype="float64")
    params = init_params(cfg, seed)
    p = sub(params, prefix)
    for k in p:  # non-trivial norms and biases so their gradients are exercised
        p[k] += np.random.default_rng(seed).standard_normal(p[k].shape) * 0.1
    return cfg, p


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_with_masks_and_dropout(norm_first):
    cfg, p = _layer_setup(norm_first, 0, "encoder.layers.0")
    rng = np.random.default_rng(1)
    x, R = rng.standard_normal((2, 5, 6)), rng.standard_normal((2, 5, 6))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)[:, None, None, :]
    run = lambda: encoder_layer_forward(x, p, cfg, mask, np.random.default_rng(7), True)
    dx, grads = encoder_layer_backward(R, run()[1], p, cfg)
    inputs, analytic = {"x": x, **p}, {"x": dx, **grads}
    inputs.pop("self_attn.wk.bias")
    gradcheck(lambda: _loss(run()[0], R), inputs, analytic, tol=TOL)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_with_masks_and_dropout(norm_first):
    cfg, p = _layer_setup(norm_first, 3, "decoder.layers.0")
    rng = np.random.default_rng(2)
    y, mem, R = rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 5, 6)), rng.standard_normal((2, 4, 6))
    self_mask = causal_mask(4) & np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)[:, None, None, :]
    cross_mask = np.array([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0]], bool)[:, None, None, :]
    run = lambda: decoder_layer_forward(y, mem, p, cfg, self_mask, cross_mask, np.random.default_rng(9), True)
    dy, dmem, grads = decoder_layer_backward(R, run()[1], p, cfg)
    inputs, analytic = {"y": y, "memory": mem, **p}, {"y": dy, "memory": dmem, **grads}
    for k in ("self_attn.wk.bias", "cross_attn.wk.bias"):
        inputs.pop(k)
    gradcheck(lambda: _loss(run()[0], R), inputs, analytic, tol=TOL)


def test_attention_on_plain_2d_arrays_matches_the_formula():
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    from numpy_transformer import scaled_dot_product_attention
    out, w = scaled_dot_product_attention(q, k, v, causal_mask(5)[:3])
    s = q @ k.T / 2.0                          # sqrt(d_k) = 2
    s[np.triu(np.ones((3, 5), bool), 1)] = -np.inf
    ref_w = np.exp(s - s.max(1, keepdims=True))
    ref_w /= ref_w.sum(1, keepdims=True)
    np.testing.assert_allclose(w, ref_w, rtol=1e-14)
    np.testing.assert_allclose(out, ref_w @ v, rtol=1e-13)
